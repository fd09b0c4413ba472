// Reductions (sum, max), argmax / argmin and one_hot.
//
// Sum and max reduce the middle dim of a contiguous [outer, r, inner] tensor:
// - `reduce_rows_*` (inner == 1): one 256-thread block per (row, segment of the row), a
//   block-wide reduction; `splits` segments of `seg` elements per row give rows * splits
//   partial results (a second launch with splits = 1 reduces them).
// - `reduce_mid_*`: one thread per (outer, segment, inner) output, looping over its segment of
//   r (consecutive threads read consecutive `inner` elements: coalesced); output
//   [outer, splits, inner].
// Max skips NaN like the CPU (`v > acc ? v : acc` from -inf, and fmaxf in block_max).

#define ROW_REDUCE(name, init, combine, block_reduce)                                               \
    extern "C" __global__ void name(const float* x, float* y, long long rows, long long cols,       \
                                    long long splits, long long seg) {                              \
        for (long long b = blockIdx.x; b < rows * splits; b += gridDim.x) {                         \
            long long row = b / splits, s = b % splits;                                             \
            long long start = s * seg;                                                              \
            long long end = start + seg < cols ? start + seg : cols;                                \
            const float* xr = x + row * cols;                                                       \
            float acc = (init);                                                                     \
            for (long long k = start + threadIdx.x; k < end; k += blockDim.x) {                     \
                float v = xr[k];                                                                    \
                acc = (combine);                                                                    \
            }                                                                                       \
            acc = block_reduce(acc);                                                                \
            if (threadIdx.x == 0) y[b] = acc;                                                       \
        }                                                                                           \
    }

#define MID_REDUCE(name, init, combine)                                                             \
    extern "C" __global__ void name(const float* x, float* y, long long outer, long long r,         \
                                    long long inner, long long splits, long long seg) {             \
        GRID_STRIDE(i, outer * splits * inner) {                                                    \
            long long in = i % inner, t = i / inner;                                                \
            long long s = t % splits, o = t / splits;                                               \
            long long start = s * seg;                                                              \
            long long end = start + seg < r ? start + seg : r;                                      \
            const float* p = x + o * r * inner + in;                                                \
            float acc = (init);                                                                     \
            for (long long k = start; k < end; ++k) {                                               \
                float v = p[k * inner];                                                             \
                acc = (combine);                                                                    \
            }                                                                                       \
            y[i] = acc;                                                                             \
        }                                                                                           \
    }

ROW_REDUCE(reduce_rows_sum, 0.0f, acc + v, block_sum)
ROW_REDUCE(reduce_rows_max, ARC_NEG_INF, (v > acc ? v : acc), block_max)
MID_REDUCE(reduce_mid_sum, 0.0f, acc + v)
MID_REDUCE(reduce_mid_max, ARC_NEG_INF, (v > acc ? v : acc))

// Whether (v, i) beats the current best (b, bi) under the CPU's rule for argmax / argmin:
// the first NaN wins; otherwise the larger (argmax) or smaller (argmin) value; ties go to
// the lower index.
__device__ __forceinline__ bool arg_better(float v, long long i, float b, long long bi, int is_min) {
    bool vn = v != v, bn = b != b;
    if (vn || bn) return vn && (!bn || i < bi);
    if (v == b) return i < bi;
    return is_min ? v < b : v > b;
}

// Index of the extreme along the middle dim of [outer, r, inner] (r >= 1), one thread per
// (outer, inner): the CPU's sequential scan exactly.
extern "C" __global__ void arg_mid(const float* x, long long* y, long long outer, long long r,
                                   long long inner, int is_min) {
    GRID_STRIDE(i, outer * inner) {
        long long in = i % inner, o = i / inner;
        const float* p = x + o * r * inner + in;
        long long best = 0;
        float b = p[0];
        for (long long k = 1; k < r; ++k) {
            if (b != b) break;
            float v = p[k * inner];
            if (v != v || (is_min ? v < b : v > b)) {
                best = k;
                b = v;
            }
        }
        y[i] = best;
    }
}

// The same over the rows of [rows, cols] (cols >= 1), one block of ARC_ARG_THREADS threads
// per row: each thread scans its strided share in increasing order, then a tree reduction
// with `arg_better` (bi == -1 marks a thread that saw nothing).
#define ARC_ARG_THREADS 256
extern "C" __global__ void arg_rows(const float* x, long long* y, long long rows, long long cols, int is_min) {
    __shared__ float sv[ARC_ARG_THREADS];
    __shared__ long long si[ARC_ARG_THREADS];
    for (long long row = blockIdx.x; row < rows; row += gridDim.x) {
        const float* xr = x + row * cols;
        float b = 0.0f;
        long long bi = -1;
        for (long long k = threadIdx.x; k < cols; k += blockDim.x) {
            float v = xr[k];
            if (bi < 0 || arg_better(v, k, b, bi, is_min)) {
                b = v;
                bi = k;
            }
        }
        sv[threadIdx.x] = b;
        si[threadIdx.x] = bi;
        __syncthreads();
        for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s) {
                float ov = sv[threadIdx.x + s];
                long long oi = si[threadIdx.x + s];
                if (oi >= 0 && (si[threadIdx.x] < 0 || arg_better(ov, oi, sv[threadIdx.x], si[threadIdx.x], is_min))) {
                    sv[threadIdx.x] = ov;
                    si[threadIdx.x] = oi;
                }
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) y[row] = si[0];
        __syncthreads();
    }
}

// y[row, c] = (labels[row] == c); a label outside 0..classes records its row in `bad`
// (atomicMin, so the first bad row wins; `bad` starts at n).
extern "C" __global__ void one_hot(const long long* labels, float* y, long long n, long long classes,
                                   long long* bad) {
    GRID_STRIDE(i, n * classes) {
        long long row = i / classes, c = i % classes;
        long long l = labels[row];
        y[i] = (l == c) ? 1.0f : 0.0f;
        if (c == 0 && (l < 0 || l >= classes)) atomicMin(bad, row);
    }
}
