/*
 * Kernels of the convolution and pooling ops (nn_conv.c, nn_winograd.c,
 * nn_pool.c) over contiguous float buffers, each with its naive twin so
 * that a C test can compare the two. Internal to the core; mg.h holds the
 * public ops.
 *
 * Layouts: x (N,C,H,W), conv weight (K,C,kh,kw), output (N,K,OH,OW). A
 * transposed convolution is the adjoint of a convolution: its kernels are
 * stated in the geometry of the convolution it transposes (see
 * mg_conv_transpose_geom).
 */
#ifndef MG_NN_CONV_H
#define MG_NN_CONV_H

#include "internal.h"

/* Geometry of one convolution: input (N,C,H,W), weight (K,C,kh,kw),
 * output (N,K,OH,OW). OH and OW are given, not derived, so the kernels also
 * serve transposed convolutions whose output_padding makes the input larger
 * than the formula says. */
typedef struct {
    int64_t N, C, H, W, K, kh, kw, OH, OW;
    int64_t sh, sw, ph, pw, dh, dw;
} mg_conv_geom;

/* Fills g for conv2d of x (N,C,H,W) with weight (K,C,kh,kw) and checks the
 * options and the output size; MG_ERR with a message naming `op` otherwise. */
int mg_conv_geom_init(mg_conv_geom *g, const char *op, const mg_tensor *x, const mg_tensor *w,
                      const mg_conv_opts *o);
/* conv_transpose2d of x (N, Cin, H, W) with w (Cin, Cout, kh, kw) is the
 * input gradient of a convolution; fills g with that convolution's
 * geometry and checks: input (N, C = Cout, H = output height, W), weight
 * (K = Cin, C = Cout, kh, kw), which is w's own layout, output (N, K = Cin,
 * OH = x's H, OW = x's W). */
int mg_conv_transpose_geom(mg_conv_geom *g, const mg_tensor *x, const mg_tensor *w, const mg_conv_opts *o);

/* The checks of conv2d (dtypes, ranks, channels, bias, options, output
 * size) under the name op; fills g. */
int mg_conv2d_check(mg_conv_geom *g, const char *op, const mg_tensor *x, const mg_tensor *w, const mg_tensor *b,
                    const mg_conv_opts *o);
/* The output gradient a convolution's backward kernels read: dout
 * (N,K,OH,OW) itself, or (g set) the gradient of an epilogue's outputs
 * (N,K,OH/pool,OW/pool) with its codes, expanded into the convolution's
 * output shape where the kernels read it, a band of rows at a time. */
typedef struct {
    const float *dout;
    const float *g;
    const uint8_t *code;
    int pool;
} mg_conv_dout;
/* Rows [r0, r1) of plane (n, k) of the gradient d of a (N,K,OH,OW) output,
 * into dst (contiguous rows of OW). */
void mg_conv_dout_rows(float *dst, const mg_conv_dout *d, int64_t K, int64_t OH, int64_t OW, int64_t n, int64_t k,
                       int64_t r0, int64_t r1);
/* db[k] = the sum of plane k of the gradient over the batch. */
void mg_conv_dout_bias_grad(float *db, const mg_conv_dout *d, int64_t N, int64_t K, int64_t OH, int64_t OW);

/* The gradients a conv2d node is asked for (needs: x, w, b), made into
 * gin from the output gradient d. */
int mg_conv2d_grads(mg_tensor **gin, const bool *needs, const mg_conv_dout *d, mg_tensor *x, mg_tensor *w,
                    const mg_conv_geom *g);
/* A convolution's options in a tape node's slots i[0..7], and back. */
void mg_conv_opts_to_node(mg_node *n, const mg_conv_geom *g, const mg_conv_opts *o);
mg_conv_opts mg_conv_node_opts(const mg_node *n);

/* inp (N,C,H,W), w (K,C,kh,kw), b (K) or NULL -> out (N,K,OH,OW).
 * Returns MG_ERR only when scratch memory cannot be had. */
