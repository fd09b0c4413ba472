// The optimizer kernels (kernels/optim.cu) run on the CPU under shim.h's emulation of CUDA,
// launched as cuda/optim.rs launches them (the same argument values: `decay` and `l2` from
// the config, `step_size` = lr / (1 - b1^t) and `inv_sqrt_bc2` = 1 / sqrt(1 - b2^t) in f64
// then rounded, as `bias_corrections` in ops/fused/optim.rs computes them; on SGD's first step
// the gradient stands in for the momentum buffer), over several steps in a row with each
// step's state fed to the next. Every step is compared with a double-precision reference of
// the CPU slice formulas (ops/fused/optim.rs, PyTorch's SGD / Adam / AdamW) evaluated from
// the state the kernel read, with a tolerance scaled by the magnitudes of the formula's terms
// (so cancellations neither hide nor fake an error); separately, a whole trajectory is run
// in double from the first step and compared with the kernel's parameters at the end.
// Built and run by tests/cuda_kernels_emulated.rs; exits non-zero on any mismatch.
#include "shim.h"
#include <algorithm>
#include <cstdio>
#include <limits>
#include <random>
#include "check.h"
#include "../../src/tensor/cuda/kernels/common.cuh"
#include "../../src/tensor/cuda/kernels/optim.cu"

static std::mt19937 rng(11);

// A value in double with the sum of the magnitudes of the terms it was computed from: float
// evaluation of the same formula is off by a few ulps of `mag`, not of `v`.
struct E {
    double v, mag;
};
static E lit(double x) { return {x, std::fabs(x)}; }
static E operator+(E a, E b) { return {a.v + b.v, a.mag + b.mag}; }
static E operator-(E a, E b) { return {a.v - b.v, a.mag + b.mag}; }
static E operator*(E a, E b) { return {a.v * b.v, a.mag * b.mag}; }
// Only for denominators that are sums of non-negative terms (well conditioned).
static E operator/(E a, E b) { return {a.v / b.v, a.mag / std::fabs(b.v)}; }
static E esqrt(E a) { return {std::sqrt(a.v), std::sqrt(a.mag)}; }

static bool matches(float got, E want, double rel = 1e-5) {
    if (std::isnan(want.v)) return std::isnan(got);
    return std::fabs((double)got - want.v) <= rel * want.mag + 1e-37;
}

// device.rs `launch_1d`: 256 threads a block, ceil(n / 256) blocks clamped to [1, 65535].
struct Cfg {
    unsigned grid, block;
};
static Cfg launch_1d(long long n) {
    return {(unsigned)std::clamp<long long>((n + 255) / 256, 1, 65535), 256};
}

static std::vector<float> gradient(long long n, int step) {
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> g(n);
    for (long long i = 0; i < n; ++i) {
        g[i] = d(rng);
        if (i % 17 == 3) g[i] = 0.0f;                                   // no gradient
        if (i % 23 == 5) g[i] *= 1e3f;                                  // large
        if (i % 29 == 7) g[i] = (step % 2 ? 1.0f : -1.0f) * 1e-3f;      // small, flipping sign
    }
    return g;
}

// ---- SGD -----------------------------------------------------------------------------

struct Sgd {
    float lr, momentum, dampening, wd;
    bool nesterov;
};

// cuda/optim.rs `sgd_step` on contiguous buffers: `buf` is ignored on the first step, where
// the gradient stands in for it. Returns the new parameter and (with momentum) buffer.
static void sgd_step(const std::vector<float>& p, const std::vector<float>& g, const std::vector<float>* buf,
                     const Sgd& c, bool first_step, Cfg cfg, std::vector<float>& p_out, std::vector<float>& b_out) {
    long long n = (long long)p.size();
    p_out.assign(n, NAN);
    if (c.momentum == 0.0f) {
        b_out.clear();
        if (n > 0) launch_flat(cfg.grid, cfg.block, [&] { sgd_plain(p.data(), g.data(), p_out.data(), n, c.lr, c.wd); });
        return;
    }
    b_out.assign(n, NAN);
    const float* b = first_step ? g.data() : buf->data();
    int nesterov = c.nesterov, first = first_step;
    if (n > 0)
        launch_flat(cfg.grid, cfg.block, [&] {
            sgd_momentum(p.data(), g.data(), b, p_out.data(), b_out.data(), n, c.lr, c.momentum, c.dampening, c.wd,
                         nesterov, first);
        });
}

// ops/fused/optim.rs `sgd_update`, one element, in double: d = g + wd p; buf = d (first step)
// or momentum buf + (1 - dampening) d; d = d + momentum buf (Nesterov) or buf; p -= lr d.
static void sgd_ref(E& p, E& buf, double g, const Sgd& c, bool first_step) {
    E d = lit(g) + lit(c.wd) * p;
    if (c.momentum == 0.0f) {
        p = p - lit(c.lr) * d;
        return;
    }
    buf = first_step ? d : lit(c.momentum) * buf + lit(1.0 - (double)c.dampening) * d;
    E step = c.nesterov ? d + lit(c.momentum) * buf : buf;
    p = p - lit(c.lr) * step;
}

