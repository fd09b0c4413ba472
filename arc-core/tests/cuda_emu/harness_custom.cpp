// The CUDA sources that custom ops ship run on the CPU under shim.h's emulation of CUDA:
// the built-in BCELoss kernel (arc-builtins/src/losses/binary_cross_entropy.cu) and the
// example plugin's SwiGLU (examples/custom-plugin/src/swiglu.cu), the same files the Rust
// code `include_str!`s, each after common.cuh as cuda/custom.rs prepends it. They are
// launched as `custom_forward` launches a custom op: every input a contiguous row-major f32
// buffer, then the output of `cuda_output_shape` with its element count `n`, then the op's
// `cuda_scalar_args` as long long; the grid of `launch_1d(n)` (256 threads a block), plus
// grids smaller than n so that the grid-stride loops run more than once. Each is compared
// with a double-precision reference of the op's `forward_cpu`, edge values included (BCE at
// p = 0 and 1, where the logs clamp to -100, and subnormal p; SwiGLU at large |a|, where
// exp overflows, and at infinities).
// Built and run by tests/cuda_kernels_emulated.rs; exits non-zero on any mismatch.
#include "shim.h"
#include <algorithm>
#include <cstdio>
#include <limits>
#include <random>
#include "check.h"
#include "../../src/tensor/cuda/kernels/common.cuh"
#include "../../../arc-builtins/src/losses/binary_cross_entropy.cu"
#include "../../../examples/custom-plugin/src/swiglu.cu"

static std::mt19937 rng(23);

// device.rs `launch_1d`: 256 threads a block, ceil(n / 256) blocks clamped to [1, 65535].
struct Cfg {
    unsigned grid, block;
};
static Cfg launch_1d(long long n) {
    return {(unsigned)std::clamp<long long>((n + 255) / 256, 1, 65535), 256};
}
static std::vector<Cfg> configs(long long n) { return {launch_1d(n), {1, 32}, {3, 64}}; }

// ---- BCELoss's `BinaryCrossEntropy` ----------------------------------------------------

// `forward_cpu`: -(y max(ln x, -100) + (1 - y) max(ln(1 - x), -100)), with Rust's `f32::max`
// (which ignores a NaN operand, like fmaxf).
static double bce_ref(float x, float y) {
    auto clamp_log = [](double v) {
        double l = std::log(v);
        return std::isnan(l) ? -100.0 : std::max(l, -100.0);
    };
    return -((double)y * clamp_log(x) + (1.0 - (double)y) * clamp_log(1.0 - (double)x));
}

static void test_bce(const std::vector<float>& x, const std::vector<float>& y) {
    long long n = (long long)x.size();
    for (Cfg cfg : configs(n)) {
        std::vector<float> out(n, NAN);
        // inputs (pred, target), then out, n; no scalar arguments.
        launch_flat(cfg.grid, cfg.block, [&] { binary_cross_entropy(x.data(), y.data(), out.data(), n); });
        for (long long i = 0; i < n; ++i) {
            float want = (float)bce_ref(x[i], y[i]);
            CHECK(close(want, out[i], 1e-5), "bce n %lld grid %u block %u i %lld x %.9g y %g: want %.9g got %.9g", n,
                  cfg.grid, cfg.block, i, x[i], y[i], want, out[i]);
        }
    }
}

static void test_bce_all() {
    // Edge predictions (0, subnormal, tiny, near and at 1) against hard and soft targets.
    const float below_one = std::nextafter(1.0f, 0.0f);
    std::vector<float> xs = {0.0f, 1e-45f, 1e-40f, 1e-30f, 1e-7f, 0.25f, 0.5f, 0.9f, 1.0f - 1e-6f, below_one, 1.0f};
    std::vector<float> ys = {0.0f, 1.0f, 0.3f, 0.5f};
    std::vector<float> x, y;
    for (float a : xs)
        for (float b : ys) x.push_back(a), y.push_back(b);
    test_bce(x, y);
    // Random probabilities, n spanning several blocks.
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (long long n : {1LL, 257LL, 2000LL}) {
        std::vector<float> px(n), py(n);
        for (long long i = 0; i < n; ++i) px[i] = u(rng), py[i] = i % 3 == 0 ? u(rng) : (float)(i % 2);
        test_bce(px, py);
    }
    // The clamp: at x = 0 with y = 1 and at x = 1 with y = 0 the loss is exactly 100.
    std::vector<float> out(2, NAN), cx = {0.0f, 1.0f}, cy = {1.0f, 0.0f};
    launch_flat(1, 32, [&] { binary_cross_entropy(cx.data(), cy.data(), out.data(), 2); });
    CHECK(out[0] == 100.0f && out[1] == 100.0f, "bce clamp: want 100, 100 got %g, %g", out[0], out[1]);
}

// ---- The example plugin's SwiGLU -------------------------------------------------------

// `forward_cpu`: over the halves a | b of each row's last dimension 2h, a * sigmoid(a) * b.
static double swiglu_ref(float a, float b) {
    double s = 1.0 / (1.0 + std::exp(-(double)a));
    return (double)a * s * (double)b;
}

// `cuda_output_shape` [.., 2h] -> [.., h] (n = rows * h) and `cuda_scalar_args` [h].
static void test_swiglu(long long rows, long long h, const std::vector<float>& x) {
    long long n = rows * h;
    for (Cfg cfg : configs(n)) {
        std::vector<float> out(n, NAN);
        launch_flat(cfg.grid, cfg.block, [&] { swiglu(x.data(), out.data(), n, h); });
        for (long long r = 0; r < rows; ++r)
            for (long long c = 0; c < h; ++c) {
                float a = x[r * 2 * h + c], b = x[r * 2 * h + h + c];
                float want = (float)swiglu_ref(a, b), got = out[r * h + c];
                CHECK(close(want, got, 1e-5), "swiglu rows %lld h %lld grid %u block %u (%lld, %lld) a %g b %g: want %.9g got %.9g",
                      rows, h, cfg.grid, cfg.block, r, c, a, b, want, got);
            }
    }
}

static void test_swiglu_all() {
    std::normal_distribution<float> d(0.0f, 3.0f);
    // [7, 3, 10] (h = 5, 21 rows), [1, 2] (h = 1), [4, 600] (h = 300, several blocks).
    for (auto [rows, h] : {std::pair{21LL, 5LL}, {1LL, 1LL}, {4LL, 300LL}}) {
        std::vector<float> x(rows * 2 * h);
        for (auto& e : x) e = d(rng);
        test_swiglu(rows, h, x);
    }
    // Large |a| (expf(-a) overflows to inf past 88.7: silu(a) -> -0), infinities, large b.
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> as = {0.0f, -1e-3f, 1e-3f, 1.0f, -1.0f, 10.0f, -10.0f, 88.0f, -88.0f, 89.0f, -89.0f,
                             100.0f, -100.0f, 1e4f, -1e4f, 1e30f, -1e30f, inf, -inf};
    std::vector<float> bs = {0.0f, 1.0f, -1.0f, 2.5f, 1e30f};
    long long h = (long long)(as.size() * bs.size());
    std::vector<float> x(2 * h);
    for (size_t i = 0; i < as.size(); ++i)
        for (size_t j = 0; j < bs.size(); ++j) x[i * bs.size() + j] = as[i], x[h + i * bs.size() + j] = bs[j];
    test_swiglu(1, h, x);
}

int main() {
    test_bce_all();
    test_swiglu_all();
    std::printf("%s (%d failures in %lld checks)\n", failures ? "FAILED" : "all passed", failures, checks);
    return failures != 0;
}
