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
// While launch_racy runs a thread, its view of the output buffer [g_snap_lo, g_snap_hi) is a
// private snapshot; atomics go through to the real buffer at g_snap_real.
static float *g_snap_lo = nullptr, *g_snap_hi = nullptr, *g_snap_real = nullptr;
inline float atomicAdd(float* p, float v) {
    std::lock_guard<std::mutex> g(g_atomic);
    if (p >= g_snap_lo && p < g_snap_hi) p = g_snap_real + (p - g_snap_lo);
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

// The most adversarial interleaving for a scatter kernel writing the `n` floats at `out`:
// every thread reads `out` as it was at launch (`k` gets a private copy), its plain stores
// land when it ends (the last thread wins), and only its atomics see the other threads'
// updates. A read-modify-write that should be an atomic loses updates here, where the
// threads of `launch` would almost never interleave inside it.
inline void launch_racy(unsigned grid, unsigned block, float* out, size_t n, const std::function<void(float*)>& k) {
    gridDim.x = grid;
    blockDim.x = block;
    const std::vector<float> start(out, out + n);
    std::vector<float> snap;
    for (unsigned b = 0; b < grid; ++b) {
        blockIdx.x = b;
        for (unsigned t = 0; t < block; ++t) {
            threadIdx.x = t;
            snap = start;
            g_snap_lo = snap.data(), g_snap_hi = snap.data() + n, g_snap_real = out;
            k(snap.data());
            g_snap_lo = g_snap_hi = g_snap_real = nullptr;
            for (size_t j = 0; j < n; ++j)
                if (std::memcmp(&snap[j], &start[j], sizeof(float)) != 0) out[j] = snap[j];
        }
    }
}
