// The CUDA kernel of BCELoss's custom op `BinaryCrossEntropy` (binary.rs, `BCE_CUDA_SOURCE`),
// in Arc's custom-op convention (inputs, output, element count; `GRID_STRIDE` from common.cuh,
// which is prepended when it is compiled). Also compiled by arc-core's emulated kernel check
// (arc-core/tests/cuda_emu/harness_custom.cpp).
extern "C" __global__ void binary_cross_entropy(const float* x, const float* y, float* out, long long n) {
    GRID_STRIDE(i, n) {
        float xi = x[i], yi = y[i];
        out[i] = -(yi * fmaxf(logf(xi), -100.0f) + (1.0f - yi) * fmaxf(logf(1.0f - xi), -100.0f));
    }
}
