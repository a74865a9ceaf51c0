/*
 * Optimizer updates, fused over a list of parameters: SGD (momentum,
 * dampening, Nesterov, weight decay, maximize), Adam and AdamW (amsgrad,
 * maximize) and gradient-norm clipping.
 *
 * The rules are PyTorch's, step by step in float32: the first SGD momentum
 * step copies the gradient into the buffer, Adam's bias corrections are
 * computed in double and applied as float scalars. Updates write parameter
 * storage directly (never through autograd) and bump its version, so a
 * graph that saved the old values refuses to run backward. Parameters
 * without a .grad are skipped. Each tensor's loop is split across threads
 * when it is large; results do not depend on the thread count.
 */
#include "internal.h"

#include <omp.h>
#include <stdlib.h>

/* State tensors (momentum buffers, Adam moments) must match their parameter. */
static int check_state(const char *op, const char *what, int i, const mg_tensor *p, const mg_tensor *s) {
    if (!s) return mg_error("%s: %s of parameter %d is missing", op, what, i + 1);
    if (s->dtype != MG_F32 || !mg_same_shape(s, p) || !mg_is_contiguous(s))
        return mg_error("%s: %s of parameter %d must be a contiguous float32 tensor of shape %s, got %s %s%s", op,
                        what, i + 1, mg_shp(p), mg_dtype_name(s->dtype), mg_shp2(s),
                        mg_is_contiguous(s) ? "" : " (not contiguous)");
    if (s->storage == p->storage || (p->grad && s->storage == p->grad->storage))
        return mg_error("%s: %s of parameter %d shares memory with the parameter or its gradient", op, what, i + 1);
    return MG_OK;
}

/* Two state tensors of one parameter must not share memory either. */
static int check_distinct(const char *op, int i, const mg_tensor *a, const mg_tensor *b) {
    if (a && b && a->storage == b->storage)
        return mg_error("%s: two state tensors of parameter %d share memory", op, i + 1);
    return MG_OK;
}

static int check_param(const char *op, int i, const mg_tensor *p) {
    if (!p) return mg_error("%s: parameter %d is missing", op, i + 1);
    if (p->dtype != MG_F32) return mg_error("%s: parameter %d must be float32, got %s", op, i + 1, mg_dtype_name(p->dtype));
    if (p->grad && (p->grad->dtype != MG_F32 || !mg_same_shape(p->grad, p)))
        return mg_error("%s: the gradient of parameter %d is %s %s, expected float32 %s", op, i + 1,
                        mg_dtype_name(p->grad->dtype), mg_shp(p->grad), mg_shp2(p));
    if (p->grad && p->grad->storage == p->storage)
        return mg_error("%s: the gradient of parameter %d shares memory with the parameter", op, i + 1);
    return MG_OK;
}

/* Contiguous buffers of a parameter's gradient (*g) and of the parameter
 * itself (*w: the parameter, or a copy that finish_param() writes back). */
static int start_param(mg_tensor *p, mg_tensor **g, mg_tensor **w) {
    *g = mg_as_contiguous(p->grad);
    *w = mg_as_contiguous(p);
    if (*g && *w) return MG_OK;
    mg_release(*g);
    mg_release(*w);
    return MG_ERR;
}

static void finish_param(mg_tensor *p, mg_tensor *g, mg_tensor *w) {
    mg_release(g);
    if (w != p) mg_strided_copy(p, w);
    mg_release(w);
    mg_bump_version(p);
}

/* The part [*lo, *hi) of n elements that thread t of nt updates (multiples
 * of 16, so vectors stay aligned as the tensors are). */
static void thread_range(int64_t n, int t, int nt, int64_t *lo, int64_t *hi) {
    int64_t per = ((n + nt - 1) / nt + 15) / 16 * 16;
    *lo = (int64_t)t * per < n ? (int64_t)t * per : n;
    *hi = *lo + per < n ? *lo + per : n;
}

/* ---- SGD ------------------------------------------------------------------ */

typedef struct {
    float neg_lr, wd, momentum, damp1;
    bool nesterov, maximize, use_momentum, first;
} sgd_k;

/* param (n), grad (n), buf (n, or NULL without momentum). The flags are
 * compile-time constants in each caller below, so every variant is a
 * branch-free loop that vectorizes. */
