// The elementwise and index kernels (kernels/elementwise.cu, kernels/index.cu) run on the
// CPU under shim.h's emulation of CUDA and are compared with double-precision references of
// the CPU ops' closures (ops/unary.rs, ops/activation.rs, ops/elementwise.rs, ops/nograd.rs,
// ops/select.rs, ops/index.rs). Every kernel is launched the way cuda/*.rs launches it: the
// same argument values, `Strided` built as `Strided::broadcast` builds it, the grid of
// `launch_1d` (256 threads a block), plus grids smaller than n so that the grid-stride loops
// run more than once. The references of the `_grad` kernels are themselves checked against
// central differences of the forward references. Built and run by
// tests/cuda_kernels_emulated.rs; exits non-zero on any mismatch.
#include "shim.h"
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include "check.h"
#include "../../src/tensor/cuda/kernels/common.cuh"
#include "../../src/tensor/cuda/kernels/elementwise.cu"
#include "../../src/tensor/cuda/kernels/index.cu"

static std::mt19937 rng(7);

using Shape = std::vector<long long>;
static long long numel(const Shape& s) {
    long long n = 1;
    for (auto d : s) n *= d;
    return n;
}

// ---- The Rust side, mirrored ----------------------------------------------------------

// shape.rs `Layout`: element (i0, ..) at offset + sum(i_d * strides[d]).
struct Layout {
    Shape shape, strides;
    long long offset = 0;
};
static Shape contiguous_strides(const Shape& shape) {
    Shape s(shape.size());
    long long acc = 1;
    for (size_t d = shape.size(); d-- > 0;) { s[d] = acc; acc *= shape[d]; }
    return s;
}
static Layout contiguous(const Shape& shape, long long offset = 0) { return {shape, contiguous_strides(shape), offset}; }

// storage.rs `Strided::broadcast`, line for line.
static Strided strided_broadcast(const Layout& layout, const Shape& shape) {
    Strided s;
    s.rank = (int)shape.size();
    s.pad_ = 0;
    for (int d = 0; d < ARC_MAX_DIMS; ++d) { s.shape[d] = 1; s.strides[d] = 0; }
    s.offset = layout.offset;
    size_t lead = shape.size() - layout.shape.size();
    for (size_t d = 0; d < shape.size(); ++d) {
        s.shape[d] = shape[d];
        if (d >= lead && layout.shape[d - lead] != 1) s.strides[d] = layout.strides[d - lead];
    }
    return s;
}
static Strided strided_of(const Layout& l) { return strided_broadcast(l, l.shape); }

// The values the Rust unit test `broadcast_layouts_are_the_ones_the_emulated_harness_builds`
// (cuda/elementwise.rs) pins for Strided::broadcast.
static std::string show(const Strided& s) {
    std::string r = "rank " + std::to_string(s.rank) + " shape";
    for (auto v : s.shape) r += " " + std::to_string(v);
    r += " strides";
    for (auto v : s.strides) r += " " + std::to_string(v);
    return r + " offset " + std::to_string(s.offset);
}
static void test_strided_mirror();

// device.rs `launch_1d`: BLOCK = 256 threads, ceil(n / 256) blocks clamped to [1, 65535].
struct Cfg { unsigned grid, block; };
static Cfg launch_1d(long long n) {
    long long blocks = (n + 255) / 256;
    return {(unsigned)std::clamp(blocks, 1LL, 65535LL), 256u};
}
// The Rust launch, then grids too small for n (the grid-stride loops iterate).
static std::vector<Cfg> configs(long long n) { return {launch_1d(n), {1, 32}, {3, 64}}; }

static void test_strided_mirror() {
    const std::pair<Strided, const char*> cases[] = {
        {strided_broadcast(contiguous({4, 1, 5}), {4, 3, 5}), "rank 3 shape 4 3 5 1 1 1 1 1 strides 5 0 1 0 0 0 0 0 offset 0"},
        {strided_broadcast(contiguous({4}, 1), {3, 4}), "rank 2 shape 3 4 1 1 1 1 1 1 strides 0 1 0 0 0 0 0 0 offset 1"},
        {strided_broadcast({{}, {}, 3}, {2, 3}), "rank 2 shape 2 3 1 1 1 1 1 1 strides 0 0 0 0 0 0 0 0 offset 3"},
        {strided_of({{3, 4}, {1, 3}, 2}), "rank 2 shape 3 4 1 1 1 1 1 1 strides 1 3 0 0 0 0 0 0 offset 2"},
    };
    for (const auto& [s, want] : cases) CHECK(show(s) == want, "Strided mirror: want %s got %s", want, show(s).c_str());
}

// ---- References ---------------------------------------------------------------------

// The NumPy-broadcast read of `layout` at row-major element i of `shape`, from the
// multi-index (independent of `Strided` / `strided_offset`).
static long long ref_offset(const Layout& l, const Shape& shape, long long i) {
    Shape idx(shape.size());
    for (size_t d = shape.size(); d-- > 0;) { idx[d] = i % shape[d]; i /= shape[d]; }
    size_t lead = shape.size() - l.shape.size();
    long long off = l.offset;
    for (size_t d = 0; d < l.shape.size(); ++d) off += (l.shape[d] == 1 ? 0 : idx[d + lead]) * l.strides[d];
    return off;
}

static const float SPECIALS[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, -0.5f, 3.0f, -3.0f, 20.0f, -20.0f,
                                 88.0f, -88.0f, 1e-3f, -1e-3f, NAN, INFINITY, -INFINITY};
static std::vector<float> values(size_t n, float scale, bool specials) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& e : v) e = d(rng);
    if (specials)
        for (size_t i = 0; i < std::size(SPECIALS) && i < n; ++i) v[i * 7 % n] = SPECIALS[i];
    return v;
}

