/*
 * moongrad core: the one public header of the C tensor library.
 *
 * The core knows nothing of Lua. It owns tensors, the autograd tape, the
 * kernels and file IO.
 *
 * Ownership rules (read these before calling anything):
 *  - Every mg_tensor is refcounted. A function that returns mg_tensor *
 *    returns a NEW reference; the caller must mg_release() it.
 *  - Tensor arguments are borrowed: the callee retains what it keeps
 *    (a tape node saving an input, a tensor stored as .grad).
 *  - On error a function returns NULL (or MG_ERR) and sets a message that
 *    names the op and the shapes; read it with mg_last_error(). The core
 *    never aborts or exits on bad input; asserts guard moongrad's own bugs.
 *  - Dimensions and indices are 0-based here. The Lua bindings convert
 *    from Lua's 1-based convention in one place.
 *
 * Global state: the RNG, the grad-mode flag, the thread count and the
 * buffer cache. Nothing else.
 */
#ifndef MG_H
#define MG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_VERSION "0.1.0"
#define MG_MAX_DIMS 8
#define MG_OK 0
#define MG_ERR (-1)
/* Passed as dim to argmax, argmin and var: reduce over all elements. */
#define MG_ALL_DIMS INT32_MIN

typedef enum { MG_F32 = 0, MG_I64 = 1, MG_U8 = 2 } mg_dtype;

typedef struct mg_storage {
    void *data;
    size_t nbytes;
    int refcount;
    uint32_t version; /* bumped by every in-place write; checked by autograd */
} mg_storage;

typedef struct mg_node mg_node;

typedef struct mg_tensor {
    int refcount;
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_MAX_DIMS];
    int64_t stride[MG_MAX_DIMS]; /* in elements */
    int64_t offset;              /* in elements */
    mg_storage *storage;
    /* autograd */
    bool requires_grad;
    struct mg_tensor *grad; /* accumulated gradient of a leaf, or NULL */
    mg_node *grad_fn;       /* node that produced this tensor, or NULL (leaf) */
} mg_tensor;

/* ---- errors ------------------------------------------------------------ */
const char *mg_last_error(void);
int mg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes "[2, 3]" into buf (a shape as users read it). Returns buf. */
char *mg_shape_str(const mg_tensor *t, char *buf, size_t n);
const char *mg_dtype_name(mg_dtype d);
size_t mg_dtype_size(mg_dtype d);

/* ---- lifetime and basics ------------------------------------------------- */
mg_tensor *mg_retain(mg_tensor *t);
void mg_release(mg_tensor *t); /* NULL is fine */
int64_t mg_numel(const mg_tensor *t);
bool mg_is_contiguous(const mg_tensor *t);
bool mg_same_shape(const mg_tensor *a, const mg_tensor *b);
/* Pointer to the first element (storage data + offset). */
static inline float *mg_f32(const mg_tensor *t) { return (float *)t->storage->data + t->offset; }
static inline int64_t *mg_i64(const mg_tensor *t) { return (int64_t *)t->storage->data + t->offset; }
static inline uint8_t *mg_u8(const mg_tensor *t) { return (uint8_t *)t->storage->data + t->offset; }
/* Marks an in-place write (autograd checks saved tensors against it). */
void mg_bump_version(mg_tensor *t);

/* ---- constructors ------------------------------------------------------ */
mg_tensor *mg_empty(mg_dtype dtype, int ndim, const int64_t *shape);
mg_tensor *mg_zeros(mg_dtype dtype, int ndim, const int64_t *shape);
mg_tensor *mg_full(mg_dtype dtype, int ndim, const int64_t *shape, double value);
mg_tensor *mg_scalar(double value); /* 0-dim float32 */
mg_tensor *mg_arange(double start, double end, double step, mg_dtype dtype);
mg_tensor *mg_linspace(double start, double end, int64_t steps);
mg_tensor *mg_eye(int64_t n);
mg_tensor *mg_rand(int ndim, const int64_t *shape);  /* U[0, 1) */
mg_tensor *mg_randn(int ndim, const int64_t *shape); /* N(0, 1) */
/* Integers uniform in [low, high), int64. */
mg_tensor *mg_randint(int64_t low, int64_t high, int ndim, const int64_t *shape);
/* A random permutation of 0..n-1, int64. */
mg_tensor *mg_randperm(int64_t n);
/* Copies `data` (numel elements of dtype) into a new contiguous tensor. */
mg_tensor *mg_from_data(mg_dtype dtype, int ndim, const int64_t *shape, const void *data);
mg_tensor *mg_empty_like(const mg_tensor *t);
mg_tensor *mg_zeros_like(const mg_tensor *t);

