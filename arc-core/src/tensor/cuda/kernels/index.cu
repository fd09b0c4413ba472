// Integer indexing and selection: index_select / gather and their scatter-add backwards,
// where_cond. Index kernels never read or write out of bounds: an index outside [0, size)
// sets `*bad` to 1 (the host turns that into IndexOutOfRange) and its output element to 0.

// out[o, j, r] = x[o, idx[j], r] over a contiguous [outer, size, inner] x and [nidx] idx;
// n = outer * nidx * inner.
#define INDEX_SELECT(name, T)                                                               \
    extern "C" __global__ void name(const T* x, const long long* idx, T* out, long long size, \
                                    long long inner, long long nidx, long long n, int* bad) { \
        GRID_STRIDE(i, n) {                                                                 \
            long long r = i % inner;                                                        \
            long long j = (i / inner) % nidx;                                               \
            long long o = i / (inner * nidx);                                               \
            long long s = idx[j];                                                           \
            if (s < 0 || s >= size) {                                                       \
                *bad = 1;                                                                   \
                out[i] = (T)0;                                                              \
            } else {                                                                        \
                out[i] = x[(o * size + s) * inner + r];                                     \
            }                                                                               \
        }                                                                                   \
    }
INDEX_SELECT(index_select_f32, float)
INDEX_SELECT(index_select_i64, long long)

// The backward of index_select: full[o, idx[j], r] += g[o, j, r] into a zeroed full.
extern "C" __global__ void index_add_f32(const float* g, const long long* idx, float* full, long long size,
                                         long long inner, long long nidx, long long n) {
    GRID_STRIDE(i, n) {
        long long r = i % inner;
        long long j = (i / inner) % nidx;
        long long o = i / (inner * nidx);
        long long s = idx[j];
        if (s >= 0 && s < size) atomicAdd(&full[(o * size + s) * inner + r], g[i]);
    }
}

// out[p] = x[offset(p) + idx[p] * dstride]: `sx` walks the (contiguous) index's shape with
// x's strides and stride 0 along the gathered dim; n = numel(index).
extern "C" __global__ void gather_f32(const float* x, Strided sx, const long long* idx, float* out,
                                      long long size, long long dstride, long long n, int* bad) {
    GRID_STRIDE(i, n) {
        long long s = idx[i];
        if (s < 0 || s >= size) {
            *bad = 1;
            out[i] = 0.0f;
        } else {
            out[i] = x[strided_offset(sx, i) + s * dstride];
        }
    }
}

// The backward of gather: full[offset(p) + idx[p] * dstride] += g[p] into a zeroed full
// (x's offset is 0 in `sx` here: full is a fresh contiguous buffer).
extern "C" __global__ void gather_add_f32(const float* g, Strided sx, const long long* idx, float* full,
                                          long long size, long long dstride, long long n) {
    GRID_STRIDE(i, n) {
        long long s = idx[i];
        if (s >= 0 && s < size) atomicAdd(&full[strided_offset(sx, i) + s * dstride], g[i]);
    }
}

// y = c != 0 ? a : b over the broadcast shape (each operand read through its layout).
extern "C" __global__ void where_f32(const float* c, Strided sc, const float* a, Strided sa, const float* b,
                                     Strided sb, float* y, long long n) {
    GRID_STRIDE(i, n) {
        y[i] = c[strided_offset(sc, i)] != 0.0f ? a[strided_offset(sa, i)] : b[strided_offset(sb, i)];
    }
}