static const double SQRT_2_OVER_PI_D = 0.7978845608028654, GELU_COEF_D = 0.044715;
static double sigmoid_d(double x) { return 1.0 / (1.0 + std::exp(-x)); }
static double tie_share_d(double x, double y) { return x > y ? 1.0 : (x == y ? 0.5 : 0.0); }
// Rust's f32::clamp: NaN stays NaN.
static double clamp_d(double x, double lo, double hi) { return std::isnan(x) ? x : std::min(std::max(x, lo), hi); }
static double gelu_d(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
static double gelu_tanh_d(double x) { return 0.5 * x * (1.0 + std::tanh(SQRT_2_OVER_PI_D * (x + GELU_COEF_D * x * x * x))); }
static double gelu_grad_d(double x) {
    double pdf = std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI), cdf = 0.5 * (1.0 + std::erf(x / std::sqrt(2.0)));
    return cdf + x * pdf;
}
static double gelu_tanh_grad_d(double x) {
    double t = std::tanh(SQRT_2_OVER_PI_D * (x + GELU_COEF_D * x * x * x));
    double du = SQRT_2_OVER_PI_D * (1.0 + 3.0 * GELU_COEF_D * x * x);
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
}
static double silu_grad_d(double x) {
    double s = sigmoid_d(x);
    return s * (1.0 + x * (1.0 - s));
}

// ---- Unary kernels ------------------------------------------------------------------