static inline __attribute__((always_inline)) void
sgd_loop(float *restrict p, const float *restrict g, float *restrict buf, int64_t n, const sgd_k *k, bool maximize,
         bool use_wd, bool use_momentum, bool first, bool nesterov) {
    const float neg_lr = k->neg_lr, wd = k->wd, mom = k->momentum, damp1 = k->damp1;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float d = maximize ? -g[i] : g[i];
        if (use_wd) d = d + wd * p[i];
        if (use_momentum) {
            float b = first ? d : buf[i] * mom + damp1 * d;
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        p[i] = p[i] + neg_lr * d;
    }
}

#define SGD_VARIANT(mx, wd, mom, first, nest) sgd_loop(p, g, buf, n, k, mx, wd, mom, first, nest)

static void sgd_range(float *p, const float *g, float *buf, int64_t n, const sgd_k *k) {
    bool wd = k->wd != 0.0f;
    if (k->maximize) { /* rare: one variant, flags tested in the loop */
        if (!k->use_momentum) SGD_VARIANT(true, wd, false, false, false);
        else SGD_VARIANT(true, wd, true, k->first, k->nesterov);
        return;
    }
    if (!k->use_momentum) {
        if (wd) SGD_VARIANT(false, true, false, false, false);
        else SGD_VARIANT(false, false, false, false, false);
    } else if (k->first) {
        SGD_VARIANT(false, wd, true, true, k->nesterov);
    } else if (k->nesterov) {
        if (wd) SGD_VARIANT(false, true, true, false, true);
        else SGD_VARIANT(false, false, true, false, true);
    } else {
        if (wd) SGD_VARIANT(false, true, true, false, false);
        else SGD_VARIANT(false, false, true, false, false);
    }
}

static void sgd_kernel(float *p, const float *g, float *buf, int64_t n, const sgd_k *k) {
    if (n <= MG_PAR_GRAIN || mg_threads() == 1) {
        sgd_range(p, g, buf, n, k);
        return;
    }
#pragma omp parallel
    {
        int64_t lo, hi;
        thread_range(n, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        if (hi > lo) sgd_range(p + lo, g + lo, buf ? buf + lo : NULL, hi - lo, k);
    }
}

int mg_sgd_step(int n, mg_tensor *const *params, mg_tensor *const *bufs, const mg_sgd_opts *o, bool first_step) {
    const char *op = "sgd_step";
    if (!(o->lr >= 0)) return mg_error("%s: lr must be >= 0, got %g", op, o->lr);
    if (!(o->momentum >= 0)) return mg_error("%s: momentum must be >= 0, got %g", op, o->momentum);
    if (!(o->weight_decay >= 0)) return mg_error("%s: weight_decay must be >= 0, got %g", op, o->weight_decay);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return mg_error("%s: Nesterov momentum needs momentum > 0 and dampening 0", op);
    sgd_k k = {.neg_lr = (float)-o->lr, .wd = (float)o->weight_decay, .momentum = (float)o->momentum,
               .damp1 = (float)(1.0 - o->dampening), .nesterov = o->nesterov, .maximize = o->maximize,
               .use_momentum = o->momentum != 0, .first = first_step};
    for (int i = 0; i < n; i++) {
        if (check_param(op, i, params[i])) return MG_ERR;
        if (k.use_momentum && params[i]->grad && check_state(op, "momentum buffer", i, params[i], bufs ? bufs[i] : NULL))
            return MG_ERR;
    }
    for (int i = 0; i < n; i++) {
        mg_tensor *p = params[i];
        if (!p->grad) continue;
        mg_tensor *g, *w;
        if (start_param(p, &g, &w)) return MG_ERR;
        float *buf = k.use_momentum ? mg_f32(bufs[i]) : NULL;
        sgd_kernel(mg_f32(w), mg_f32(g), buf, mg_numel(p), &k);
        if (buf) mg_bump_version(bufs[i]);
        finish_param(p, g, w);
    }
    return MG_OK;
}

/* ---- Adam / AdamW ------------------------------------------------------------ */

typedef struct {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, wd, decay, eps, bc2_sqrt, neg_step_size;
    bool coupled_wd, decoupled_wd, amsgrad, maximize;
} adam_k;

/* param, grad, m, v, vmax (NULL unless amsgrad): n each. As sgd_loop, the
 * flags are constants in each caller. */
static inline __attribute__((always_inline)) void
adam_loop(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, float *restrict vmax,
          int64_t n, const adam_k *k, bool maximize, bool coupled_wd, bool decoupled_wd, bool amsgrad) {
    const float b1 = k->beta1, omb1 = k->one_minus_beta1, b2 = k->beta2, omb2 = k->one_minus_beta2;
    const float wd = k->wd, decay = k->decay, eps = k->eps, bc2s = k->bc2_sqrt, nss = k->neg_step_size;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float gi = maximize ? -g[i] : g[i];
        float pi = p[i];
        if (decoupled_wd) pi = pi * decay;
        if (coupled_wd) gi = gi + wd * pi;
        float mi = m[i] * b1 + omb1 * gi;
        float vi = v[i] * b2 + omb2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (amsgrad) {
            float mx = vmax[i];
            mx = (vi > mx || vi != vi) ? vi : mx; /* NaN propagates, as torch.maximum */
            vmax[i] = mx;
            vi = mx;
        }
        float denom = sqrtf(vi) / bc2s + eps;
        p[i] = pi + nss * mi / denom;
    }
}