/* ---- in-place writes (no autograd; refused on tensors that need grad
 *      while grad mode is on) ------------------------------------------- */
int mg_fill_(mg_tensor *t, double value);
int mg_zero_(mg_tensor *t);
int mg_uniform_(mg_tensor *t, double low, double high);
int mg_normal_(mg_tensor *t, double mean, double std);
int mg_bernoulli_(mg_tensor *t, double p); /* 1 with probability p, else 0 */
/* dst = src, src broadcast to dst's shape, dtypes converted. */
int mg_copy_(mg_tensor *dst, const mg_tensor *src);
int mg_add_(mg_tensor *t, const mg_tensor *other, double alpha); /* t += alpha*other */
int mg_mul_(mg_tensor *t, const mg_tensor *other);
int mg_scale_(mg_tensor *t, double s);
int mg_clamp_(mg_tensor *t, double lo, double hi);

/* ---- dtype and copies ----------------------------------------------------- */
mg_tensor *mg_to_dtype(const mg_tensor *t, mg_dtype dtype); /* new tensor */
mg_tensor *mg_contiguous(mg_tensor *t); /* t itself (retained) if already contiguous */
mg_tensor *mg_clone(mg_tensor *t);      /* differentiable copy */
mg_tensor *mg_detach(mg_tensor *t);     /* shares storage, no grad history */
/* Reads element at flat row-major index i (any dtype) as double. */
double mg_get_flat(const mg_tensor *t, int64_t i);
int mg_set_flat(mg_tensor *t, int64_t i, double v);
/* Copies all elements, row-major, into out (numel doubles). */
int mg_to_doubles(const mg_tensor *t, double *out);

/* ---- views (share storage; differentiable) -------------------------------- */
/* shape may contain one -1, inferred. view needs compatible strides. */
mg_tensor *mg_view(mg_tensor *t, int ndim, const int64_t *shape);
mg_tensor *mg_reshape(mg_tensor *t, int ndim, const int64_t *shape); /* view or copy */
mg_tensor *mg_transpose(mg_tensor *t, int d0, int d1);
mg_tensor *mg_permute(mg_tensor *t, const int *perm);
mg_tensor *mg_narrow(mg_tensor *t, int dim, int64_t start, int64_t length);
mg_tensor *mg_select(mg_tensor *t, int dim, int64_t index); /* drops dim */
mg_tensor *mg_squeeze(mg_tensor *t, int dim); /* dim < 0: all size-1 dims */
mg_tensor *mg_unsqueeze(mg_tensor *t, int dim);
mg_tensor *mg_expand(mg_tensor *t, int ndim, const int64_t *shape);
mg_tensor *mg_flatten(mg_tensor *t, int start_dim, int end_dim);