using UnaryK = void (*)(const float*, float*, long long, float, float);
struct UnaryCase {
    const char* name;
    UnaryK k;
    float p0, p1;
    double (*ref)(double, double, double);
};
#define U(name, P0, P1, expr) \
    UnaryCase { #name, u_##name, P0, P1, [](double x, double p0, double p1) -> double { (void)p0; (void)p1; return (expr); } }
static const UnaryCase UNARIES[] = {
    U(neg, 0, 0, -x),
    U(powf, 1.5f, 0, std::pow(x, p0)),
    U(powf, 3.0f, 0, std::pow(x, p0)),
    U(powf, -2.0f, 0, std::pow(x, p0)),
    U(powf_grad, 1.5f, 0, p0 * std::pow(x, p0 - 1.0)),
    U(powf_grad, 3.0f, 0, p0 * std::pow(x, p0 - 1.0)),
    U(square, 0, 0, x * x),
    U(recip, 0, 0, 1.0 / x),
    U(sqrt, 0, 0, std::sqrt(x)),
    U(exp, 0, 0, std::exp(x)),
    U(log, 0, 0, std::log(x)),
    U(abs, 0, 0, std::fabs(x)),
    U(clamp, -0.5f, 0.5f, clamp_d(x, p0, p1)),
    U(clamp, 0.25f, 0.25f, clamp_d(x, p0, p1)),
    U(affine, -1.5f, 2.0f, x * p0 + p1),
    U(affine, 0.125f, 0.0f, x * p0 + p1),
    U(relu, 0, 0, x > 0.0 ? x : 0.0),
    U(sigmoid, 0, 0, sigmoid_d(x)),
    U(tanh, 0, 0, std::tanh(x)),
    U(gelu, 0, 0, gelu_d(x)),
    U(gelu_tanh, 0, 0, gelu_tanh_d(x)),
    U(silu, 0, 0, x * sigmoid_d(x)),
};

static void test_unary() {
    for (long long n : {1000LL, 5LL, 1LL}) {
        auto x = values(n, 2.0f, n > 20);
        for (const auto& u : UNARIES) {
            for (auto cfg : configs(n)) {
                std::vector<float> y(n, 12345.0f);
                launch_flat(cfg.grid, cfg.block, [&] { u.k(x.data(), y.data(), n, u.p0, u.p1); });
                for (long long i = 0; i < n; ++i) {
                    double want = u.ref((double)x[i], (double)u.p0, (double)u.p1);
                    CHECK(close(want, y[i], 1e-5), "u_%s(p0 %g, p1 %g) n %lld grid %u block %u x[%lld] = %.9g: want %.9g got %.9g",
                          u.name, u.p0, u.p1, n, cfg.grid, cfg.block, i, x[i], want, y[i]);
                }
            }
        }
    }
    // Hand-derived values.
    std::vector<float> x = {1.0f, 0.0f, -1.0f, 2.0f}, y(4);
    launch_flat(1, 256, [&] { u_gelu(x.data(), y.data(), 4, 0, 0); });
    CHECK(close(0.8413447460685429, y[0], 1e-6) && y[1] == 0.0f && close(-0.15865525393145707, y[2], 1e-6),
          "gelu(1, 0, -1) = %.9g %.9g %.9g", y[0], y[1], y[2]);
    launch_flat(1, 256, [&] { u_gelu_tanh(x.data(), y.data(), 4, 0, 0); });
    CHECK(close(0.8411919906082768, y[0], 1e-6) && y[1] == 0.0f, "gelu_tanh(1) = %.9g", y[0]);
    launch_flat(1, 256, [&] { u_silu(x.data(), y.data(), 4, 0, 0); });
    CHECK(close(0.7310585786300049, y[0], 1e-6) && close(1.7615941559557649, y[3], 1e-6), "silu(1), silu(2) = %.9g %.9g", y[0], y[3]);
}

// ---- Binary kernels -------------------------------------------------------------------

using BinK = void (*)(const float*, const float*, float*, long long, float, float);
using BBK = void (*)(const float*, Strided, const float*, Strided, float*, long long, float, float);
struct BinaryCase {
    const char* name;
    BinK b;
    BBK bb;
    float p0, p1;
    double (*ref)(double, double, double, double);
};
#define B(name, P0, P1, expr)                                                              \
    BinaryCase { #name, b_##name, bb_##name, P0, P1,                                       \
                 [](double a, double b, double p0, double p1) -> double { (void)p0; (void)p1; return (expr); } }
// a = the incoming gradient and b = the saved x or y for the `_grad` kernels, as in the
// CPU closures `|g, x|` / `|g, y|`.
static const BinaryCase BINARIES[] = {
    B(add, 0, 0, a + b),
    B(sub, 0, 0, a - b),
    B(mul, 0, 0, a * b),
    B(div, 0, 0, a / b),
    B(maximum, 0, 0, a >= b ? a : b),
    B(minimum, 0, 0, a <= b ? a : b),
    B(div_grad_rhs, 0, 0, -a / (b * b)),
    B(maximum_share, 0, 0, tie_share_d(a, b)),
    B(minimum_share, 0, 0, tie_share_d(b, a)),
    B(relu_grad, 0, 0, b > 0.0 ? a : 0.0),
    B(sigmoid_grad, 0, 0, a * b * (1.0 - b)),
    B(tanh_grad, 0, 0, a * (1.0 - b * b)),
    B(gelu_grad, 0, 0, a * gelu_grad_d(b)),
    B(gelu_tanh_grad, 0, 0, a * gelu_tanh_grad_d(b)),
    B(silu_grad, 0, 0, a * silu_grad_d(b)),
    B(square_grad, 0, 0, 2.0 * a * b),
    B(recip_grad, 0, 0, -a * b * b),
    B(sqrt_grad, 0, 0, 0.5 * a / b),
    B(abs_grad, 0, 0, b > 0.0 ? a : (b < 0.0 ? -a : 0.0)),
    B(clamp_grad, -0.5f, 0.5f, (b >= p0 && b <= p1) ? a : 0.0),
    B(clamp_grad, 0.25f, 0.25f, (b >= p0 && b <= p1) ? a : 0.0),
    B(eq, 0, 0, a == b ? 1.0 : 0.0),
    B(ne, 0, 0, a != b ? 1.0 : 0.0),
    B(lt, 0, 0, a < b ? 1.0 : 0.0),
    B(le, 0, 0, a <= b ? 1.0 : 0.0),
    B(gt, 0, 0, a > b ? 1.0 : 0.0),
    B(ge, 0, 0, a >= b ? 1.0 : 0.0),
};

// Two inputs with ties (every 5th element), the clamp bounds, and the specials.
static void binary_inputs(size_t n, std::vector<float>& a, std::vector<float>& b) {
    a = values(n, 2.0f, true);
    b = values(n, 1.0f, true);
    for (size_t i = 0; i < n; i += 5) b[i] = a[(i + 3) % n];
    for (size_t i = 0; i + 3 < n; i += 11) { b[i + 1] = -0.5f; b[i + 2] = 0.5f; b[i + 3] = 0.25f; }
    // Ties between the same positions (a[i] == b[i]), NaN included.
    for (size_t i = 4; i < n; i += 9) b[i] = a[i];
}

static void test_binary_same_shape() {
    for (long long n : {1000LL, 7LL}) {
        std::vector<float> a, b;
        binary_inputs(n, a, b);
        for (const auto& c : BINARIES) {
            for (auto cfg : configs(n)) {
                std::vector<float> y(n, 12345.0f);
                launch_flat(cfg.grid, cfg.block, [&] { c.b(a.data(), b.data(), y.data(), n, c.p0, c.p1); });
                for (long long i = 0; i < n; ++i) {
                    double want = c.ref(a[i], b[i], c.p0, c.p1);
                    CHECK(close(want, y[i], 1e-5), "b_%s(p0 %g) n %lld grid %u block %u i %lld (a %.9g, b %.9g): want %.9g got %.9g",
                          c.name, c.p0, n, cfg.grid, cfg.block, i, a[i], b[i], want, y[i]);
                }
            }
        }
    }
}

// The broadcast of two shapes (NumPy rules; valid pairs only).
static Shape broadcast_shapes(const Shape& x, const Shape& y) {
    size_t r = std::max(x.size(), y.size());
    Shape s(r);
    for (size_t d = 0; d < r; ++d) {
        long long a = d + x.size() >= r ? x[d + x.size() - r] : 1, b = d + y.size() >= r ? y[d + y.size() - r] : 1;
        s[d] = a == 1 ? b : a;
    }
    return s;
}
// The largest offset a layout reaches, +1: the size of a buffer that holds it.
static long long extent(const Layout& l) {
    long long e = l.offset;
    for (size_t d = 0; d < l.shape.size(); ++d) e += (l.shape[d] - 1) * l.strides[d];
    return e + 1;
}

struct LayoutPair { Layout a, b; };
static std::vector<LayoutPair> broadcast_pairs() {
    return {
        // [4,1,5] with [3,1] -> [4,3,5]: both sides broadcast.
        {contiguous({4, 1, 5}), contiguous({3, 1})},
        // A transposed view at offset 2 with a row at offset 1 -> [3,4].
        {{{3, 4}, {1, 3}, 2}, contiguous({4}, 1)},
        // A rank-0 tensor (at offset 3 of its buffer) with [2,3].
        {{{}, {}, 3}, contiguous({2, 3})},
        // [1] with a non-contiguous [2,3] (every other column of a [2,6]).
        {contiguous({1}), {{2, 3}, {6, 2}, 1}},
        // Same shape, neither contiguous: the `bb_` path without broadcasting.
        {{{5, 6}, {1, 5}, 0}, {{5, 6}, {12, 2}, 1}},
        // An expanded layout (stride 0 in the layout itself) with [2,1,4] -> [2,3,4].
        {{{3, 4}, {0, 1}, 0}, contiguous({2, 1, 4})},
        // A permuted rank-3 view with a column: [7,3,2] (strides of a [2,7,3]) and [3,1].
        {{{7, 3, 2}, {3, 1, 21}, 0}, contiguous({3, 1})},
        // Large enough for several 256-thread blocks: [300,1] with [1,7].
        {contiguous({300, 1}), contiguous({1, 7})},
    };
}

static void test_binary_broadcast() {
    for (const auto& [la, lb] : broadcast_pairs()) {
        Shape shape = broadcast_shapes(la.shape, lb.shape);
        long long n = numel(shape);
        std::vector<float> a, b;
        binary_inputs(std::max(extent(la), extent(lb)) + 1, a, b);
        Strided sa = strided_broadcast(la, shape), sb = strided_broadcast(lb, shape);
        for (const auto& c : BINARIES) {
            for (auto cfg : configs(n)) {
                std::vector<float> y(n, 12345.0f);
                launch_flat(cfg.grid, cfg.block, [&] { c.bb(a.data(), sa, b.data(), sb, y.data(), n, c.p0, c.p1); });
                for (long long i = 0; i < n; ++i) {
                    float av = a[ref_offset(la, shape, i)], bv = b[ref_offset(lb, shape, i)];
                    double want = c.ref(av, bv, c.p0, c.p1);
                    CHECK(close(want, y[i], 1e-5), "bb_%s(p0 %g) shape rank %zu n %lld grid %u i %lld (a %.9g, b %.9g): want %.9g got %.9g",
                          c.name, c.p0, shape.size(), n, cfg.grid, i, av, bv, want, y[i]);
                }
            }
        }
    }
}

// The `_grad` references are the derivatives of the forward references (central
// differences in double, away from kinks and ties): a wrong formula in both the kernel and
// its reference would otherwise pass.
static void test_grad_formulas() {
    auto fd = [](auto f, double x) { double h = 1e-6 * std::max(1.0, std::fabs(x)); return (f(x + h) - f(x - h)) / (2 * h); };
    auto bref = [](const char* name, double a, double b, double p0 = 0, double p1 = 0) {
        for (const auto& c : BINARIES)
            if (std::string(c.name) == name && c.p0 == (float)p0) return c.ref(a, b, p0, p1);
        std::printf("no binary %s\n", name);
        std::abort();
    };
    auto uref = [](const char* name, double x, double p0 = 0, double p1 = 0) {
        for (const auto& u : UNARIES)
            if (std::string(u.name) == name && u.p0 == (float)p0) return u.ref(x, p0, p1);
        std::printf("no unary %s\n", name);
        std::abort();
    };
    const double g = 0.75;  // the incoming gradient
    for (double x : {-2.7, -1.3, -0.6, -0.2, 0.15, 0.4, 0.9, 1.7, 3.1}) {
        auto chk = [&](const char* what, double want, double got) {
            CHECK(close(want, got, 1e-6), "d/dx %s at %g: central difference %.12g, grad formula %.12g", what, x, want, got);
        };
        chk("relu", g * fd([&](double t) { return uref("relu", t); }, x), bref("relu_grad", g, x));
        chk("square", g * fd([&](double t) { return uref("square", t); }, x), bref("square_grad", g, x));
        chk("abs", g * fd([&](double t) { return uref("abs", t); }, x), bref("abs_grad", g, x));
        if (std::fabs(std::fabs(x) - 0.5) > 0.01)
            chk("clamp", g * fd([&](double t) { return uref("clamp", t, -0.5, 0.5); }, x), bref("clamp_grad", g, x, -0.5, 0.5));
        chk("gelu", g * fd(gelu_d, x), bref("gelu_grad", g, x));
        chk("gelu_tanh", g * fd(gelu_tanh_d, x), bref("gelu_tanh_grad", g, x));
        chk("silu", g * fd([&](double t) { return uref("silu", t); }, x), bref("silu_grad", g, x));
        // The saved-output forms take y = f(x).
        chk("sigmoid", g * fd(sigmoid_d, x), bref("sigmoid_grad", g, sigmoid_d(x)));
        chk("tanh", g * fd([](double t) { return std::tanh(t); }, x), bref("tanh_grad", g, std::tanh(x)));
        chk("recip", g * fd([](double t) { return 1.0 / t; }, x), bref("recip_grad", g, 1.0 / x));
        if (x > 0) {
            chk("sqrt", g * fd([](double t) { return std::sqrt(t); }, x), bref("sqrt_grad", g, std::sqrt(x)));
            chk("powf 1.5", fd([&](double t) { return uref("powf", t, 1.5); }, x), uref("powf_grad", x, 1.5));
        }
        chk("powf 3", fd([&](double t) { return uref("powf", t, 3.0); }, x), uref("powf_grad", x, 3.0));
        // div: d(a/b)/db = -a/b^2 (a = 1.3); maximum / minimum: the share is d/da.
        chk("div rhs", fd([](double t) { return 1.3 / t; }, x), bref("div_grad_rhs", 1.3, x));
        chk("maximum", fd([&](double t) { return bref("maximum", t, 0.3); }, x), bref("maximum_share", x, 0.3));
        chk("minimum", fd([&](double t) { return bref("minimum", t, 0.3); }, x), bref("minimum_share", x, 0.3));
    }
    // Ties split the gradient (PyTorch): both shares 1/2, so a and b each get g / 2.
    CHECK(bref("maximum_share", 1.0, 1.0) == 0.5 && bref("minimum_share", 1.0, 1.0) == 0.5, "tie share");
    // clamp passes the gradient at both bounds (inclusive), abs gives 0 at 0.
    CHECK(bref("clamp_grad", 2.0, -0.5, -0.5, 0.5) == 2.0 && bref("clamp_grad", 2.0, 0.5, -0.5, 0.5) == 2.0, "clamp bounds");
    CHECK(bref("abs_grad", 2.0, 0.0) == 0.0 && bref("relu_grad", 2.0, 0.0) == 0.0, "abs / relu at 0");
    // gelu'(0) = 1/2, gelu'(1) = Phi(1) + phi(1) = 0.8413447460685429 + 0.24197072451914337.
    CHECK(close(0.5, gelu_grad_d(0.0), 1e-15) && close(1.0833154705876864, gelu_grad_d(1.0), 1e-12), "gelu' values");
}

// ---- i64 comparisons --------------------------------------------------------------------

using CmpK = void (*)(const long long*, Strided, const long long*, Strided, float*, long long);
static void test_i64_compare() {
    struct C { const char* name; CmpK k; bool (*f)(long long, long long); };
    const C cases[] = {
        {"eq", bbi_eq, [](long long a, long long b) { return a == b; }},
        {"ne", bbi_ne, [](long long a, long long b) { return a != b; }},
        {"lt", bbi_lt, [](long long a, long long b) { return a < b; }},
        {"le", bbi_le, [](long long a, long long b) { return a <= b; }},
        {"gt", bbi_gt, [](long long a, long long b) { return a > b; }},
        {"ge", bbi_ge, [](long long a, long long b) { return a >= b; }},
    };
    // Values that differ only beyond f32's 24-bit mantissa must still compare as integers.
    const long long big = 1LL << 40;
    std::vector<long long> a = {-3, 0, 2, big, big + 1, -big, 7, 7, 9, 1, 2, 3};
    std::vector<long long> b = {2, big + 1, big, -3, 0, 7, 5};
    std::vector<LayoutPair> pairs = {
        {contiguous({6, 1}), contiguous({4})},                   // [6,1] vs [4] -> [6,4]
        {{{2, 3}, {1, 2}, 6}, contiguous({2, 3}, 1)},            // a transposed view at an offset
        {{{}, {}, 4}, contiguous({7})},                          // rank 0 vs [7]
        {contiguous({12}), {{12}, {0}, 3}},                      // an expanded (stride 0) b
    };
    for (const auto& [la, lb] : pairs) {
        Shape shape = broadcast_shapes(la.shape, lb.shape);
        long long n = numel(shape);
        Strided sa = strided_broadcast(la, shape), sb = strided_broadcast(lb, shape);
        for (const auto& c : cases)
            for (auto cfg : configs(n)) {
                std::vector<float> y(n, 12345.0f);
                launch_flat(cfg.grid, cfg.block, [&] { c.k(a.data(), sa, b.data(), sb, y.data(), n); });
                for (long long i = 0; i < n; ++i) {
                    long long av = a[ref_offset(la, shape, i)], bv = b[ref_offset(lb, shape, i)];
                    float want = c.f(av, bv) ? 1.0f : 0.0f;
                    CHECK(want == y[i], "bbi_%s n %lld grid %u i %lld (%lld vs %lld): want %g got %g", c.name, n, cfg.grid, i, av, bv, want, y[i]);
                }
            }
    }
}

// ---- Copies, fills, casts -------------------------------------------------------------

template <class T>
static std::vector<T> iota_buf(long long n) {
    std::vector<T> v(n);
    for (long long i = 0; i < n; ++i) v[i] = (T)(i * 3 - 17);
    return v;
}

// `contiguous` (copy_strided over `Strided::of`), `expand` and matmul's bias broadcast
// (copy_strided over `Strided::broadcast`).
static void test_copy_strided() {
    struct Case { Layout l; Shape target; };
    const Case cases[] = {
        {{{4, 3}, {1, 4}, 0}, {4, 3}},                 // a transpose
        {{{3, 5}, {7, 1}, 9}, {3, 5}},                 // a narrowed window at an offset
        {{{2, 3, 4}, {1, 8, 2}, 1}, {2, 3, 4}},        // a permutation of a strided buffer
        {{{3, 1}, {1, 1}, 2}, {2, 3, 4}},              // expand [3,1] -> [2,3,4]
        {contiguous({7}, 5), {300, 7}},                // the bias row broadcast to [rows, cols]
        {{{}, {}, 6}, {5, 2}},                         // a scalar expanded
        {{{3, 4}, {0, 1}, 0}, {3, 4}},                 // an expanded view made contiguous
        {{{600}, {2}, 1}, {600}},                      // every other element (several blocks)
    };
    for (const auto& c : cases) {
        long long n = numel(c.target);
        Strided s = strided_broadcast(c.l, c.target);
        auto src_f = iota_buf<float>(extent(c.l) + 3);
        auto src_i = iota_buf<long long>(extent(c.l) + 3);
        for (auto& v : src_i) v = v * 1000003 + (1LL << 41);  // beyond f32's range of exact ints
        for (auto cfg : configs(n)) {
            std::vector<float> yf(n, 12345.0f);
            std::vector<long long> yi(n, 424242);
            launch_flat(cfg.grid, cfg.block, [&] { copy_strided_f32(src_f.data(), s, yf.data(), n); });
            launch_flat(cfg.grid, cfg.block, [&] { copy_strided_i64(src_i.data(), s, yi.data(), n); });
            for (long long i = 0; i < n; ++i) {
                long long o = ref_offset(c.l, c.target, i);
                CHECK(yf[i] == src_f[o] && yi[i] == src_i[o], "copy_strided rank %zu n %lld grid %u i %lld: want %g/%lld got %g/%lld",
                      c.target.size(), n, cfg.grid, i, src_f[o], src_i[o], yf[i], yi[i]);
            }
        }
    }
}

// index.rs `window`: the part of a contiguous `shape` starting at `start` along `dim`.
static Layout window(const Shape& shape, const Shape& part, size_t dim, long long start) {
    Shape strides = contiguous_strides(shape);
    bool empty = std::find(part.begin(), part.end(), 0) != part.end();
    return {part, strides, empty ? 0 : start * strides[dim]};
}

// concat and narrow's backward (copy_into = copy_s2s with both layouts), f32 and i64,
// inputs that are themselves strided views at offsets.
static void test_copy_s2s() {
    for (size_t dim = 0; dim < 3; ++dim) {
        Shape out_shape = {3, 4, 5};
        out_shape[dim] = 1 + 2 + 3;
        long long total = numel(out_shape);
        // Part p is a [.., p + 1, ..] tensor stored transposed (dims 0 and 2 swapped) at offset p + 1.
        std::vector<Layout> parts;
        std::vector<std::vector<float>> bufs_f;
        std::vector<std::vector<long long>> bufs_i;
        for (int p = 0; p < 3; ++p) {
            Shape s = {3, 4, 5};
            s[dim] = p + 1;
            Shape st = {s[2], s[1], s[0]};
            Shape cs = contiguous_strides(st);
            parts.push_back({s, {cs[2], cs[1], cs[0]}, p + 1});
            auto f = values(extent(parts.back()), 1.0f, false);
            bufs_f.push_back(f);
            std::vector<long long> iv(f.size());
            for (size_t k = 0; k < f.size(); ++k) iv[k] = (long long)(f[k] * 1e6) * 1000 + (long long)k;
            bufs_i.push_back(iv);
        }
        for (auto cfgsel : {0, 1}) {
            std::vector<float> yf(total, 12345.0f);
            std::vector<long long> yi(total, 424242);
            long long start = 0;
            for (int p = 0; p < 3; ++p) {
                Layout w = window(out_shape, parts[p].shape, dim, start);
                Strided ss = strided_of(parts[p]), ds = strided_of(w);
                long long n = numel(parts[p].shape);
                Cfg cfg = cfgsel == 0 ? launch_1d(n) : Cfg{1, 32};
                launch_flat(cfg.grid, cfg.block, [&] { copy_s2s_f32(bufs_f[p].data(), ss, yf.data(), ds, n); });
                launch_flat(cfg.grid, cfg.block, [&] { copy_s2s_i64(bufs_i[p].data(), ss, yi.data(), ds, n); });
                start += parts[p].shape[dim];
            }
            // The reference: out[i0, i1, i2] from the part whose range along dim holds it.
            for (long long i = 0; i < total; ++i) {
                long long idx[3] = {i / (out_shape[1] * out_shape[2]), (i / out_shape[2]) % out_shape[1], i % out_shape[2]};
                int p = idx[dim] < 1 ? 0 : (idx[dim] < 3 ? 1 : 2);
                long long local[3] = {idx[0], idx[1], idx[2]};
                local[dim] -= p == 0 ? 0 : (p == 1 ? 1 : 3);
                const Layout& l = parts[p];
                long long o = l.offset + local[0] * l.strides[0] + local[1] * l.strides[1] + local[2] * l.strides[2];
                CHECK(yf[i] == bufs_f[p][o] && yi[i] == bufs_i[p][o], "concat dim %zu cfg %d i %lld: want %g/%lld got %g/%lld", dim, cfgsel, i,
                      bufs_f[p][o], bufs_i[p][o], yf[i], yi[i]);
            }
        }
    }
    // narrow's backward: g [3,2,5] into the window starting at 3 along dim 1 of zeros [3,6,5].
    Shape shape = {3, 6, 5}, gs = {3, 2, 5};
    auto g = values(numel(gs), 1.0f, false);
    std::vector<float> full(numel(shape), 0.0f);
    Layout w = window(shape, gs, 1, 3);
    launch_flat(launch_1d(30).grid, 256, [&] { copy_s2s_f32(g.data(), strided_of(contiguous(gs)), full.data(), strided_of(w), 30); });
    for (long long i = 0; i < numel(shape); ++i) {
        long long a = i / 30, j = (i / 5) % 6, k = i % 5;
        float want = (j >= 3 && j < 5) ? g[(a * 2 + (j - 3)) * 5 + k] : 0.0f;
        CHECK(want == full[i], "narrow backward i %lld: want %g got %g", i, want, full[i]);
    }
}

static void test_fill_cast() {
    // fill (elementwise.rs `fill` and index.rs `full_on`: the f64 value cast with `as`), up
    // to a launch whose grid `launch_1d` clamps to 65535 blocks.
    for (long long n : {1LL, 1000LL, 65535LL * 256 + 777}) {
        for (double value : {-2.75, 3.0}) {
            float vf = (float)value;
            long long vi = (long long)value;  // Rust `value as i64` (finite values)
            std::vector<float> yf(n, 12345.0f);
            Cfg cfg = launch_1d(n);
            launch_flat(cfg.grid, cfg.block, [&] { fill_f32(yf.data(), n, vf); });
            long long bad = std::count_if(yf.begin(), yf.end(), [&](float v) { return v != vf; });
            CHECK(bad == 0, "fill_f32 n %lld grid %u: %lld elements not %g", n, cfg.grid, bad, vf);
            if (n < 100000) {
                std::vector<long long> yi(n, 424242);
                for (auto c : configs(n)) {
                    launch_flat(c.grid, c.block, [&] { fill_i64(yi.data(), n, vi); });
                    bad = std::count_if(yi.begin(), yi.end(), [&](long long v) { return v != vi; });
                    CHECK(bad == 0 && vi == (value < 0 ? -2 : 3), "fill_i64 n %lld grid %u: %lld elements not %lld", n, c.grid, bad, vi);
                }
            }
        }
    }
    // f32 -> i64 truncates toward zero (Rust `as i64`, PyTorch `.long()`).
    std::vector<float> xf = {-2.7f, -0.5f, -0.0f, 0.0f, 0.99f, 2.9f, -3.0f, 1e10f, -1e12f, 16777217.0f, -7.999f, 123456.5f};
    std::vector<long long> want_i = {-2, 0, 0, 0, 0, 2, -3, 10000000000LL, -999999995904LL, 16777216, -7, 123456};
    // i64 -> f32 rounds to nearest (Rust `as f32`): 2^24 + 1 -> 2^24, 2^53 + 1 -> 2^53.
    std::vector<long long> xi = {-5, 0, 7, (1LL << 24) + 1, (1LL << 53) + 1, -(1LL << 40) - 3, 9007199254740993LL, -1};
    std::vector<float> want_f = {-5.0f, 0.0f, 7.0f, 16777216.0f, 9007199254740992.0f, -1099511627776.0f, 9007199254740992.0f, -1.0f};
    for (auto c : configs(xf.size())) {
        std::vector<long long> yi(xf.size(), 424242);
        launch_flat(c.grid, c.block, [&] { cast_f32_i64(xf.data(), yi.data(), (long long)xf.size()); });
        for (size_t i = 0; i < xf.size(); ++i)
            CHECK(yi[i] == want_i[i], "cast_f32_i64 grid %u (%.9g): want %lld got %lld", c.grid, xf[i], want_i[i], yi[i]);
        std::vector<float> yf(xi.size(), 12345.0f);
        launch_flat(c.grid, c.block, [&] { cast_i64_f32(xi.data(), yf.data(), (long long)xi.size()); });
        for (size_t i = 0; i < xi.size(); ++i)
            CHECK(yf[i] == want_f[i], "cast_i64_f32 grid %u (%lld): want %.9g got %.9g", c.grid, xi[i], want_f[i], yf[i]);
    }
}

// ---- Index kernels ----------------------------------------------------------------------

// How a scatter-add kernel is run: one thread after another, with every thread reading the
// output as it was at launch (shim.h `launch_racy`: a missing atomic loses updates), or as
// std::threads (the atomics' mutex under real concurrency).
static const char* LAUNCH_MODES[] = {"flat", "racy", "threaded"};

// index.rs `index_select` / `index_select_backward` on x [outer, size, inner] along dim 1.
static void test_index_select(long long outer, long long size, long long inner, std::vector<long long> idx, bool threaded) {
    long long nidx = idx.size(), n = outer * nidx * inner;
    auto x = values(outer * size * inner, 1.0f, false);
    std::vector<long long> xi(x.size());
    for (size_t k = 0; k < x.size(); ++k) xi[k] = (1LL << 45) + (long long)k * 7;
    bool any_bad = std::any_of(idx.begin(), idx.end(), [&](long long s) { return s < 0 || s >= size; });
    for (auto cfg : configs(n)) {
        std::vector<float> out(n, 12345.0f);
        std::vector<long long> outi(n, 424242);
        int bad = 0, badi = 0;
        launch_flat(cfg.grid, cfg.block, [&] { index_select_f32(x.data(), idx.data(), out.data(), size, inner, nidx, n, &bad); });
        launch_flat(cfg.grid, cfg.block, [&] { index_select_i64(xi.data(), idx.data(), outi.data(), size, inner, nidx, n, &badi); });
        CHECK(bad == (int)any_bad && badi == (int)any_bad, "index_select [%lld,%lld,%lld] bad flag %d/%d, want %d", outer, size, inner, bad, badi, (int)any_bad);
        for (long long o = 0; o < outer; ++o)
            for (long long j = 0; j < nidx; ++j)
                for (long long r = 0; r < inner; ++r) {
                    long long i = (o * nidx + j) * inner + r, s = idx[j];
                    bool ok = s >= 0 && s < size;
                    float wf = ok ? x[(o * size + s) * inner + r] : 0.0f;
                    long long wi = ok ? xi[(o * size + s) * inner + r] : 0;
                    CHECK(out[i] == wf && outi[i] == wi, "index_select [%lld,%lld,%lld] grid %u (%lld,%lld,%lld) idx %lld: want %g/%lld got %g/%lld",
                          outer, size, inner, cfg.grid, o, j, r, s, wf, wi, out[i], outi[i]);
                }
    }
    if (any_bad) return;  // the backward runs only after a successful forward
    // Backward: repeated indices accumulate (atomicAdd, from concurrently running threads
    // when `threaded`).
    auto g = values(n, 1.0f, false);
    std::vector<double> want(outer * size * inner, 0.0);
    for (long long o = 0; o < outer; ++o)
        for (long long j = 0; j < nidx; ++j)
            for (long long r = 0; r < inner; ++r) want[(o * size + idx[j]) * inner + r] += g[(o * nidx + j) * inner + r];
    for (auto cfg : configs(n)) {
        for (int mode = 0; mode < 3; ++mode) {
            if (mode == 2 && !threaded) continue;
            std::vector<float> full(want.size(), 0.0f);
            auto k = [&](float* f) { index_add_f32(g.data(), idx.data(), f, size, inner, nidx, n); };
            if (mode == 0) launch_flat(cfg.grid, cfg.block, [&] { k(full.data()); });
            if (mode == 1) launch_racy(cfg.grid, cfg.block, full.data(), full.size(), k);
            if (mode == 2) launch(std::min(cfg.grid, 2u), cfg.block, [&] { k(full.data()); });
            for (size_t i = 0; i < want.size(); ++i)
                CHECK(close(want[i], full[i], 1e-5), "index_add [%lld,%lld,%lld] grid %u launch %s i %zu: want %.9g got %.9g", outer, size, inner,
                      cfg.grid, LAUNCH_MODES[mode], i, want[i], full[i]);
        }
    }
}

// index.rs `gather_layout`: walk index_shape with x's contiguous strides, 0 along dim.
static std::pair<Layout, long long> gather_layout(const Shape& shape, const Shape& index_shape, size_t dim, long long offset) {
    Shape strides = contiguous_strides(shape);
    long long dstride = strides[dim];
    strides[dim] = 0;
    return {{index_shape, strides, offset}, dstride};
}

static void test_gather(Shape xshape, Shape ishape, size_t dim, long long x_offset, bool with_bad, bool threaded) {
    long long size = xshape[dim], n = numel(ishape);
    auto xbuf = values(x_offset + numel(xshape), 1.0f, false);
    std::vector<long long> idx(n);
    std::uniform_int_distribution<long long> d(0, size - 1);
    for (auto& v : idx) v = d(rng);
    if (n > 3) { idx[1] = idx[0]; idx[2] = idx[0]; }  // repeats: the backward accumulates
    if (with_bad) { idx[n / 2] = size; idx[n - 1] = -1; }
    auto [layout, dstride] = gather_layout(xshape, ishape, dim, x_offset);
    Strided sx = strided_of(layout);
    // The reference gather through multi-indices.
    auto x_at = [&](long long p, long long s, long long off) {
        long long rem = p, o = off;
        Shape xs = contiguous_strides(xshape);
        for (size_t k = ishape.size(); k-- > 0;) {
            long long ik = rem % ishape[k];
            rem /= ishape[k];
            o += (k == dim ? s : ik) * xs[k];
        }
        return o;
    };
    for (auto cfg : configs(n)) {
        std::vector<float> out(n, 12345.0f);
        int bad = 0;
        launch_flat(cfg.grid, cfg.block, [&] { gather_f32(xbuf.data(), sx, idx.data(), out.data(), size, dstride, n, &bad); });
        CHECK(bad == (int)with_bad, "gather dim %zu bad flag %d", dim, bad);
        for (long long p = 0; p < n; ++p) {
            bool ok = idx[p] >= 0 && idx[p] < size;
            float want = ok ? xbuf[x_at(p, idx[p], x_offset)] : 0.0f;
            CHECK(want == out[p], "gather dim %zu grid %u p %lld idx %lld: want %g got %g", dim, cfg.grid, p, idx[p], want, out[p]);
        }
    }
    if (with_bad) return;
    // Backward: into zeros of x's shape, `sx` at offset 0.
    auto [gl, gdstride] = gather_layout(xshape, ishape, dim, 0);
    Strided sg = strided_of(gl);
    auto g = values(n, 1.0f, false);
    std::vector<double> want(numel(xshape), 0.0);
    for (long long p = 0; p < n; ++p) want[x_at(p, idx[p], 0)] += g[p];
    for (auto cfg : configs(n)) {
        for (int mode = 0; mode < 3; ++mode) {
            if (mode == 2 && !threaded) continue;
            std::vector<float> full(want.size(), 0.0f);
            auto k = [&](float* f) { gather_add_f32(g.data(), sg, idx.data(), f, size, gdstride, n); };
            if (mode == 0) launch_flat(cfg.grid, cfg.block, [&] { k(full.data()); });
            if (mode == 1) launch_racy(cfg.grid, cfg.block, full.data(), full.size(), k);
            if (mode == 2) launch(std::min(cfg.grid, 2u), cfg.block, [&] { k(full.data()); });
            for (size_t i = 0; i < want.size(); ++i)
                CHECK(close(want[i], full[i], 1e-5), "gather_add dim %zu grid %u launch %s i %zu: want %.9g got %.9g", dim, cfg.grid,
                      LAUNCH_MODES[mode], i, want[i], full[i]);
        }
    }
}

static void test_where() {
    struct Case { Layout c, a, b; };
    const Case cases[] = {
        // cond [4,1] (0, -0.0, NaN, 2.5), a [3] at offset 1, b a transposed [4,3] view.
        {contiguous({4, 1}), contiguous({3}, 1), {{4, 3}, {1, 4}, 0}},
        // A rank-0 cond, a [2,2], b [2,1].
        {{{}, {}, 2}, contiguous({2, 2}), contiguous({2, 1})},
        // Rank 3 with stride-0 layouts: cond [5,1,1] expanded, a [1,3,1], b [7] -> [5,3,7].
        {{{5, 1, 1}, {1, 1, 1}, 0}, contiguous({1, 3, 1}), {{7}, {0}, 2}},
        // Several blocks: cond [300,1], a [1,5], b [300,5] with a gap between rows.
        {contiguous({300, 1}), contiguous({1, 5}), {{300, 5}, {6, 1}, 0}},
    };
    for (const auto& [lc, la, lb] : cases) {
        Shape shape = broadcast_shapes(broadcast_shapes(lc.shape, la.shape), lb.shape);
        long long n = numel(shape);
        auto c = values(extent(lc) + 1, 1.0f, false);
        for (size_t i = 0; i < c.size(); ++i) c[i] = i % 4 == 0 ? 0.0f : (i % 4 == 1 ? -0.0f : (i % 4 == 2 ? NAN : 2.5f));
        auto a = values(extent(la) + 1, 1.0f, false), b = values(extent(lb) + 1, 1.0f, false);
        Strided sc = strided_broadcast(lc, shape), sa = strided_broadcast(la, shape), sb = strided_broadcast(lb, shape);
        for (auto cfg : configs(n)) {
            std::vector<float> y(n, 12345.0f);
            launch_flat(cfg.grid, cfg.block, [&] { where_f32(c.data(), sc, a.data(), sa, b.data(), sb, y.data(), n); });
            for (long long i = 0; i < n; ++i) {
                float cv = c[ref_offset(lc, shape, i)];
                float want = cv != 0.0f ? a[ref_offset(la, shape, i)] : b[ref_offset(lb, shape, i)];  // select.rs
                CHECK(want == y[i], "where rank %zu grid %u i %lld (cond %g): want %g got %g", shape.size(), cfg.grid, i, cv, want, y[i]);
            }
        }
    }
}

int main() {
    test_strided_mirror();
    test_unary();
    test_binary_same_shape();
    test_binary_broadcast();
    test_grad_formulas();
    test_i64_compare();
    test_copy_strided();
    test_copy_s2s();
    test_fill_cast();
    // Repeated indices, out-of-range indices (the `bad` flag), dim 0 / middle / last.
    test_index_select(3, 5, 4, {2, 0, 4, 4, 1, 2}, false);
    test_index_select(1, 7, 3, {6, 6, 6, 0}, true);
    test_index_select(4, 9, 1, {8, 3, 3}, false);
    test_index_select(2, 300, 3, std::vector<long long>(200, 17), true);
    test_index_select(3, 5, 4, {2, -1, 4, 5, 1}, false);
    test_index_select(2, 3, 1, {3}, false);
    test_gather({5, 7, 3}, {4, 7, 3}, 0, 0, false, false);
    test_gather({5, 7, 3}, {5, 9, 2}, 1, 11, false, true);
    test_gather({5, 7, 3}, {1, 6, 5}, 2, 3, false, false);
    test_gather({40, 30}, {40, 30}, 1, 0, false, true);
    test_gather({5, 7, 3}, {5, 4, 3}, 1, 2, true, false);
    test_gather({6}, {9}, 0, 1, true, false);
    test_where();
    std::printf("%s (%d failures in %lld checks)\n", failures ? "FAILED" : "all passed", failures, checks);
    return failures != 0;
}
