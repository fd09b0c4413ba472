// Row kernels: softmax / log_softmax, LayerNorm / RMSNorm and cross-entropy, forward and
// backward. One 256-thread block per row of a contiguous [rows, cols] tensor (rows looped
// over with a grid stride); each kernel mirrors its CPU counterpart's formula (see the Rust
// side, `cuda/rows.rs`, and the op files it names).

#define ROWS_LOOP(row, rows) for (long long row = blockIdx.x; row < (rows); row += gridDim.x)
#define COLS_LOOP(k, cols) for (long long k = threadIdx.x; k < (cols); k += blockDim.x)

// softmax (log_mode 0): exp(x - max) / sum; log_softmax (log_mode 1): x - logsumexp(x), with
// logsumexp = max when max is -inf (ops/activation.rs).
extern "C" __global__ void softmax_rows(const float* x, float* y, long long rows, long long cols, int log_mode) {
    ROWS_LOOP(row, rows) {
        const float* xr = x + row * cols;
        float* yr = y + row * cols;
        float m = ARC_NEG_INF;
        COLS_LOOP(k, cols) {
            float v = xr[k];
            m = v > m ? v : m;
        }
        m = block_max(m);
        float s = 0.0f;
        COLS_LOOP(k, cols) { s += expf(xr[k] - m); }
        s = block_sum(s);
        if (log_mode) {
            float lse = (m == ARC_NEG_INF) ? m : m + logf(s);
            COLS_LOOP(k, cols) { yr[k] = xr[k] - lse; }
        } else {
            float inv = 1.0f / s;
            COLS_LOOP(k, cols) { yr[k] = expf(xr[k] - m) * inv; }
        }
    }
}

// Backward from the output y: softmax dx = y * (g - sum(g * y)); log_softmax
// dx = g - exp(y) * sum(g).
extern "C" __global__ void softmax_bwd_rows(const float* g, const float* y, float* dx, long long rows,
                                            long long cols, int log_mode) {
    ROWS_LOOP(row, rows) {
        const float* gr = g + row * cols;
        const float* yr = y + row * cols;
        float* dr = dx + row * cols;
        float s = 0.0f;
        COLS_LOOP(k, cols) { s += log_mode ? gr[k] : gr[k] * yr[k]; }
        s = block_sum(s);
        if (log_mode) {
            COLS_LOOP(k, cols) { dr[k] = gr[k] - expf(yr[k]) * s; }
        } else {
            COLS_LOOP(k, cols) { dr[k] = yr[k] * (gr[k] - s); }
        }
    }
}

// LayerNorm (centered 1): mean, var = mean((x - mean)^2), rstd = 1 / sqrt(var + eps),
// y = fma(fma(x, rstd, -mean * rstd), w, b). RMSNorm (centered 0): rstd = 1 / sqrt(mean(x^2)
// + eps), y = x * rstd * w. `w` / `b` are read only when has_w / has_b. Saves the row's mean
// (0 for RMSNorm) and rstd (ops/fused/norm.rs).
extern "C" __global__ void norm_fwd(const float* x, const float* w, const float* b, float* y, float* mean_out,
                                    float* rstd_out, long long rows, long long d, float eps, int has_w, int has_b,
                                    int centered) {
    ROWS_LOOP(row, rows) {
        const float* xr = x + row * d;
        float* yr = y + row * d;
        float inv_d = 1.0f / (float)d;
        float mean = 0.0f;
        if (centered) {
            float s = 0.0f;
            COLS_LOOP(k, d) { s += xr[k]; }
            mean = block_sum(s) * inv_d;
        }
        float ss = 0.0f;
        COLS_LOOP(k, d) {
            float t = xr[k] - mean;
            ss = fmaf(t, t, ss);
        }
        ss = block_sum(ss);
        float var = centered ? ss * inv_d : ss / (float)d;
        float rstd = 1.0f / sqrtf(var + eps);
        float shift = -mean * rstd;
        COLS_LOOP(k, d) {
            float v;
            if (centered) {
                v = fmaf(xr[k], rstd, shift);
                if (has_w && has_b) v = fmaf(v, w[k], b[k]);
                else if (has_w) v = v * w[k];
                else if (has_b) v = v + b[k];
            } else {
                v = xr[k] * rstd;
                if (has_w) v = v * w[k];
            }
            yr[k] = v;
        }
        if (threadIdx.x == 0) {
            mean_out[row] = mean;
            rstd_out[row] = rstd;
        }
    }
}

// Input gradient of both norms: xhat = (x - mean) * rstd, h = g * w,
// dx = rstd * (h - mean(h) - xhat * mean(h * xhat)) with the mean(h) term only when centered.
extern "C" __global__ void norm_bwd_dx(const float* x, const float* w, const float* g, const float* mean,
                                       const float* rstd, float* dx, long long rows, long long d, int has_w,
                                       int centered) {
    ROWS_LOOP(row, rows) {
        const float* xr = x + row * d;
        const float* gr = g + row * d;
        float* dr = dx + row * d;
        float mu = mean[row], rs = rstd[row];
        float sh = 0.0f, shx = 0.0f;
        COLS_LOOP(k, d) {
            float xhat = (xr[k] - mu) * rs;
            float h = has_w ? gr[k] * w[k] : gr[k];
            sh += h;
            shx += h * xhat;
        }
        sh = block_sum(sh);
        shx = block_sum(shx);
        float mean_h = centered ? sh / (float)d : 0.0f;
        float mean_hx = shx / (float)d;
        COLS_LOOP(k, d) {
            float xhat = (xr[k] - mu) * rs;
            float h = has_w ? gr[k] * w[k] : gr[k];
            dr[k] = rs * (h - mean_h - xhat * mean_hx);
        }
    }
}