/* ---- elementwise (NumPy broadcasting; differentiable) --------------------- */
mg_tensor *mg_add(mg_tensor *a, mg_tensor *b);
mg_tensor *mg_sub(mg_tensor *a, mg_tensor *b);
mg_tensor *mg_mul(mg_tensor *a, mg_tensor *b);
mg_tensor *mg_div(mg_tensor *a, mg_tensor *b);
mg_tensor *mg_pow(mg_tensor *a, mg_tensor *b);
mg_tensor *mg_maximum(mg_tensor *a, mg_tensor *b);
mg_tensor *mg_minimum(mg_tensor *a, mg_tensor *b);
mg_tensor *mg_add_scalar(mg_tensor *a, double s);
mg_tensor *mg_mul_scalar(mg_tensor *a, double s);
mg_tensor *mg_pow_scalar(mg_tensor *a, double e);
mg_tensor *mg_rsub_scalar(mg_tensor *a, double s); /* s - a */
mg_tensor *mg_rdiv_scalar(mg_tensor *a, double s); /* s / a */
mg_tensor *mg_neg(mg_tensor *a);
mg_tensor *mg_exp(mg_tensor *a);
mg_tensor *mg_log(mg_tensor *a);
mg_tensor *mg_sqrt(mg_tensor *a);
mg_tensor *mg_abs(mg_tensor *a);
mg_tensor *mg_sign(mg_tensor *a); /* gradient zero */
mg_tensor *mg_sin(mg_tensor *a);
mg_tensor *mg_cos(mg_tensor *a);
mg_tensor *mg_relu(mg_tensor *a);
mg_tensor *mg_leaky_relu(mg_tensor *a, double slope);
mg_tensor *mg_sigmoid(mg_tensor *a);
mg_tensor *mg_tanh(mg_tensor *a);
mg_tensor *mg_gelu(mg_tensor *a); /* tanh approximation off: exact erf form */
mg_tensor *mg_softplus(mg_tensor *a);
mg_tensor *mg_clamp(mg_tensor *a, double lo, double hi); /* NAN = no bound */
/* Comparisons give float32 masks of 0 and 1 (not differentiable). */
typedef enum { MG_EQ, MG_NE, MG_LT, MG_LE, MG_GT, MG_GE } mg_cmp;
mg_tensor *mg_compare(const mg_tensor *a, const mg_tensor *b, mg_cmp cmp);
mg_tensor *mg_compare_scalar(const mg_tensor *a, double s, mg_cmp cmp);
/* cond != 0 ? a : b, broadcast; differentiable in a and b. */
mg_tensor *mg_where(const mg_tensor *cond, mg_tensor *a, mg_tensor *b);

/* ---- reductions: dims may be negative (counted from the end) ---------------- */
mg_tensor *mg_sum(mg_tensor *t);                           /* all: 0-dim */
mg_tensor *mg_sum_dim(mg_tensor *t, int dim, bool keepdim);
mg_tensor *mg_mean(mg_tensor *t);
mg_tensor *mg_mean_dim(mg_tensor *t, int dim, bool keepdim);
/* Sums t down to `shape` (the reverse of broadcasting). */
mg_tensor *mg_sum_to_shape(mg_tensor *t, int ndim, const int64_t *shape);
mg_tensor *mg_max(mg_tensor *t);
mg_tensor *mg_min(mg_tensor *t);
/* Values and (optionally) int64 indices along dim. */
int mg_max_dim(mg_tensor *t, int dim, bool keepdim, mg_tensor **values, mg_tensor **indices);
int mg_min_dim(mg_tensor *t, int dim, bool keepdim, mg_tensor **values, mg_tensor **indices);
mg_tensor *mg_argmax(const mg_tensor *t, int dim, bool keepdim); /* MG_ALL_DIMS: flat index */
mg_tensor *mg_argmin(const mg_tensor *t, int dim, bool keepdim);
/* dim MG_ALL_DIMS: over all elements. correction 1 = unbiased. */
mg_tensor *mg_var(mg_tensor *t, int dim, bool keepdim, int correction);
mg_tensor *mg_logsumexp(mg_tensor *t, int dim, bool keepdim);

/* ---- sorting and counting (ops_sort.c) ---------------------------------------
 * Indices are 0-based int64; integer inputs (int64, uint8) sort as int64 and
 * keep their dtype in the values. NaN sorts above every number; ties keep
 * their order (lower index first). */
/* Values and indices of t sorted along dim; values are differentiable. */
int mg_sort(mg_tensor *t, int dim, bool descending, mg_tensor **values, mg_tensor **indices);
/* The k largest (smallest when !largest) along dim, in order; indices may be NULL. */
int mg_topk(mg_tensor *t, int64_t k, int dim, bool largest, mg_tensor **values, mg_tensor **indices);
/* Running sums along dim: float32 stays float32 (differentiable), integers give int64. */
mg_tensor *mg_cumsum(mg_tensor *t, int dim);
/* Counts of each value of a 1-D integer tensor of bins 0, 1, ... (at least
 * minlength of them); with float32 weights of x's shape, sums of weights. */