int mg_conv2d_fwd(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g);
void mg_conv2d_fwd_naive(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g);
/* dout (N,K,OH,OW) -> dinp (N,C,H,W), dw (K,C,kh,kw), db (K); each output
 * may be NULL (not computed) and is overwritten, not accumulated. inp is
 * read only for dw, w only for dinp. */
int mg_conv2d_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                  const mg_conv_geom *g);
void mg_conv2d_bwd_naive(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                         const float *w, const mg_conv_geom *g);
/* mg_conv2d_bwd from any gradient source (the GEMM and F(4x4) kernels
 * expand an epilogue's gradient in their units; F(2x2) gets it whole). */
int mg_conv2d_bwd_src(float *dinp, float *dw, float *db, const mg_conv_dout *d, const float *inp, const float *w,
                      const mg_conv_geom *g);
int mg_conv2d_bwd_gemm_src(float *dinp, float *dw, float *db, const mg_conv_dout *d, const float *inp,
                           const float *w, const mg_conv_geom *g);
int mg_conv2d_winograd4_bwd_src(float *dinp, float *dw, float *db, const mg_conv_dout *d, const float *inp,
                                const float *w, const mg_conv_geom *g);
/* The same through im2col + GEMM only (mg_conv2d_fwd/bwd choose between
 * this and Winograd's F(2x2, 3x3) or F(4x4, 3x3) by the multiplications
 * each needs, separately for the forward pass, the input gradient and the
 * weight gradient). */
int mg_conv2d_fwd_gemm(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g);
int mg_conv2d_bwd_gemm(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                       const mg_conv_geom *g);
/* Winograd's F(2x2, 3x3) (nn_winograd.c): for 3x3 kernels, stride 1,
 * dilation 1, padding at most 2, where it saves enough multiplications. */
bool mg_winograd_fits(const mg_conv_geom *g);
int mg_conv2d_winograd_fwd(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g);
int mg_conv2d_winograd_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const mg_conv_geom *g);
/* Multiplications per channel pair F(2x2, 3x3) does for N images of OH x
 * OW outputs, divided by the share of vector lanes it keeps busy. */
double mg_winograd_cost(int64_t N, int64_t OH, int64_t OW);
/* Winograd's F(4x4, 3x3) over 16 images at a time (nn_winograd4.c): for
 * 3x3 kernels, stride 1, dilation 1, padding at most 2, any channel counts
 * (mg_conv2d_fwd/bwd use it where it needs the fewest multiplications). */
bool mg_winograd4_fits(const mg_conv_geom *g);
double mg_winograd4_cost(int64_t N, int64_t OH, int64_t OW);
int mg_conv2d_winograd4_fwd(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g);
int mg_conv2d_winograd4_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                            const float *w, const mg_conv_geom *g);
/* Transposed convolution stated directly (scatter form), to test the tuned
 * path, which is mg_conv2d_bwd's input gradient. g is the geometry of the
 * convolution transposed (see mg_conv_transpose_geom): inp (N,K,OH,OW) ->
 * out (N,C,H,W), w (K,C,kh,kw) (conv_transpose2d's own weight layout,
 * [in channels, out channels, kh, kw]), b (C) or NULL. */
void mg_conv_transpose2d_fwd_naive(float *out, const float *inp, const float *w, const float *b,
                                   const mg_conv_geom *g);
/* db[k] = sum over n and positions of dout (N,K,P). */
void mg_conv_bias_grad(float *db, const float *dout, int64_t N, int64_t K, int64_t P);

/* A convolution's output passed on inside the kernels' units, while it is
 * in cache, through ReLU (pool 1) or ReLU and 2x2 max pooling with stride
 * 2 (pool 2): out is then (N,K,OH/pool,OW/pool) and code (may be NULL)
 * as for mg_relu_pool_fwd. */
typedef struct {
    int pool;
    uint8_t *code;
} mg_conv_epilogue;
/* mg_conv2d_fwd with an epilogue (e NULL: none, out is (N,K,OH,OW)). */
int mg_conv2d_fwd_fused(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g,
                        const mg_conv_epilogue *e);