// Partial weight / bias gradients: for segment s of `seg` rows and column j,
// dw[s, j] = sum g * xhat, db[s, j] = sum g (one thread each; summed over s afterwards).
extern "C" __global__ void norm_bwd_wb(const float* x, const float* g, const float* mean, const float* rstd,
                                       float* dw, float* db, long long rows, long long d, long long splits,
                                       long long seg) {
    GRID_STRIDE(i, splits * d) {
        long long j = i % d, s = i / d;
        long long start = s * seg;
        long long end = start + seg < rows ? start + seg : rows;
        float aw = 0.0f, ab = 0.0f;
        for (long long r = start; r < end; ++r) {
            float gv = g[r * d + j];
            aw += gv * ((x[r * d + j] - mean[r]) * rstd[r]);
            ab += gv;
        }
        dw[i] = aw;
        db[i] = ab;
    }
}

// Cross-entropy forward per row (ops/fused/loss.rs): for target t (not ignore_index),
// lse = logsumexp(x), nll = w[t] * (lse - x[t]), smooth = lse * sum(w) - sum(w * x) (only
// when eps > 0), loss = (1 - eps) * nll + smooth_scale * smooth. Writes loss, lse and the
// target weight (0 for ignored rows, for the mean's denominator). A target outside 0..c that
// is not ignore_index records its row in `bad` (atomicMin; `bad` starts at n).
extern "C" __global__ void ce_fwd(const float* x, const long long* t, const float* w, int has_w, float* loss,
                                  float* lse_out, float* wt_out, long long* bad, long long n, long long c,
                                  long long ignore, float eps, float smooth_scale) {
    ROWS_LOOP(row, n) {
        long long tv = t[row];
        const float* xr = x + row * c;
        if (tv == ignore || tv < 0 || tv >= c) {
            if (threadIdx.x == 0) {
                if (tv != ignore) atomicMin(bad, row);
                loss[row] = 0.0f;
                lse_out[row] = 0.0f;
                wt_out[row] = 0.0f;
            }
            continue;
        }
        float m = ARC_NEG_INF;
        COLS_LOOP(k, c) {
            float v = xr[k];
            m = v > m ? v : m;
        }
        m = block_max(m);
        float s = 0.0f;
        COLS_LOOP(k, c) { s += expf(xr[k] - m); }
        s = block_sum(s);
        float lse = (m == ARC_NEG_INF) ? m : m + logf(s);
        float wt = has_w ? w[tv] : 1.0f;
        float nll = wt * (lse - xr[tv]);
        float smooth = 0.0f;
        if (eps > 0.0f) {
            float a = 0.0f, wsum = 0.0f;
            COLS_LOOP(k, c) {
                float wk = has_w ? w[k] : 1.0f;
                a += xr[k] * wk;
                wsum += wk;
            }
            a = block_sum(a);
            wsum = block_sum(wsum);
            smooth = lse * wsum - a;
        }
        if (threadIdx.x == 0) {
            loss[row] = (1.0f - eps) * nll + smooth_scale * smooth;
            lse_out[row] = lse;
            wt_out[row] = wt;
        }
    }
}

// Cross-entropy backward per row: with p = exp(x - lse) and W = sum(w),
// dx = scale * ((1 - eps) * w[t] * (p - [k == t]) + smooth_scale * (W * p - w[k])), 0 for
// ignored rows. scale = g[row] (mode 0, reduction none), g[0] (mode 1, sum) or
// g[0] / denom[0] (mode 2, mean).
extern "C" __global__ void ce_bwd(const float* x, const long long* t, const float* w, int has_w, const float* lse,
                                  const float* g, int mode, const float* denom, float* dx, long long n, long long c,
                                  long long ignore, float eps, float smooth_scale) {
    ROWS_LOOP(row, n) {
        long long tv = t[row];
        const float* xr = x + row * c;
        float* dr = dx + row * c;
        if (tv == ignore || tv < 0 || tv >= c) {
            COLS_LOOP(k, c) { dr[k] = 0.0f; }
            continue;
        }
        float scale = mode == 0 ? g[row] : (mode == 1 ? g[0] : g[0] / denom[0]);
        float wsum = 0.0f;
        if (eps > 0.0f) {
            COLS_LOOP(k, c) { wsum += has_w ? w[k] : 1.0f; }
            wsum = block_sum(wsum);
        }
        float wt = has_w ? w[tv] : 1.0f;
        float l = lse[row];
        COLS_LOOP(k, c) {
            float p = expf(xr[k] - l);
            float hit = (k == tv) ? 1.0f : 0.0f;
            float wk = has_w ? w[k] : 1.0f;
            dr[k] = scale * ((1.0f - eps) * wt * (p - hit) + smooth_scale * (wsum * p - wk));
        }
    }
}