mg_tensor *mg_bincount(const mg_tensor *x, const mg_tensor *weights, int64_t minlength);
/* Sorted distinct values (1-D), the position in them of each element of t
 * (t's shape) and how often each occurs (int64). */
int mg_unique(const mg_tensor *t, mg_tensor **values, mg_tensor **inverse, mg_tensor **counts);

/* ---- linear algebra --------------------------------------------------------- */
/* 1-D, 2-D, and batched (leading dims broadcast) products. */
mg_tensor *mg_matmul(mg_tensor *a, mg_tensor *b);

/* ---- joining and indexing --------------------------------------------------- */
/* Same dtype; sizes equal except in dim (1-D empty tensors are skipped).
 * Outputs of these ops are new contiguous tensors of the input's dtype. */
mg_tensor *mg_cat(int n, mg_tensor *const *ts, int dim);
/* Same shape and dtype; dim in [-(ndim+1), ndim]. */
mg_tensor *mg_stack(int n, mg_tensor *const *ts, int dim);
/* index: 1-D int64 with 0-based values. */
mg_tensor *mg_index_select(mg_tensor *t, int dim, const mg_tensor *index);
/* index: int64, same ndim as t. */
mg_tensor *mg_gather(mg_tensor *t, int dim, const mg_tensor *index);
/* Rotates by k*90 degrees in the plane (d0, d1), d0 towards d1 as torch.rot90. */
mg_tensor *mg_rot90(mg_tensor *t, int k, int d0, int d1);
mg_tensor *mg_flip(mg_tensor *t, int ndims, const int *dims);
/* mask (any dtype, broadcast to t) != 0 ? value : t; differentiable in t. */
mg_tensor *mg_masked_fill(mg_tensor *t, const mg_tensor *mask, double value);
/* One-hot float32 [..., n] from 0-based int64 classes; n < 0: max class + 1. */
mg_tensor *mg_one_hot(const mg_tensor *classes, int64_t n);

/* ---- neural-network ops (fused; each records one tape node) ---------------- */
/* x [..., in], w [out, in], b [out] or NULL */
mg_tensor *mg_linear(mg_tensor *x, mg_tensor *w, mg_tensor *b);
typedef struct {
    int stride[2], padding[2], dilation[2], output_padding[2];
} mg_conv_opts;
/* x [N,C,H,W], w [K,C,kh,kw], b [K] or NULL -> [N,K,OH,OW] */
mg_tensor *mg_conv2d(mg_tensor *x, mg_tensor *w, mg_tensor *b, const mg_conv_opts *o);
/* conv2d then ReLU (pool 1), or then ReLU and 2x2 max pooling with stride
 * 2 (pool 2, output [N,K,OH/2,OW/2]), as one op (the same values). */
mg_tensor *mg_conv2d_relu_pool(mg_tensor *x, mg_tensor *w, mg_tensor *b, const mg_conv_opts *o, int pool);
/* x [N,C,H,W], w [C,K,kh,kw], b [K] or NULL -> [N,K,OH,OW] */
mg_tensor *mg_conv_transpose2d(mg_tensor *x, mg_tensor *w, mg_tensor *b, const mg_conv_opts *o);
typedef struct {
    int kernel[2], stride[2], padding[2];
    bool ceil_mode, count_include_pad;
} mg_pool_opts;
mg_tensor *mg_max_pool2d(mg_tensor *x, const mg_pool_opts *o);
mg_tensor *mg_avg_pool2d(mg_tensor *x, const mg_pool_opts *o);
/* x [N,C] or [N,C,*]. running_* may be NULL; updated in training. */
mg_tensor *mg_batch_norm(mg_tensor *x, mg_tensor *weight, mg_tensor *bias,
                         mg_tensor *running_mean, mg_tensor *running_var,
                         bool training, double momentum, double eps);
