// The CUDA kernel of the example plugin's `SwiGluOp` (swiglu.rs, `SWIGLU_CUDA`), in Arc's
// custom-op convention (input, output, element count, then the scalar `h`; `GRID_STRIDE` from
// common.cuh, which is prepended when it is compiled). Also compiled by arc-core's emulated
// kernel check (arc-core/tests/cuda_emu/harness_custom.cpp).
extern "C" __global__ void swiglu(const float* x, float* y, long long n, long long h) {
    GRID_STRIDE(i, n) {
        long long r = i / h, c = i % h;
        float a = x[r * 2 * h + c];
        float b = x[r * 2 * h + h + c];
        y[i] = a / (1.0f + expf(-a)) * b;
    }
}
