/*
 * Shared internals of the core: error macros, the tape node, the op table,
 * strided iteration and threading helpers. Not part of the public API.
 */
#ifndef MG_INTERNAL_H
#define MG_INTERNAL_H

#include "mg.h"

#include <math.h>
#include <string.h>

/* Records "op: message" and jumps to the function's `fail:` label. */
#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            mg_error(__VA_ARGS__);                                             \
            goto fail;                                                         \
        }                                                                      \
    } while (0)
/* Jumps to `fail:` when a call that already set an error returned NULL. */
#define TRY(ptr)                                                               \
    do {                                                                       \
        if (!(ptr)) goto fail;                                                 \
    } while (0)
#define TRY_OK(status)                                                         \
    do {                                                                       \
        if ((status) != MG_OK) goto fail;                                      \
    } while (0)

#define MG_SHAPE_BUF 160
/* A shape string usable inline in one error message (four rotating
 * slots per thread: up to four shapes in one message). */
const char *mg_shp(const mg_tensor *t);
const char *mg_shp2(const mg_tensor *t);
/* Shape string of a raw shape array. */
char *mg_shape_str_raw(int ndim, const int64_t *shape, char *buf, size_t n);

/* ---- allocation (alloc.c) ------------------------------------------------ */
/* 64-byte aligned, from the reuse cache when a block of the size class is free. */
void *mg_alloc(size_t nbytes, size_t *got);
void mg_free(void *p, size_t got);
mg_storage *mg_storage_new(size_t nbytes);
void mg_storage_release(mg_storage *s);

/* ---- tensor internals (tensor.c) ----------------------------------------- */
/* A new tensor header sharing base's storage. */
mg_tensor *mg_alias(const mg_tensor *base, int ndim, const int64_t *shape,
                    const int64_t *stride, int64_t offset);
/* Row-major contiguous strides for shape. */
void mg_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
int64_t mg_shape_numel(int ndim, const int64_t *shape);
mg_tensor *mg_empty_shape_of(mg_dtype dtype, const mg_tensor *like);
/* Refuses an in-place write on a tensor that needs grad while grad mode is on. */
int mg_check_inplace(const char *op, const mg_tensor *t);
/* A dim in [-ndim, ndim) made non-negative, or MG_ERR with a message. */
int mg_check_dim(const char *op, int dim, int ndim);
/* A contiguous copy or t itself (retained); never records autograd. */
mg_tensor *mg_as_contiguous(const mg_tensor *t);
/* dst = src where src's strides were already broadcast to dst's shape. */
void mg_strided_copy(mg_tensor *dst, const mg_tensor *src);

/* ---- broadcasting (ops_elementwise.c) -------------------------------------- */
int mg_broadcast_shape(const char *op, const mg_tensor *a, const mg_tensor *b,
                       int *ndim, int64_t *shape);
/* Strides of t as seen through shape (0 on broadcast dims). */
void mg_broadcast_strides(const mg_tensor *t, int ndim, const int64_t *shape, int64_t *stride);

/* Iteration over up to 4 operands sharing one shape: dims are coalesced so
 * the inner loop is as long as possible. */
typedef struct {
    int nops, ndim;
    int64_t shape[MG_MAX_DIMS];
    int64_t stride[4][MG_MAX_DIMS];
    int64_t inner;  /* shape[ndim-1] */
    int64_t outer;  /* product of the other dims */
} mg_iter;
void mg_iter_init(mg_iter *it, int nops, int ndim, const int64_t *shape,
                  int64_t (*strides)[MG_MAX_DIMS]);
/* Element offsets of operand k at the start of outer row r. */
void mg_iter_offsets(const mg_iter *it, int64_t r, int64_t *offs);

/* ---- threading (threads.c) ------------------------------------------------- */
/* Loops below this many elements run on one thread. */
#define MG_PAR_GRAIN 32768
int mg_threads(void);
/* Measures the load now and then and sets the threads in use (threads.c);
 * called where work starts: tensor storage, kernel plans. */
void mg_threads_tick(void);
/* Row-major C = alpha * op(A) op(B) + beta * C. OpenBLAS runs on one thread;
 * large products are split across our threads by rows or columns. */
