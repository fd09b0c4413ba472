// Optimizer updates, one thread per element, grid-stride. Each kernel reads the parameter,
// its gradient and the optimizer's state and writes NEW buffers (the old ones may be shared
// with other tensors), with exactly the formulas of `ops/fused/optim.rs`.

// SGD with momentum: d = g + wd * p; buf = d (first step) or momentum * buf + (1 - dampening) * d;
// d = d + momentum * buf (nesterov) or buf; p -= lr * d.
extern "C" __global__ void sgd_momentum(const float* p, const float* g, const float* buf, float* p_out,
                                        float* buf_out, long long n, float lr, float momentum, float dampening,
                                        float wd, int nesterov, int first_step) {
    GRID_STRIDE(i, n) {
        float pi = p[i];
        float d = g[i] + wd * pi;
        float b = first_step ? d : momentum * buf[i] + (1.0f - dampening) * d;
        buf_out[i] = b;
        float step = nesterov ? d + momentum * b : b;
        p_out[i] = pi - lr * step;
    }
}

// SGD without momentum: p -= lr * (g + wd * p).
extern "C" __global__ void sgd_plain(const float* p, const float* g, float* p_out, long long n, float lr, float wd) {
    GRID_STRIDE(i, n) {
        float pi = p[i];
        p_out[i] = pi - lr * (g[i] + wd * pi);
    }
}

// Adam / AdamW: g = g + l2 * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p = p * decay - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps). `step_size` is lr / (1 - b1^t)
// and `inv_sqrt_bc2` is 1 / sqrt(1 - b2^t), computed on the host in f64 like the CPU path.
extern "C" __global__ void adam(const float* p, const float* g, const float* m, const float* v, float* p_out,
                                float* m_out, float* v_out, long long n, float beta1, float beta2, float eps,
                                float l2, float decay, float step_size, float inv_sqrt_bc2) {
    GRID_STRIDE(i, n) {
        float pi = p[i];
        float gi = fmaf(l2, pi, g[i]);
        float mi = fmaf(beta1, m[i], (1.0f - beta1) * gi);
        float vi = fmaf(beta2, v[i], (1.0f - beta2) * gi * gi);
        float denom = sqrtf(vi) * inv_sqrt_bc2 + eps;
        m_out[i] = mi;
        v_out[i] = vi;
        p_out[i] = pi * decay - step_size * mi / denom;
    }
}
