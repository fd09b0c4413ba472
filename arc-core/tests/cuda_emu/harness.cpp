// The reduction and row kernels (kernels/reduce.cu, kernels/rows.cu) run on the CPU under
// shim.h's emulation of CUDA and are compared with straightforward double-precision
// references of the CPU ops' formulas (ops/reduce.rs, ops/nograd.rs, ops/activation.rs,
// ops/fused/norm.rs, ops/fused/loss.rs). Block sizes 64 and 256, grids smaller than the
// number of rows (the grid-stride loops), ties, NaN, ignored and invalid targets.
// Built and run by tests/cuda_kernels_emulated.rs; exits non-zero on any mismatch.
#include "shim.h"
#include <cstdio>
#include <random>
#include <limits>
#include "../../src/tensor/cuda/kernels/common.cuh"
#include "../../src/tensor/cuda/kernels/reduce.cu"
#include "../../src/tensor/cuda/kernels/rows.cu"

static int failures = 0;
static std::mt19937 rng(42);
static std::vector<float> randn(size_t n, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (auto& e : v) e = d(rng);
    return v;
}
static bool close(double a, double b, double rel) {
    if (std::isnan(a) && std::isnan(b)) return true;
    if (std::isinf(a) && std::isinf(b) && (a > 0) == (b > 0)) return true;
    return std::fabs(a - b) <= rel * std::max({std::fabs(a), std::fabs(b), 1.0});
}
#define CHECK(cond, ...) do { if (!(cond)) { ++failures; std::printf("FAIL %s:%d: ", __FILE__, __LINE__); std::printf(__VA_ARGS__); std::printf("\n"); } } while (0)

static unsigned grid_for(long long n, unsigned cap) { return (unsigned)std::max(1LL, std::min<long long>(n, cap)); }

static void test_reduce(long long outer, long long r, long long inner, long long splits, unsigned block, bool nans) {
    auto x = randn(outer * r * inner);
    if (nans) for (size_t i = 0; i < x.size(); i += 7) x[i] = NAN;
    long long seg = (r + splits - 1) / splits;
    for (int is_max = 0; is_max < 2; ++is_max) {
        std::vector<float> want(outer * inner);
        for (long long o = 0; o < outer; ++o) for (long long in = 0; in < inner; ++in) {
            double s = 0; float m = -INFINITY;
            for (long long k = 0; k < r; ++k) { float v = x[(o * r + k) * inner + in]; s += v; m = v > m ? v : m; }
            want[o * inner + in] = is_max ? m : (float)s;
        }
        std::vector<float> got(outer * inner);
        if (inner == 1) {
            std::vector<float> part(outer * splits);
            auto k1 = is_max ? reduce_rows_max : reduce_rows_sum;
            launch(grid_for(outer * splits, 5), block, [&] { k1(x.data(), part.data(), outer, r, splits, seg); });
            launch(grid_for(outer, 3), block, [&] { k1(part.data(), got.data(), outer, splits, 1, splits); });
        } else {
            std::vector<float> part(outer * splits * inner);
            auto k1 = is_max ? reduce_mid_max : reduce_mid_sum;
            long long n1 = outer * splits * inner;
            launch(grid_for((n1 + block - 1) / block, 2), block, [&] { k1(x.data(), part.data(), outer, r, inner, splits, seg); });
            long long n2 = outer * inner;
            launch(grid_for((n2 + block - 1) / block, 2), block, [&] { k1(part.data(), got.data(), outer, splits, inner, 1, splits); });
        }
        for (size_t i = 0; i < got.size(); ++i)
            CHECK(close(want[i], got[i], 1e-5), "reduce %s [%lld,%lld,%lld] splits %lld block %u i %zu: want %g got %g",
                  is_max ? "max" : "sum", outer, r, inner, splits, block, i, want[i], got[i]);
    }
}