/* Normalises over the trailing `nnorm` dims; weight/bias of that shape or NULL. */
mg_tensor *mg_layer_norm(mg_tensor *x, int nnorm, mg_tensor *weight, mg_tensor *bias, double eps);
mg_tensor *mg_dropout(mg_tensor *x, double p, bool training);
/* ids int64 (0-based) of any shape, weight [V, D] -> [..., D] */
mg_tensor *mg_embedding(const mg_tensor *ids, mg_tensor *weight);
mg_tensor *mg_softmax(mg_tensor *x, int dim);
mg_tensor *mg_log_softmax(mg_tensor *x, int dim);
typedef enum { MG_REDUCE_MEAN = 0, MG_REDUCE_SUM = 1, MG_REDUCE_NONE = 2 } mg_reduction;
/* logits [N,C], targets int64 [N] 0-based (ignore_index skipped) */
mg_tensor *mg_cross_entropy(mg_tensor *logits, const mg_tensor *targets, mg_reduction r,
                            double label_smoothing, int64_t ignore_index);
mg_tensor *mg_nll_loss(mg_tensor *logp, const mg_tensor *targets, mg_reduction r);
mg_tensor *mg_binary_cross_entropy(mg_tensor *p, mg_tensor *target, mg_reduction r);
mg_tensor *mg_binary_cross_entropy_with_logits(mg_tensor *z, mg_tensor *target, mg_reduction r);
mg_tensor *mg_mse_loss(mg_tensor *a, mg_tensor *b, mg_reduction r);
mg_tensor *mg_l1_loss(mg_tensor *a, mg_tensor *b, mg_reduction r);
/* Options of scaled dot-product attention (zero-initialise, then set). */
typedef struct {
    /* NULL, or broadcast to the scores [..., L, S]: float32 is added to the
     * scores (and may require grad); uint8/int64 is boolean, a nonzero
     * entry allowing attention (F.scaled_dot_product_attention's meaning),
     * or forbidding it when attn_mask_blocks (nn.MultiheadAttention's). */
    mg_tensor *attn_mask;
    bool attn_mask_blocks;
    /* NULL, or [N, S] for q [N, ..., L, E] ([S] for a 2-D q): uint8/int64
     * nonzero marks a padding key that no query attends; float32 is added. */
    const mg_tensor *key_padding_mask;
    bool is_causal;   /* query i attends keys j <= i only */
    double dropout_p; /* dropout on the attention weights (0: none) */
    double scale;     /* NAN: 1/sqrt(E) */
    /* What backward reads: 1 the weights kept by forward (memory L x S per
     * slice), -1 recomputes them from one number per query row, 0 chooses
     * (keeps up to 16M weights, where that was measured faster). */
    int keep_weights;
} mg_sdpa_opts;
/* softmax(q k^T * scale + masks) v, with dropout on the weights: q [..., L, E],
 * k [..., S, E], v [..., S, Ev] (equal leading dims) -> [..., L, Ev]. A query
 * row whose keys are all masked gets zeros. One fused op; backward keeps
 * one number per query row besides the inputs. o may be NULL. */
mg_tensor *mg_scaled_dot_product_attention(mg_tensor *q, mg_tensor *k, mg_tensor *v, const mg_sdpa_opts *o);
/* Identity forward; gradient multiplied by -lambda backward. */
mg_tensor *mg_grad_reverse(mg_tensor *x, double lambda);

/* NT-Xent (SimCLR): z1, z2 [N, D] two views' projections; mean over the 2N
 * anchors of the cross-entropy of the positive pair against the 2(N-1)
 * negatives, cosine similarities over temperature. 0-dim. */
mg_tensor *mg_nt_xent(mg_tensor *z1, mg_tensor *z2, double temperature);

/* ---- augmentation (augment.c): batched, one parameter row per image;
 *      not differentiable (images that require grad are refused) --------- */