int mg_conv2d_fwd_gemm_fused(float *out, const float *inp, const float *w, const float *b, const mg_conv_geom *g,
                             const mg_conv_epilogue *e);
int mg_conv2d_winograd4_fwd_fused(float *out, const float *inp, const float *w, const float *b,
                                  const mg_conv_geom *g, const mg_conv_epilogue *e);
/* The epilogue over one band of a plane: rows x W floats at y (rows ldy
 * floats apart) plus bias -> rows/pool rows of W/pool at out, codes
 * likewise. */
void mg_relu_pool_band(float *out, uint8_t *code, const float *y, int64_t ldy, int64_t rows, int64_t W, int pool,
                       float bias);

/* The epilogue of conv2d_relu_pool (nn_conv_fused.c) over planes of H x W
 * floats: pool 1, out = ReLU(y) and code 1 where y > 0, else 0; pool 2,
 * out (planes, H/2, W/2) = 2x2 max pooling (stride 2) of ReLU(y), code the
 * window's first maximum (0..3, row by row) or 4 when it is 0. code may be
 * NULL (no gradient wanted). The backward pass writes every element of dy. */
void mg_relu_pool_fwd(float *out, uint8_t *code, const float *y, int64_t planes, int64_t H, int64_t W, int pool);
void mg_relu_pool_fwd_naive(float *out, uint8_t *code, const float *y, int64_t planes, int64_t H, int64_t W,
                            int pool);
void mg_relu_pool_bwd(float *dy, const float *g, const uint8_t *code, int64_t planes, int64_t H, int64_t W,
                      int pool);
void mg_relu_pool_bwd_naive(float *dy, const float *g, const uint8_t *code, int64_t planes, int64_t H, int64_t W,
                            int pool);

/* Geometry of one pooling: x (N,C,H,W) -> out (N,C,OH,OW). */
typedef struct {
    int64_t N, C, H, W, OH, OW;
    int64_t kh, kw, sh, sw, ph, pw;
    bool ceil_mode, count_include_pad;
} mg_pool_geom;

int mg_pool_geom_init(mg_pool_geom *g, const char *op, const mg_tensor *x, const mg_pool_opts *o);
/* One output size of a pooling, PyTorch's rule: with ceil_mode the last
 * window must start inside the input or the left padding. */
int64_t mg_pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode);

/* inp (N,C,H,W) -> out (N,C,OH,OW); padding counts as -inf, NaN wins. */
void mg_max_pool2d_fwd(float *out, const float *inp, const mg_pool_geom *g);
void mg_max_pool2d_fwd_naive(float *out, const float *inp, const mg_pool_geom *g);
/* dout (N,C,OH,OW) -> dinp (N,C,H,W): each window's gradient goes to its
 * first maximum (recomputed from inp). dinp is overwritten. */
void mg_max_pool2d_bwd(float *dinp, const float *dout, const float *inp, const mg_pool_geom *g);
void mg_max_pool2d_bwd_naive(float *dinp, const float *dout, const float *inp, const mg_pool_geom *g);
/* The same as the tuned kernels, with the portable loops for 2x2 windows
 * (the tuned ones use AVX-512 where the build has it). */
void mg_max_pool2d_fwd_portable(float *out, const float *inp, const mg_pool_geom *g);
void mg_max_pool2d_bwd_portable(float *dinp, const float *dout, const float *inp, const mg_pool_geom *g);
void mg_avg_pool2d_fwd(float *out, const float *inp, const mg_pool_geom *g);
void mg_avg_pool2d_fwd_naive(float *out, const float *inp, const mg_pool_geom *g);
void mg_avg_pool2d_bwd(float *dinp, const float *dout, const mg_pool_geom *g);
void mg_avg_pool2d_bwd_naive(float *dinp, const float *dout, const mg_pool_geom *g);

#endif