static void test_arg(long long outer, long long r, long long inner, unsigned block, bool rows_kernel) {
    std::vector<float> x(outer * r * inner);
    std::uniform_int_distribution<int> d(-2, 2);
    for (auto& e : x) e = (float)d(rng);
    if (x.size() > 400) { x[5] = NAN; x[9] = NAN; x[x.size() / 2] = NAN; }
    for (int is_min = 0; is_min < 2; ++is_min) {
        std::vector<long long> want(outer * inner), got(outer * inner);
        for (long long o = 0; o < outer; ++o) for (long long in = 0; in < inner; ++in) {
            long long best = 0;
            for (long long k = 0; k < r; ++k) {
                float bv = x[(o * r + best) * inner + in], v = x[(o * r + k) * inner + in];
                if (std::isnan(bv)) break;
                if (std::isnan(v) || (is_min ? v < bv : v > bv)) best = k;
            }
            want[o * inner + in] = best;
        }
        if (rows_kernel)
            launch(grid_for(outer, 3), block, [&] { arg_rows(x.data(), got.data(), outer, r, is_min); });
        else
            launch(grid_for((outer * inner + block - 1) / block, 2), block, [&] { arg_mid(x.data(), got.data(), outer, r, inner, is_min); });
        for (size_t i = 0; i < got.size(); ++i)
            CHECK(want[i] == got[i], "arg%s [%lld,%lld,%lld] rows %d i %zu: want %lld got %lld", is_min ? "min" : "max",
                  outer, r, inner, rows_kernel, i, want[i], got[i]);
    }
}

static void test_one_hot() {
    std::vector<long long> labels = {0, 2, 1, 5, 2, -1};
    long long n = labels.size(), c = 3;
    std::vector<float> y(n * c, -7.0f);
    long long bad = n;
    launch(1, 64, [&] { one_hot(labels.data(), y.data(), n, c, &bad); });
    CHECK(bad == 3, "one_hot bad row %lld", bad);
    for (long long i = 0; i < n * c; ++i) CHECK(y[i] == ((labels[i / c] == i % c) ? 1.0f : 0.0f), "one_hot %lld", i);
    labels = {0, 2, 1};
    bad = 3;
    launch(2, 32, [&] { one_hot(labels.data(), y.data(), 3, c, &bad); });
    CHECK(bad == 3, "one_hot no bad %lld", bad);
}

static void test_softmax(long long rows, long long cols, unsigned block) {
    auto x = randn(rows * cols, 3.0f);
    if (rows > 1) x[cols] = -INFINITY;
    auto g = randn(rows * cols);
    for (int log_mode = 0; log_mode < 2; ++log_mode) {
        std::vector<float> y(rows * cols), dx(rows * cols);
        launch(grid_for(rows, 3), block, [&] { softmax_rows(x.data(), y.data(), rows, cols, log_mode); });
        launch(grid_for(rows, 3), block, [&] { softmax_bwd_rows(g.data(), y.data(), dx.data(), rows, cols, log_mode); });
        for (long long r = 0; r < rows; ++r) {
            const float* xr = &x[r * cols];
            double m = -INFINITY;
            for (long long k = 0; k < cols; ++k) m = std::max(m, (double)xr[k]);
            double s = 0;
            for (long long k = 0; k < cols; ++k) s += std::exp(xr[k] - m);
            double lse = m + std::log(s);
            std::vector<double> yw(cols);
            double gs = 0;
            for (long long k = 0; k < cols; ++k) {
                yw[k] = log_mode ? xr[k] - lse : std::exp(xr[k] - m) / s;
                gs += log_mode ? g[r * cols + k] : g[r * cols + k] * yw[k];
            }
            for (long long k = 0; k < cols; ++k) {
                double gk = g[r * cols + k];
                double dw = log_mode ? gk - std::exp(yw[k]) * gs : yw[k] * (gk - gs);
                CHECK(close(yw[k], y[r * cols + k], 1e-5), "softmax%d [%lld,%lld] (%lld,%lld): want %g got %g", log_mode, rows, cols, r, k, yw[k], y[r * cols + k]);
                CHECK(close(dw, dx[r * cols + k], 1e-4), "softmax_bwd%d [%lld,%lld] (%lld,%lld): want %g got %g", log_mode, rows, cols, r, k, dw, dx[r * cols + k]);
            }
        }
    }
}