/* theta [B,6] maps each output pixel centre (u, v), columns and rows
 * counted from the image centre, to the input point (t0 u + t1 v + t2,
 * t3 u + t4 v + t5) from the centre, sampled bilinearly; `fill` outside
 * the image. Identity rows copy exactly. */
mg_tensor *mg_affine_warp(const mg_tensor *x, const mg_tensor *theta, double fill);
/* y = clamp(brightness[b] x, lo, hi), then clamp(contrast[b] (y - m) + m,
 * lo, hi) with m the mean of image b's y (all channels). brightness,
 * contrast [B]. */
mg_tensor *mg_color_jitter(const mg_tensor *x, const mg_tensor *brightness, const mg_tensor *contrast, double lo,
                           double hi);
/* Separable Gaussian of std sigma[b] ([B], 0 = copy), kernel 2 radius + 1
 * wide (radius 0..32), edge pixels repeated beyond the border. */
mg_tensor *mg_gaussian_blur(const mg_tensor *x, const mg_tensor *sigma, int radius);
/* boxes int64 [B,4] = (top, left, height, width), 0-based, clipped to the
 * image: every channel of the box set to value. */
mg_tensor *mg_cutout(const mg_tensor *x, const mg_tensor *boxes, double value);

/* ---- autograd ------------------------------------------------------------ */
bool mg_grad_enabled(void);
void mg_set_grad_enabled(bool on);
/* Only float32 leaves can require grad. */
int mg_set_requires_grad(mg_tensor *t, bool on);
/* Accumulates d(root)/d(leaf) into leaf->grad for every leaf that requires
 * grad. grad_root NULL means ones (root must then have one element). */
int mg_backward(mg_tensor *root, const mg_tensor *grad_root, bool retain_graph);
/* Gradients of sum(outputs[i] * grad_outputs[i]) w.r.t. inputs, returned as
 * new references in result[] (zeros where an input is unused). Leaves'
 * .grad are not touched. grad_outputs may be NULL (all ones). */
int mg_grad(int n_out, mg_tensor *const *outputs, mg_tensor *const *grad_outputs,
            int n_in, mg_tensor *const *inputs, mg_tensor **result, bool retain_graph);
/* Names of all differentiable ops in the op table. */
int mg_op_count(void);
const char *mg_op_name(int op);
/* Name of the op that produced t ("" for a leaf). */
const char *mg_grad_fn_name(const mg_tensor *t);

/* ---- optimizers (fused updates over a list of parameters) ---------------- */
typedef struct {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
} mg_sgd_opts;
/* bufs[i] is the momentum buffer of params[i] (same shape), used when momentum > 0. */
int mg_sgd_step(int n, mg_tensor *const *params, mg_tensor *const *bufs, const mg_sgd_opts *o,
                bool first_step);
typedef struct {
    double lr, beta1, beta2, eps, weight_decay;
    bool decoupled; /* AdamW */
    bool amsgrad, maximize;
} mg_adam_opts;
/* m, v (and vmax for amsgrad, else NULL) are per-parameter state; step is
 * the 1-based step count after this update. */
int mg_adam_step(int n, mg_tensor *const *params, mg_tensor *const *m, mg_tensor *const *v,
                 mg_tensor *const *vmax, int64_t step, const mg_adam_opts *o);
/* Scales all grads so that their joint L2 norm is at most max_norm; returns the norm
 * (before scaling), or -1 with an error set on bad input. */
double mg_clip_grad_norm(int n, mg_tensor *const *params, double max_norm);

/* ---- runtime settings ---------------------------------------------------- */
/* Threads asked for (1..256). The kernels use fewer while other processes
 * keep cores busy (measured every 100 ms), unless adaptation is off
 * (mg_set_thread_adapt(false), or MG_THREAD_ADAPT=0 in the environment). */
void mg_set_num_threads(int n);
int mg_get_num_threads(void); /* as asked */
int mg_active_threads(void);  /* in use now */
void mg_set_thread_adapt(bool on);
/* The policy: of `want` threads, how many to use on `cores` cores while
 * other processes keep `others` cores busy (at least 1). */
