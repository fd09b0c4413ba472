// Elementwise kernels: strided copies, unary maps, broadcasting binary maps, fills and casts.
// Unary kernels `u_<name>(x, y, n, p0, p1)`; binary `b_<name>(a, b, y, n, p0, p1)` for two
// contiguous inputs of one shape, `bb_<name>(a, sa, b, sb, y, n, p0, p1)` for broadcasting.

extern "C" __global__ void copy_strided_f32(const float* src, Strided s, float* dst, long long n) {
    GRID_STRIDE(i, n) { dst[i] = src[strided_offset(s, i)]; }
}
extern "C" __global__ void copy_strided_i64(const long long* src, Strided s, long long* dst, long long n) {
    GRID_STRIDE(i, n) { dst[i] = src[strided_offset(s, i)]; }
}
// dst (through its layout) = src (through its layout); both layouts share one shape.
extern "C" __global__ void copy_s2s_f32(const float* src, Strided ss, float* dst, Strided ds, long long n) {
    GRID_STRIDE(i, n) { dst[strided_offset(ds, i)] = src[strided_offset(ss, i)]; }
}
extern "C" __global__ void copy_s2s_i64(const long long* src, Strided ss, long long* dst, Strided ds, long long n) {
    GRID_STRIDE(i, n) { dst[strided_offset(ds, i)] = src[strided_offset(ss, i)]; }
}
extern "C" __global__ void fill_f32(float* y, long long n, float v) {
    GRID_STRIDE(i, n) { y[i] = v; }
}
extern "C" __global__ void fill_i64(long long* y, long long n, long long v) {
    GRID_STRIDE(i, n) { y[i] = v; }
}
extern "C" __global__ void cast_i64_f32(const long long* x, float* y, long long n) {
    GRID_STRIDE(i, n) { y[i] = (float)x[i]; }
}
// Truncates toward zero, like PyTorch's `.long()`.
extern "C" __global__ void cast_f32_i64(const float* x, long long* y, long long n) {
    GRID_STRIDE(i, n) { y[i] = (long long)x[i]; }
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }
#define SQRT_2_OVER_PI 0.7978845608028654f
#define GELU_COEF 0.044715f
#define INV_SQRT_2 0.7071067811865476

#define UNARY(name, expr)                                                                   \
    extern "C" __global__ void u_##name(const float* xs, float* y, long long n, float p0, float p1) { \
        GRID_STRIDE(i, n) {                                                                 \
            float x = xs[i];                                                                \
            y[i] = (expr);                                                                  \
        }                                                                                   \
    }

UNARY(neg, -x)
UNARY(powf, powf(x, p0))
UNARY(powf_grad, p0 * powf(x, p0 - 1.0f))
UNARY(square, x * x)
UNARY(recip, 1.0f / x)
UNARY(sqrt, sqrtf(x))
UNARY(exp, expf(x))
UNARY(log, logf(x))
UNARY(abs, fabsf(x))
// As Rust's f32::clamp (the CPU op) and PyTorch: NaN stays NaN (fminf / fmaxf would drop it).
UNARY(clamp, x < p0 ? p0 : (x > p1 ? p1 : x))
UNARY(affine, x * p0 + p1)
UNARY(relu, x > 0.0f ? x : 0.0f)
UNARY(sigmoid, sigmoidf_(x))
UNARY(tanh, tanhf(x))
UNARY(gelu, (float)(0.5 * (double)x * (1.0 + erf((double)x * INV_SQRT_2))))
UNARY(gelu_tanh, x / (1.0f + expf(-2.0f * SQRT_2_OVER_PI * x * fmaf(GELU_COEF * x, x, 1.0f))))
UNARY(silu, x / (1.0f + expf(-x)))

__device__ __forceinline__ float gelu_grad_(float x) {
    double xd = (double)x;
    double pdf = exp(-0.5 * xd * xd) * 0.3989422804014327;
    double cdf = 0.5 * (1.0 + erf(xd * INV_SQRT_2));
    return (float)cdf + x * (float)pdf;
}
__device__ __forceinline__ float gelu_tanh_grad_(float x) {
    float t = tanhf(SQRT_2_OVER_PI * (x + GELU_COEF * x * x * x));
    float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_COEF * x * x);
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}
__device__ __forceinline__ float tie_share_(float x, float y) {
    return x > y ? 1.0f : (x == y ? 0.5f : 0.0f);
}

#define BINARY(name, expr)                                                                  \
    extern "C" __global__ void b_##name(const float* as, const float* bs, float* y, long long n, \
                                        float p0, float p1) {                               \
        GRID_STRIDE(i, n) {                                                                 \
            float a = as[i], b = bs[i];                                                     \
            y[i] = (expr);                                                                  \
        }                                                                                   \
    }                                                                                       \
    extern "C" __global__ void bb_##name(const float* as, Strided sa, const float* bs, Strided sb, \
                                         float* y, long long n, float p0, float p1) {       \
        GRID_STRIDE(i, n) {                                                                 \
            float a = as[strided_offset(sa, i)], b = bs[strided_offset(sb, i)];             \
            y[i] = (expr);                                                                  \
        }                                                                                   \
    }

BINARY(add, a + b)
BINARY(sub, a - b)
BINARY(mul, a * b)
BINARY(div, a / b)
BINARY(maximum, a >= b ? a : b)
BINARY(minimum, a <= b ? a : b)
BINARY(div_grad_rhs, -a / (b * b))
BINARY(maximum_share, tie_share_(a, b))
BINARY(minimum_share, tie_share_(b, a))
// Backward kernels: a = incoming gradient, b = the saved input x or output y.
BINARY(relu_grad, b > 0.0f ? a : 0.0f)
BINARY(sigmoid_grad, a * b * (1.0f - b))
BINARY(tanh_grad, a * (1.0f - b * b))
BINARY(gelu_grad, a * gelu_grad_(b))
BINARY(gelu_tanh_grad, a * gelu_tanh_grad_(b))
BINARY(silu_grad, a * sigmoidf_(b) * (1.0f + b * (1.0f - sigmoidf_(b))))
BINARY(square_grad, 2.0f * a * b)
BINARY(recip_grad, -a * b * b)
BINARY(sqrt_grad, 0.5f * a / b)
BINARY(abs_grad, b > 0.0f ? a : (b < 0.0f ? -a : 0.0f))
BINARY(clamp_grad, (b >= p0 && b <= p1) ? a : 0.0f)
// Comparisons: 1.0 / 0.0 masks.
BINARY(eq, a == b ? 1.0f : 0.0f)
BINARY(ne, a != b ? 1.0f : 0.0f)
BINARY(lt, a < b ? 1.0f : 0.0f)
BINARY(le, a <= b ? 1.0f : 0.0f)
BINARY(gt, a > b ? 1.0f : 0.0f)
BINARY(ge, a >= b ? 1.0f : 0.0f)

// Comparisons of i64 tensors (broadcasting form only).
#define CMP_I64(name, op)                                                                   \
    extern "C" __global__ void bbi_##name(const long long* as, Strided sa, const long long* bs, \
                                          Strided sb, float* y, long long n) {              \
        GRID_STRIDE(i, n) {                                                                 \
            y[i] = (as[strided_offset(sa, i)] op bs[strided_offset(sb, i)]) ? 1.0f : 0.0f;  \
        }                                                                                   \
    }
CMP_I64(eq, ==)
CMP_I64(ne, !=)
CMP_I64(lt, <)
CMP_I64(le, <=)
CMP_I64(gt, >)
CMP_I64(ge, >=)