static void test_norm(long long rows, long long d, unsigned block) {
    auto x = randn(rows * d, 2.0f);
    for (auto& e : x) e += 0.5f;
    auto w = randn(d), b = randn(d), g = randn(rows * d);
    float eps = 1e-5f;
    for (int centered = 0; centered < 2; ++centered)
    for (int has_w = 0; has_w < 2; ++has_w)
    for (int has_b = 0; has_b < 2; ++has_b) {
        if (!centered && has_b) continue;
        std::vector<float> y(rows * d), mean(rows), rstd(rows), dx(rows * d);
        launch(grid_for(rows, 3), block, [&] { norm_fwd(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows, d, eps, has_w, has_b, centered); });
        launch(grid_for(rows, 3), block, [&] { norm_bwd_dx(x.data(), w.data(), g.data(), mean.data(), rstd.data(), dx.data(), rows, d, has_w, centered); });
        long long splits = std::max(1LL, std::min(5LL, rows)), seg = (rows + splits - 1) / splits;
        std::vector<float> dwp(splits * d), dbp(splits * d), dw(d), db(d);
        launch(2, block, [&] { norm_bwd_wb(x.data(), g.data(), mean.data(), rstd.data(), dwp.data(), dbp.data(), rows, d, splits, seg); });
        launch(1, block, [&] { reduce_mid_sum(dwp.data(), dw.data(), 1, splits, d, 1, splits); });
        launch(1, block, [&] { reduce_mid_sum(dbp.data(), db.data(), 1, splits, d, 1, splits); });
        std::vector<double> dww(d, 0), dbw(d, 0);
        for (long long r = 0; r < rows; ++r) {
            const float* xr = &x[r * d];
            double mu = 0;
            if (centered) { for (long long k = 0; k < d; ++k) mu += xr[k]; mu /= d; }
            double var = 0;
            for (long long k = 0; k < d; ++k) var += (xr[k] - mu) * (xr[k] - mu);
            var /= d;
            double rs = 1.0 / std::sqrt(var + eps);
            CHECK(close(mu, mean[r], 1e-5) && close(rs, rstd[r], 1e-4), "norm stats c%d row %lld", centered, r);
            double mh = 0, mhx = 0;
            for (long long k = 0; k < d; ++k) {
                double xh = (xr[k] - mu) * rs;
                double yw = xh * (has_w ? w[k] : 1.0) + (has_b ? b[k] : 0.0);
                CHECK(close(yw, y[r * d + k], 1e-4), "norm_fwd c%d w%d b%d [%lld,%lld] (%lld,%lld): want %g got %g", centered, has_w, has_b, rows, d, r, k, yw, y[r * d + k]);
                double h = g[r * d + k] * (has_w ? w[k] : 1.0);
                mh += h; mhx += h * xh;
                dww[k] += g[r * d + k] * xh;
                dbw[k] += g[r * d + k];
            }
            mh = centered ? mh / d : 0.0; mhx /= d;
            for (long long k = 0; k < d; ++k) {
                double xh = (xr[k] - mu) * rs;
                double h = g[r * d + k] * (has_w ? w[k] : 1.0);
                double want = rs * (h - mh - xh * mhx);
                CHECK(close(want, dx[r * d + k], 1e-3), "norm_bwd_dx c%d w%d [%lld,%lld] (%lld,%lld): want %g got %g", centered, has_w, rows, d, r, k, want, dx[r * d + k]);
            }
        }
        for (long long k = 0; k < d; ++k) {
            CHECK(close(dww[k], dw[k], 1e-4), "dw c%d k %lld want %g got %g", centered, k, dww[k], dw[k]);
            CHECK(close(dbw[k], db[k], 1e-4), "db c%d k %lld want %g got %g", centered, k, dbw[k], db[k]);
        }
    }
}