int mg_thread_policy(int want, int cores, double others);
void mg_manual_seed(uint64_t seed);
/* The RNG state is two numbers: the seed and how many draws were made. */
void mg_rng_get_state(uint64_t *seed, uint64_t *counter);
void mg_rng_set_state(uint64_t seed, uint64_t counter);
/* Bytes of tensor storage alive, and bytes held in the reuse cache. */
size_t mg_live_bytes(void);
/* Bytes handed out since the start (never decreases): a clock of allocation. */
size_t mg_allocated_bytes(void);
/* The most live bytes since the start or the last reset (reset: start over). */
size_t mg_peak_live_bytes(bool reset);
size_t mg_cached_bytes(void);
void mg_empty_cache(void);

/* ---- IO ------------------------------------------------------------------ */
/* IDX file, plain or gzip. ubyte -> U8, int types -> I64, float types -> F32. */
mg_tensor *mg_read_idx(const char *path);
/* The same as float32 values times scale (uint8 images: 1/255 gives [0, 1]),
 * converted while reading. */
mg_tensor *mg_read_idx_scaled(const char *path, float scale);
int mg_write_idx_u8(const char *path, const mg_tensor *t, bool gzip);
/* safetensors. Writing is atomic (temp file, fsync, rename). */
int mg_save_safetensors(const char *path, int n, const char *const *names,
                        mg_tensor *const *tensors, const char *metadata_json);
/* On success *names and *tensors are malloc'd arrays of n entries (names
 * malloc'd too); free with mg_free_named(). *metadata_json (malloc'd,
 * may be NULL) is the raw "__metadata__" object. */
int mg_load_safetensors(const char *path, int *n, char ***names, mg_tensor ***tensors,
                        char **metadata_json);
void mg_free_named(int n, char **names, mg_tensor **tensors);
/* 8-bit PNG, channels 1 (grey), 3 (RGB) or 4 (RGBA), rows top to bottom. */
int mg_write_png(const char *path, int width, int height, int channels, const uint8_t *pixels);
/* 8-bit non-interlaced grey, RGB or RGBA PNG -> uint8 [H,W], [H,W,3] or [H,W,4]. */
mg_tensor *mg_read_png(const char *path);
/* Atomic file write: temp file in the same folder, fsync, rename. */
int mg_write_file_atomic(const char *path, const void *data, size_t n);

/* ---- drawing (draw.c) ------------------------------------------------------
 * A canvas is a contiguous uint8 tensor [H,W], [H,W,1], [H,W,3] or [H,W,4].
 * Colours are 0xRRGGBB (grey canvases get the luma). Pixel (x, y) is
 * column x, row y, 0-based, centred on integer coordinates; drawing
 * outside the canvas is clipped. */
int mg_draw_rect(mg_tensor *canvas, int x, int y, int w, int h, uint32_t rgb);
/* Anti-aliased segment, `width` pixels thick, round ends. */
int mg_draw_line(mg_tensor *canvas, double x0, double y0, double x1, double y1, double width,
                 uint32_t rgb);
int mg_draw_disc(mg_tensor *canvas, double cx, double cy, double radius, uint32_t rgb);
/* Bitmap text (ASCII 32..126, '\n' breaks lines) at integer scale 1..16,
 * (x, y) the top-left corner of its box; vertical: turned a quarter
 * anticlockwise (reads upwards), the box then being height x width. */
int mg_draw_text(mg_tensor *canvas, int x, int y, const char *text, int scale, uint32_t rgb,
                 bool vertical);
/* Size of the unturned box of text at scale. */
void mg_text_size(const char *text, int scale, int *width, int *height);
/* image [H,W], [1,H,W] or [3,H,W] (any dtype), each pixel a scale x scale
 * block with its top-left at (x, y); values lo..hi map to 0..255, clipped. */
int mg_draw_image(mg_tensor *canvas, const mg_tensor *image, int x, int y, int scale, double lo,
                  double hi);

