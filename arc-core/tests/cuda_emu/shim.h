// A minimal CPU emulation of the CUDA features Arc's kernels use, for testing kernel logic
// without a GPU: blocks run one at a time, each CUDA thread is a std::thread, __syncthreads
// and warp shuffles are barriers. `__shared__` becomes `static`, which is the block's shared
// memory because only one block runs at a time. Not a performance model.
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

struct dim3 { unsigned x = 1, y = 1, z = 1; };
static dim3 blockIdx, blockDim, gridDim;
static thread_local dim3 threadIdx;
static std::unique_ptr<std::barrier<>> g_block_barrier;
static std::vector<std::unique_ptr<std::barrier<>>> g_warp_barriers;
static float g_warp_buf[32][32];
static std::mutex g_atomic;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

inline void __syncthreads() { g_block_barrier->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int o) {
    unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    g_warp_buf[warp][lane] = v;
    g_warp_barriers[warp]->arrive_and_wait();
    float r = g_warp_buf[warp][lane ^ o];
    g_warp_barriers[warp]->arrive_and_wait();
    return r;
}
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float atomicAdd(float* p, float v) {
    std::lock_guard<std::mutex> g(g_atomic);
    float old = *p;
    *p = old + v;
    return old;
}
inline long long atomicMin(long long* p, long long v) {
    std::lock_guard<std::mutex> g(g_atomic);
    long long old = *p;
    if (v < old) *p = v;
    return old;
}

// Runs `k` over `grid` blocks of `block` threads (block a multiple of 32).
inline void launch(unsigned grid, unsigned block, const std::function<void()>& k) {
    gridDim.x = grid;
    blockDim.x = block;
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx.x = b;
        g_block_barrier = std::make_unique<std::barrier<>>(block);
        g_warp_barriers.clear();
        for (unsigned w = 0; w < block / 32; ++w) g_warp_barriers.push_back(std::make_unique<std::barrier<>>(32));
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < block; ++t) ts.emplace_back([t, &k] { threadIdx.x = t; k(); });
        for (auto& t : ts) t.join();
    }
}

// Runs a kernel without block-level synchronisation (no __syncthreads, no shuffles: the
// elementwise and index kernels) over `grid` blocks of `block` threads, one thread after
// another on the calling thread: fast enough for launches of millions of threads.
inline void launch_flat(unsigned grid, unsigned block, const std::function<void()>& k) {
    gridDim.x = grid;
    blockDim.x = block;
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx.x = b;
        for (unsigned t = 0; t < block; ++t) { threadIdx.x = t; k(); }
    }
}
