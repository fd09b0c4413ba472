// Shared by every Arc kernel module (prepended to each source before NVRTC compiles it).
#define ARC_MAX_DIMS 8
// No system headers under NVRTC: infinities from their bit patterns.
#define ARC_INF __int_as_float(0x7f800000)
#define ARC_NEG_INF __int_as_float(0xff800000)

// A tensor's layout: element i (row-major over `shape`) lives at
// offset + sum(idx_d * strides[d]). Broadcast dims have stride 0.
struct Strided {
    int rank;
    int pad_;
    long long shape[ARC_MAX_DIMS];
    long long strides[ARC_MAX_DIMS];
    long long offset;
};

__device__ __forceinline__ long long strided_offset(const Strided& s, long long i) {
    long long off = s.offset;
    for (int d = s.rank - 1; d >= 0; --d) {
        long long idx = i % s.shape[d];
        i /= s.shape[d];
        off += idx * s.strides[d];
    }
    return off;
}

#define GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (long long)(n); \
         i += (long long)blockDim.x * gridDim.x)

// Block-wide sum / max over blockDim.x threads (a multiple of 32, at most 1024).
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
__device__ float block_sum(float v) {
    __shared__ float shared[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    v = (threadIdx.x < warps) ? shared[threadIdx.x] : 0.0f;
    if (warp == 0) v = warp_sum(v);
    if (threadIdx.x == 0) shared[0] = v;
    __syncthreads();
    float r = shared[0];
    __syncthreads();
    return r;
}
__device__ float block_max(float v) {
    __shared__ float shared[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    int warps = (blockDim.x + 31) >> 5;
    v = (threadIdx.x < warps) ? shared[threadIdx.x] : ARC_NEG_INF;
    if (warp == 0) v = warp_max(v);
    if (threadIdx.x == 0) shared[0] = v;
    __syncthreads();
    float r = shared[0];
    __syncthreads();
    return r;
}