/* ---- text: a BPE tokenizer (text_*.c) ----------------------------------------
 * Lower-casing, pieces cut at white space and punctuation, "##" on pieces
 * that continue a word, byte fallback (nothing is unknown). Ids are 0-based:
 * [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4. Encoding caches the pieces
 * it has seen, so a tokenizer must not encode from two threads at once. */
typedef struct mg_tokenizer mg_tokenizer;
typedef struct {
    int vocab_size;     /* at most this many tokens (specials and bytes included) */
    int min_frequency;  /* characters and merged pairs seen fewer times are left out */
    int max_word_chars; /* longer words are cut into pieces of this many characters */
    bool lowercase;
} mg_bpe_opts;
mg_tokenizer *mg_bpe_train(int64_t n, const char *const *texts, const size_t *lens, const mg_bpe_opts *o);
void mg_tokenizer_free(mg_tokenizer *t);
/* The tokenizer as JSON (malloc'd, *len bytes); written atomically by save. */
char *mg_tokenizer_to_json(const mg_tokenizer *t, size_t *len);
int mg_tokenizer_save(const mg_tokenizer *t, const char *path);
mg_tokenizer *mg_tokenizer_from_json(const char *json, size_t len);
mg_tokenizer *mg_tokenizer_load(const char *path);
int mg_tokenizer_vocab_size(const mg_tokenizer *t);
int mg_tokenizer_merge_count(const mg_tokenizer *t);
bool mg_tokenizer_lowercase(const mg_tokenizer *t);
int mg_tokenizer_max_word_chars(const mg_tokenizer *t);
const char *mg_tokenizer_special_name(int k); /* "[PAD]" ... "[MASK]", k 0..4 */
/* The string of token id (NULL when out of range), and the id of a string (-1). */
const char *mg_tokenizer_token(const mg_tokenizer *t, int64_t id, size_t *len);
int mg_tokenizer_token_id(const mg_tokenizer *t, const char *s, size_t n);
/* The ids of one text (no special tokens) into *ids, a malloc'd buffer of
 * *cap entries grown as needed; *n is set to the count. */
int mg_tokenizer_encode(mg_tokenizer *t, const char *text, size_t len, int32_t **ids, int64_t *n, int64_t *cap);
typedef struct {
    int64_t max_length; /* <= 0: no truncation */
    int64_t head;       /* tokens kept from the start when truncating (< 0: a quarter) */
    bool add_special;   /* [CLS] first, [SEP] last */
    bool pad_to_max;    /* width max_length, else the longest sequence */
} mg_encode_opts;
/* Texts -> ids int64 [n, width] padded with [PAD], mask float32 [n, width]
 * (1 on tokens), lengths int64 [n]. Longer texts keep their first `head`
 * and last tokens. */
int mg_tokenizer_encode_batch(mg_tokenizer *t, int64_t n, const char *const *texts, const size_t *lens,
                              const mg_encode_opts *o, mg_tensor **ids, mg_tensor **mask, mg_tensor **lengths);
/* Ids -> text (malloc'd, NUL-terminated, *len bytes): continuation pieces
 * joined, others after one space; [PAD] always skipped, the other special
 * tokens when skip_special. */
char *mg_tokenizer_decode(const mg_tokenizer *t, const int64_t *ids, int64_t n, bool skip_special, size_t *len);
/* What decode(encode(text)) gives (malloc'd, NUL-terminated): the pieces
 * (lower-cased if asked), one space where white space separated them. */
char *mg_text_normalize(const char *text, size_t len, bool lowercase, size_t *out_len);
/* Hashed word (and, with ngrams 2, word-pair) counts of each text, for
 * linear models: the distinct bins of text i are ids[offsets[i] ..
 * offsets[i+1]) (int64, 0-based bins, ascending) with counts (float32);
 * offsets int64 [n + 1]. Words are the pieces that are not punctuation. */
typedef struct {
    int64_t buckets;
    int ngrams; /* 1 or 2 */
    bool lowercase;
} mg_ngram_opts;
int mg_text_ngrams(int64_t n, const char *const *texts, const size_t *lens, const mg_ngram_opts *o,
                   mg_tensor **ids, mg_tensor **counts, mg_tensor **offsets);

#endif