static void test_ce(long long n, long long c, unsigned block) {
    auto x = randn(n * c, 2.0f);
    auto w = randn(c);
    for (auto& e : w) e = std::fabs(e) + 0.1f;
    std::vector<long long> t(n);
    for (long long r = 0; r < n; ++r) t[r] = (r % 4 == 3) ? -100 : (r * 7 + 3) % c;
    long long ignore = -100;
    for (int has_w = 0; has_w < 2; ++has_w)
    for (float eps : {0.0f, 0.1f, 1.0f})
    for (int mode = 0; mode < 3; ++mode) {
        float ss = eps / c;
        std::vector<float> loss(n), lse(n), wt(n), dx(n * c);
        long long bad = n;
        launch(grid_for(n, 3), block, [&] { ce_fwd(x.data(), t.data(), w.data(), has_w, loss.data(), lse.data(), wt.data(), &bad, n, c, ignore, eps, ss); });
        CHECK(bad == n, "ce bad %lld", bad);
        double denom = 0;
        for (long long r = 0; r < n; ++r) denom += wt[r];
        float denomf = (float)denom;
        auto g = randn(n);
        launch(grid_for(n, 3), block, [&] { ce_bwd(x.data(), t.data(), w.data(), has_w, lse.data(), g.data(), mode, &denomf, dx.data(), n, c, ignore, eps, ss); });
        double wtot = 0;
        for (long long k = 0; k < c; ++k) wtot += has_w ? w[k] : 1.0;
        double dref = 0;
        for (long long r = 0; r < n; ++r) if (t[r] != ignore) dref += has_w ? w[t[r]] : 1.0;
        CHECK(close(dref, denom, 1e-5), "ce denom");
        for (long long r = 0; r < n; ++r) {
            const float* xr = &x[r * c];
            double m = -INFINITY;
            for (long long k = 0; k < c; ++k) m = std::max(m, (double)xr[k]);
            double s = 0;
            for (long long k = 0; k < c; ++k) s += std::exp(xr[k] - m);
            double l = m + std::log(s);
            double want = 0;
            if (t[r] != ignore) {
                double wtv = has_w ? w[t[r]] : 1.0;
                double nll = wtv * (l - xr[t[r]]);
                double sm = 0;
                if (eps > 0) { double a = 0; for (long long k = 0; k < c; ++k) a += xr[k] * (has_w ? w[k] : 1.0); sm = l * wtot - a; }
                want = (1 - eps) * nll + (double)ss * sm;
            }
            CHECK(close(want, loss[r], 1e-4), "ce loss w%d eps %g row %lld: want %g got %g", has_w, eps, r, want, loss[r]);
            double scale = mode == 0 ? g[r] : (mode == 1 ? g[0] : g[0] / dref);
            for (long long k = 0; k < c; ++k) {
                double dw = 0;
                if (t[r] != ignore) {
                    double p = std::exp(xr[k] - l);
                    double wtv = has_w ? w[t[r]] : 1.0, wk = has_w ? w[k] : 1.0;
                    dw = scale * ((1 - eps) * wtv * (p - (k == t[r] ? 1.0 : 0.0)) + (double)ss * (wtot * p - wk));
                }
                CHECK(close(dw, dx[r * c + k], 1e-4), "ce dx w%d eps %g mode %d (%lld,%lld): want %g got %g", has_w, eps, mode, r, k, dw, dx[r * c + k]);
            }
        }
    }
    // Bad targets: the first bad row is recorded.
    std::vector<long long> bt = t;
    bt[n - 1] = c;
    if (n > 2) bt[1] = -5;
    std::vector<float> loss(n), lse(n), wt(n);
    long long bad = n;
    launch(grid_for(n, 3), block, [&] { ce_fwd(x.data(), bt.data(), w.data(), 1, loss.data(), lse.data(), wt.data(), &bad, n, c, ignore, 0.0f, 0.0f); });
    CHECK(bad == (n > 2 ? 1 : n - 1), "ce bad row %lld", bad);
}

int main() {
    // Every case with 2-warp blocks; the wide ones also with Arc's 256 threads and a single
    // warp (block_sum / block_max over one warp).
    for (unsigned block : {64u}) {
        test_reduce(3, 1000, 1, 1, block, false);
        test_reduce(7, 33, 1, 1, block, false);
        test_reduce(1, 1, 1, 1, block, false);
        test_reduce(4, 300, 5, 1, block, true);
        test_reduce(1, 3000, 3, 12, block, false);
        test_reduce(2, 7, 9, 3, block, false);
        test_arg(5, 300, 1, block, true);
        test_arg(4, 33, 1, block, true);
        test_arg(3, 7, 5, block, false);
        test_arg(6, 50, 1, block, false);
        test_softmax(5, 7, block);
        test_softmax(1, 1, block);
        test_norm(4, 7, block);
        test_norm(37, 3, block);
        test_ce(5, 4, block);
        test_ce(1, 1, block);
        test_ce(9, 3, block);
    }
    for (unsigned block : {32u, 64u, 256u}) {
        test_reduce(2, 5000, 1, 4, block, true);
        test_arg(3, 1300, 1, block, true);
        test_softmax(3, 1300, block);
        test_norm(3, 1300, block);
        test_ce(7, 1300, block);
    }
    test_one_hot();
    std::printf("%s (%d failures)\n", failures ? "FAILED" : "all passed", failures);
    return failures != 0;
}