static void test_sgd(const Sgd& c, long long n, int cfgsel, int steps) {
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> p(n), buf;
    for (auto& e : p) e = d(rng);
    std::vector<E> traj_p(n), traj_b(n, lit(0));
    for (long long i = 0; i < n; ++i) traj_p[i] = lit(p[i]);
    for (int t = 1; t <= steps; ++t) {
        Cfg cfg = cfgsel == 0 ? launch_1d(n) : cfgsel == 1 ? Cfg{1, 32} : Cfg{3, 64};
        auto g = gradient(n, t);
        std::vector<float> p_out, b_out;
        sgd_step(p, g, &buf, c, t == 1, cfg, p_out, b_out);
        if (t == 1 && c.momentum != 0.0f) {
            // The first step never reads the buffer: a NaN one in place of the gradient that
            // the launcher passes changes nothing.
            std::vector<float> nan_buf(n, NAN), p2(n), b2(n);
            int nest = c.nesterov;
            launch_flat(cfg.grid, cfg.block, [&] {
                sgd_momentum(p.data(), g.data(), nan_buf.data(), p2.data(), b2.data(), n, c.lr, c.momentum, c.dampening,
                             c.wd, nest, 1);
            });
            CHECK(p2 == p_out && b2 == b_out, "sgd first step reads the momentum buffer (n %lld)", n);
        }
        for (long long i = 0; i < n; ++i) {
            // One step from the state the kernel read.
            E pw = lit(p[i]), bw = lit(c.momentum != 0.0f && t > 1 ? buf[i] : 0.0);
            sgd_ref(pw, bw, g[i], c, t == 1);
            CHECK(matches(p_out[i], pw), "sgd lr %g mom %g damp %g wd %g nest %d n %lld step %d i %lld: p want %.9g got %.9g",
                  c.lr, c.momentum, c.dampening, c.wd, c.nesterov, n, t, i, pw.v, p_out[i]);
            if (c.momentum != 0.0f)
                CHECK(matches(b_out[i], bw), "sgd mom %g damp %g wd %g nest %d n %lld step %d i %lld: buf want %.9g got %.9g",
                      c.momentum, c.dampening, c.wd, c.nesterov, n, t, i, bw.v, b_out[i]);
            sgd_ref(traj_p[i], traj_b[i], g[i], c, t == 1);
        }
        p = p_out;
        buf = b_out;
    }
    for (long long i = 0; i < n; ++i)
        CHECK(matches(p[i], traj_p[i], 1e-4), "sgd trajectory mom %g damp %g wd %g nest %d n %lld i %lld: want %.9g got %.9g",
              c.momentum, c.dampening, c.wd, c.nesterov, n, i, traj_p[i].v, p[i]);
}

// ---- Adam / AdamW --------------------------------------------------------------------

struct Adam {
    float lr, beta1, beta2, eps, wd;
    bool decoupled;
};

// ops/fused/optim.rs `bias_corrections`: lr / (1 - b1^t) and 1 / sqrt(1 - b2^t), f64 then f32.
static void bias_corrections(long long t, const Adam& c, float& step_size, float& inv_sqrt_bc2) {
    int ti = (int)std::min<long long>(t, std::numeric_limits<int>::max());
    double bc1 = 1.0 - std::pow((double)c.beta1, ti), bc2 = 1.0 - std::pow((double)c.beta2, ti);
    step_size = (float)((double)c.lr / bc1);
    inv_sqrt_bc2 = (float)(1.0 / std::sqrt(bc2));
}

// cuda/optim.rs `adam_step`: `decay` and `l2` computed in f32 from the config.
static void adam_step(const std::vector<float>& p, const std::vector<float>& g, const std::vector<float>& m,
                      const std::vector<float>& v, const Adam& c, long long t, Cfg cfg, std::vector<float>& p_out,
                      std::vector<float>& m_out, std::vector<float>& v_out) {
    long long n = (long long)p.size();
    p_out.assign(n, NAN), m_out.assign(n, NAN), v_out.assign(n, NAN);
    float step_size, inv_sqrt_bc2;
    bias_corrections(t, c, step_size, inv_sqrt_bc2);
    float decay = c.decoupled ? 1.0f - c.lr * c.wd : 1.0f;
    float l2 = c.decoupled ? 0.0f : c.wd;
    if (n > 0)
        launch_flat(cfg.grid, cfg.block, [&] {
            adam(p.data(), g.data(), m.data(), v.data(), p_out.data(), m_out.data(), v_out.data(), n, c.beta1, c.beta2,
                 c.eps, l2, decay, step_size, inv_sqrt_bc2);
        });
}