static void adam_range(float *p, const float *g, float *m, float *v, float *vmax, int64_t n, const adam_k *k) {
    if (k->maximize || k->amsgrad) /* less common: flags tested in the loop */
        adam_loop(p, g, m, v, vmax, n, k, k->maximize, k->coupled_wd, k->decoupled_wd, k->amsgrad);
    else if (k->coupled_wd)
        adam_loop(p, g, m, v, NULL, n, k, false, true, false, false);
    else if (k->decoupled_wd)
        adam_loop(p, g, m, v, NULL, n, k, false, false, true, false);
    else
        adam_loop(p, g, m, v, NULL, n, k, false, false, false, false);
}

static void adam_kernel(float *p, const float *g, float *m, float *v, float *vmax, int64_t n, const adam_k *k) {
    if (n <= MG_PAR_GRAIN || mg_threads() == 1) {
        adam_range(p, g, m, v, vmax, n, k);
        return;
    }
#pragma omp parallel
    {
        int64_t lo, hi;
        thread_range(n, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        if (hi > lo) adam_range(p + lo, g + lo, m + lo, v + lo, vmax ? vmax + lo : NULL, hi - lo, k);
    }
}

int mg_adam_step(int n, mg_tensor *const *params, mg_tensor *const *m, mg_tensor *const *v,
                 mg_tensor *const *vmax, int64_t step, const mg_adam_opts *o) {
    const char *op = o->decoupled ? "adamw_step" : "adam_step";
    if (!(o->lr >= 0)) return mg_error("%s: lr must be >= 0, got %g", op, o->lr);
    if (!(o->beta1 >= 0 && o->beta1 < 1)) return mg_error("%s: beta1 must be in [0, 1), got %g", op, o->beta1);
    if (!(o->beta2 >= 0 && o->beta2 < 1)) return mg_error("%s: beta2 must be in [0, 1), got %g", op, o->beta2);
    if (!(o->eps >= 0)) return mg_error("%s: eps must be >= 0, got %g", op, o->eps);
    if (!(o->weight_decay >= 0)) return mg_error("%s: weight_decay must be >= 0, got %g", op, o->weight_decay);
    if (step < 1) return mg_error("%s: step must be >= 1 (the count after this update), got %lld", op, (long long)step);
    if (o->amsgrad && !vmax) return mg_error("%s: amsgrad needs the max_exp_avg_sq tensors", op);
    for (int i = 0; i < n; i++) {
        if (check_param(op, i, params[i])) return MG_ERR;
        if (!params[i]->grad) continue;
        if (check_state(op, "exp_avg", i, params[i], m[i]) || check_state(op, "exp_avg_sq", i, params[i], v[i]))
            return MG_ERR;
        if (o->amsgrad && check_state(op, "max_exp_avg_sq", i, params[i], vmax[i])) return MG_ERR;
        if (check_distinct(op, i, m[i], v[i]) || (o->amsgrad && (check_distinct(op, i, m[i], vmax[i]) ||
                                                                 check_distinct(op, i, v[i], vmax[i]))))
            return MG_ERR;
    }
    double bc1 = 1.0 - pow(o->beta1, (double)step);
    double bc2 = 1.0 - pow(o->beta2, (double)step);
    adam_k k = {.beta1 = (float)o->beta1, .one_minus_beta1 = (float)(1.0 - o->beta1), .beta2 = (float)o->beta2,
                .one_minus_beta2 = (float)(1.0 - o->beta2), .wd = (float)o->weight_decay,
                .decay = (float)(1.0 - o->lr * o->weight_decay), .eps = (float)o->eps, .bc2_sqrt = (float)sqrt(bc2),
                .neg_step_size = (float)-(o->lr / bc1), .coupled_wd = !o->decoupled && o->weight_decay != 0,
                .decoupled_wd = o->decoupled && o->weight_decay != 0, .amsgrad = o->amsgrad, .maximize = o->maximize};
    for (int i = 0; i < n; i++) {
        mg_tensor *p = params[i];
        if (!p->grad) continue;
        mg_tensor *g, *w;
        if (start_param(p, &g, &w)) return MG_ERR;
        adam_kernel(mg_f32(w), mg_f32(g), mg_f32(m[i]), mg_f32(v[i]), o->amsgrad ? mg_f32(vmax[i]) : NULL,
                    mg_numel(p), &k);
        mg_bump_version(m[i]);
        mg_bump_version(v[i]);
        if (o->amsgrad) mg_bump_version(vmax[i]);
        finish_param(p, g, w);
    }
    return MG_OK;
}

/* ---- gradient clipping ------------------------------------------------------- */

#define NORM_BLOCK 65536

/* Sum of squares of x (n), in double, by fixed blocks so that the result
 * does not depend on the thread count. partial has one slot per block. */
static double sum_squares(const float *x, int64_t n, double *partial) {
    int64_t nb = (n + NORM_BLOCK - 1) / NORM_BLOCK;
#pragma omp parallel for if (n > MG_PAR_GRAIN) schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t lo = b * NORM_BLOCK, hi = lo + NORM_BLOCK < n ? lo + NORM_BLOCK : n;
        double s = 0;
        for (int64_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
        partial[b] = s;
    }
    double s = 0;
    for (int64_t b = 0; b < nb; b++) s += partial[b];
    return s;
}

double mg_clip_grad_norm(int n, mg_tensor *const *params, double max_norm) {
    const char *op = "clip_grad_norm";
    if (!(max_norm >= 0)) {
        mg_error("%s: max_norm must be >= 0, got %g", op, max_norm);
        return -1;
    }
    int64_t max_blocks = 1;
    for (int i = 0; i < n; i++) {
        if (check_param(op, i, params[i])) return -1;
        if (!params[i]->grad) continue;
        int64_t nb = (mg_numel(params[i]) + NORM_BLOCK - 1) / NORM_BLOCK;
        if (nb > max_blocks) max_blocks = nb;
    }
    double *partial = malloc((size_t)max_blocks * sizeof *partial);
    if (!partial) {
        mg_error("%s: out of memory", op);
        return -1;
    }
    double total = 0;
    for (int i = 0; i < n; i++) {
        mg_tensor *g = params[i]->grad;
        if (!g) continue;
        mg_tensor *c = mg_as_contiguous(g);
        if (!c) {
            free(partial);
            return -1;
        }
        total += sum_squares(mg_f32(c), mg_numel(c), partial);
        mg_release(c);
    }
    free(partial);
    double norm = sqrt(total);
    double coef = max_norm / (norm + 1e-6);
    if (!(coef >= 1.0)) { /* NaN norms propagate into the gradients, as PyTorch's do */
        float s = (float)coef;
        for (int i = 0; i < n; i++) {
            mg_tensor *g = params[i]->grad;
            if (!g) continue;
            if (mg_is_contiguous(g)) {
                float *d = mg_f32(g);
                int64_t len = mg_numel(g);
#pragma omp parallel for if (len > MG_PAR_GRAIN) schedule(static)
                for (int64_t j = 0; j < len; j++) d[j] *= s;
                mg_bump_version(g);
            } else if (mg_scale_(g, s)) {
                return -1;
            }
        }
    }
    return norm;
}