void mg_sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc);
/* The same on a single thread, for callers already inside a parallel loop. */
void mg_sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                     float *C, int64_t ldc);

/* ---- RNG (rng.c) -------------------------------------------------------- */
/* Reserves n consecutive counters of the global stream; returns the first. */
uint64_t mg_rng_reserve(uint64_t n);
uint64_t mg_rng_seed(void);
/* Four 32-bit random words for counter c (Philox 4x32-10). Inline, so a
 * loop over a tile of counters runs as one vector loop. */
static inline void mg_philox(uint64_t seed, uint64_t c, uint32_t out[4]) {
    uint32_t x0 = (uint32_t)c, x1 = (uint32_t)(c >> 32), x2 = 0x9E3779B9u, x3 = 0x243F6A88u;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * x0, p1 = (uint64_t)0xCD9E8D57u * x2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0, y1 = (uint32_t)p1;
        uint32_t y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1, y3 = (uint32_t)p0;
        x0 = y0, x1 = y1, x2 = y2, x3 = y3;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = x0, out[1] = x1, out[2] = x2, out[3] = x3;
}
static inline float mg_u01(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* ---- autograd (autograd.c) ------------------------------------------------- */
#define MG_NODE_MAX_INPUTS 4
/* Saved tensors held in the node itself; more spill to the heap (no limit). */
#define MG_NODE_INLINE_SAVED 4

typedef struct {
    mg_node *fn;     /* producer of a non-leaf input that requires grad */
    mg_tensor *leaf; /* a leaf input that requires grad */
    int ndim;        /* the input's shape, for reducing broadcast grads */
    int64_t shape[MG_MAX_DIMS];
} mg_edge;

typedef struct {
    mg_tensor *t;
    uint32_t version; /* the storage's version when saved */
} mg_saved_slot;

struct mg_node {
    int refcount;
    int op;
    int n_inputs;
    mg_edge in[MG_NODE_MAX_INPUTS];
    mg_saved_slot *saved; /* saved_inline, or a heap array once it is full */
    int n_saved, cap_saved;
    mg_saved_slot saved_inline[MG_NODE_INLINE_SAVED];
    /* Parameters: a few numbers in these slots for simple ops; an op with
     * more settings keeps its own struct of named fields (mg_node_params). */
    double f[6];
    int64_t i[16];
    void *params;
    int out_ndim;
    int64_t out_shape[MG_MAX_DIMS];
    bool released; /* saved tensors freed after backward */
    /* scratch of one backward pass */
    mg_tensor *grad;
    int visit;
    bool useful;
};

/* gin[k] must be set (new reference) for every k with needs[k]; gout is the
 * gradient of the node's output. Runs with grad mode off. */
typedef int (*mg_backward_fn)(mg_node *n, mg_tensor *gout, const bool *needs, mg_tensor **gin);

enum {
#define MG_OP(name, nin) MG_OP_##name,
#include "ops.def"
#undef MG_OP
    MG_OP_COUNT
};

#define MG_OP(name, nin) int mg_bw_##name(mg_node *n, mg_tensor *gout, const bool *needs, mg_tensor **gin);
#include "ops.def"
#undef MG_OP

/* True when grad mode is on and one of the inputs requires grad. */
bool mg_needs_grad(int n, mg_tensor *const *inputs);
/* Records a node producing `out` from inputs; sets out->grad_fn. NULL on error. */
mg_node *mg_record(int op, mg_tensor *out, int n_in, mg_tensor *const *inputs);
/* Saves an input (retained) or the op's own output (a detached alias, so no
 * reference cycle forms). */
int mg_save(mg_node *n, mg_tensor *t);
int mg_save_output(mg_node *n, mg_tensor *out);
/* A zeroed block of `size` bytes owned by the node (freed with it), for an
 * op's struct of named parameters; the same block on later calls. NULL with
 * an error when out of memory. */
void *mg_node_params(mg_node *n, size_t size);
/* A saved tensor, or NULL with an error if it was modified in place. */
mg_tensor *mg_saved(mg_node *n, int k);
/* For ops whose forward allocates: record, or release out and return NULL. */
mg_tensor *mg_finish_unary(int op, mg_tensor *out, mg_tensor *in, bool save_in, bool save_out);

#endif