// PyTorch's Adam / AdamW (the docs' form, as `reference_adam` in ops/fused/optim.rs), one
// element, step t >= 1: AdamW decays p by (1 - lr wd) first, Adam adds wd p to g; then
// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p -= lr m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps).
static void adam_ref(E& p, E& m, E& v, double g0, const Adam& c, long long t) {
    double b1 = c.beta1, b2 = c.beta2, lr = c.lr;
    if (c.decoupled) p = p * lit(1.0 - lr * (double)c.wd);
    E g = c.decoupled ? lit(g0) : lit(g0) + lit(c.wd) * p;
    m = lit(b1) * m + lit(1.0 - b1) * g;
    v = lit(b2) * v + lit(1.0 - b2) * g * g;
    E mhat = m / lit(1.0 - std::pow(b1, (double)t));
    E denom = esqrt(v / lit(1.0 - std::pow(b2, (double)t))) + lit(c.eps);
    p = p - lit(lr) * mhat / denom;
}

static void test_adam(const Adam& c, long long n, int cfgsel, const std::vector<long long>& steps) {
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> p(n), m(n, 0.0f), v(n, 0.0f);
    for (auto& e : p) e = d(rng);
    std::vector<E> tp(n), tm(n, lit(0)), tv(n, lit(0));
    for (long long i = 0; i < n; ++i) tp[i] = lit(p[i]);
    for (long long t : steps) {
        Cfg cfg = cfgsel == 0 ? launch_1d(n) : cfgsel == 1 ? Cfg{1, 32} : Cfg{3, 64};
        auto g = gradient(n, (int)t);
        std::vector<float> p_out, m_out, v_out;
        adam_step(p, g, m, v, c, t, cfg, p_out, m_out, v_out);
        for (long long i = 0; i < n; ++i) {
            E pw = lit(p[i]), mw = lit(m[i]), vw = lit(v[i]);
            adam_ref(pw, mw, vw, g[i], c, t);
            const char* name = c.decoupled ? "adamw" : "adam";
            CHECK(matches(p_out[i], pw), "%s lr %g b1 %g b2 %g eps %g wd %g n %lld step %lld i %lld g %g: p want %.9g got %.9g",
                  name, c.lr, c.beta1, c.beta2, c.eps, c.wd, n, t, i, g[i], pw.v, p_out[i]);
            CHECK(matches(m_out[i], mw), "%s b1 %g wd %g n %lld step %lld i %lld: m want %.9g got %.9g", name, c.beta1,
                  c.wd, n, t, i, mw.v, m_out[i]);
            CHECK(matches(v_out[i], vw), "%s b2 %g wd %g n %lld step %lld i %lld: v want %.9g got %.9g", name, c.beta2,
                  c.wd, n, t, i, vw.v, v_out[i]);
            adam_ref(tp[i], tm[i], tv[i], g[i], c, t);
        }
        p = p_out, m = m_out, v = v_out;
    }
    for (long long i = 0; i < n; ++i)
        CHECK(matches(p[i], tp[i], 1e-4), "%s trajectory lr %g wd %g n %lld i %lld: want %.9g got %.9g",
              c.decoupled ? "adamw" : "adam", c.lr, c.wd, n, i, tp[i].v, p[i]);
}

int main() {
    // SGD: plain (with and without weight decay), momentum with dampening, Nesterov (also
    // with dampening, which the formula allows), weight decay; first step then five more.
    for (long long n : {1LL, 300LL, 1000LL})
        for (int cfgsel = 0; cfgsel < 3; ++cfgsel) {
            test_sgd({0.1f, 0.0f, 0.0f, 0.0f, false}, n, cfgsel, 4);
            test_sgd({0.05f, 0.0f, 0.0f, 0.01f, false}, n, cfgsel, 4);
            for (float damp : {0.0f, 0.1f, 0.5f})
                for (float wd : {0.0f, 0.01f})
                    for (bool nest : {false, true}) test_sgd({0.03f, 0.9f, damp, wd, nest}, n, cfgsel, 6);
            test_sgd({0.5f, 0.3f, 0.0f, 0.1f, true}, n, cfgsel, 6);
        }
    // Adam / AdamW: PyTorch defaults, other betas / eps, L2 vs decoupled decay, and steps
    // far apart (the bias corrections at t = 1000, 10^6, 2^40: clamped to i32 like powi).
    std::vector<long long> seq = {1, 2, 3, 4, 5, 6, 7, 8};
    std::vector<long long> late = {1, 2, 1000, 1000000, 1LL << 40};
    for (long long n : {1LL, 300LL, 1000LL})
        for (int cfgsel = 0; cfgsel < 3; ++cfgsel)
            for (bool decoupled : {false, true}) {
                test_adam({1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, decoupled}, n, cfgsel, seq);
                test_adam({0.05f, 0.9f, 0.999f, 1e-8f, 0.1f, decoupled}, n, cfgsel, seq);
                test_adam({0.01f, 0.5f, 0.9f, 1e-3f, 0.01f, decoupled}, n, cfgsel, seq);
                test_adam({0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, decoupled}, n, cfgsel, late);
            }
    std::printf("%s (%d failures in %lld checks)\n", failures ? "FAILED" : "all passed", failures, checks);
    return failures != 0;
}
