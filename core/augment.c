/*
 * Batched image augmentations: affine resampling (random resized crop,
 * rotation and translation are one warp), brightness and contrast, Gaussian
 * blur and cutout. Every image of a batch x [B,C,H,W] has its own
 * parameters (row b of a parameter tensor); drawing them is the caller's
 * job (the Lua side draws them from the seeded global RNG), so each kernel
 * is a deterministic function that specs can pin down.
 *
 * These are data transforms, not differentiable ops: they record no tape
 * node and refuse an input that requires grad while grad mode is on (the
 * gradient would be silently lost). Outputs are new contiguous float32
 * tensors; images are processed in parallel, one (image, channel) plane per
 * task.
 */
#include "internal.h"

/* Checks that x is a float32 batch [B,C,H,W] that needs no gradient. */
static int check_batch(const char *op, const mg_tensor *x) {
    if (x->dtype != MG_F32) return mg_error("%s: images must be float32, got %s", op, mg_dtype_name(x->dtype));
    if (x->ndim != 4) return mg_error("%s: images must be a batch [B, C, H, W], got %s", op, mg_shp(x));
    if (x->requires_grad && mg_grad_enabled())
        return mg_error("%s: augmentations are not differentiable, but the images require grad (detach them "
                        "first)", op);
    return MG_OK;
}

/* Checks a parameter tensor: one row [cols] per image (cols 0: one value). */
static int check_params(const char *op, const mg_tensor *x, const mg_tensor *p, int64_t cols, const char *what,
                        mg_dtype dtype) {
    if (p->dtype != dtype)
        return mg_error("%s: %s must be %s, got %s", op, what, mg_dtype_name(dtype), mg_dtype_name(p->dtype));
    bool ok = cols == 0 ? (p->ndim == 1 && p->shape[0] == x->shape[0])
                        : (p->ndim == 2 && p->shape[0] == x->shape[0] && p->shape[1] == cols);
    if (!ok) {
        if (cols == 0)
            return mg_error("%s: %s must be [%lld] (one per image of %s), got %s", op, what,
                            (long long)x->shape[0], mg_shp(x), mg_shp2(p));
        return mg_error("%s: %s must be [%lld, %lld] (one row per image of %s), got %s", op, what,
                        (long long)x->shape[0], (long long)cols, mg_shp(x), mg_shp2(p));
    }
    return MG_OK;
}

/* ---- affine warp ------------------------------------------------------------ */

/* One plane: out (H,W) sampled from in (H,W) at the points theta maps the
 * output pixel centres to, in coordinates from the image centre; bilinear,
 * fill outside. */
static void warp_plane(float *out, const float *in, int64_t H, int64_t W, const float *t, float fill) {
    float cx = 0.5f * (float)(W - 1), cy = 0.5f * (float)(H - 1);
    for (int64_t i = 0; i < H; i++) {
        float v = (float)i - cy;
        for (int64_t j = 0; j < W; j++) {
            float u = (float)j - cx;
            float xs = cx + t[0] * u + t[1] * v + t[2];
            float ys = cy + t[3] * u + t[4] * v + t[5];
            float fx0 = floorf(xs), fy0 = floorf(ys);
            float ax = xs - fx0, ay = ys - fy0;
            /* outside by more than a pixel (or NaN): fill, and no int overflow below */
            if (!(fx0 >= -1.0f && fx0 <= (float)W && fy0 >= -1.0f && fy0 <= (float)H)) {
                out[i * W + j] = fill;
                continue;
            }
            int64_t x0 = (int64_t)fx0, y0 = (int64_t)fy0;
            float v00 = fill, v01 = fill, v10 = fill, v11 = fill;
            bool r0 = y0 >= 0 && y0 < H, r1 = y0 + 1 >= 0 && y0 + 1 < H;
            bool c0 = x0 >= 0 && x0 < W, c1 = x0 + 1 >= 0 && x0 + 1 < W;
            if (r0 && c0) v00 = in[y0 * W + x0];
            if (r0 && c1) v01 = in[y0 * W + x0 + 1];
            if (r1 && c0) v10 = in[(y0 + 1) * W + x0];
            if (r1 && c1) v11 = in[(y0 + 1) * W + x0 + 1];
            /* weights exactly 1 and 0 at integer points: identity maps copy exactly */
            float top = ax == 0.0f ? v00 : v00 + ax * (v01 - v00);
            float bot = ax == 0.0f ? v10 : v10 + ax * (v11 - v10);
            out[i * W + j] = ay == 0.0f ? top : top + ay * (bot - top);
        }
    }
}

mg_tensor *mg_affine_warp(const mg_tensor *x, const mg_tensor *theta, double fill) {
    const char *op = "affine_warp";
    mg_tensor *xc = NULL, *tc = NULL, *out = NULL;
    TRY_OK(check_batch(op, x));
    TRY_OK(check_params(op, x, theta, 6, "theta", MG_F32));
    TRY(xc = mg_as_contiguous(x));
    TRY(tc = mg_as_contiguous(theta));
    TRY(out = mg_empty(MG_F32, 4, x->shape));
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], plane = H * W;
    const float *px = mg_f32(xc), *pt = mg_f32(tc);
    float *po = mg_f32(out);
#pragma omp parallel for if (B * C * plane > MG_PAR_GRAIN / 4) schedule(static)
    for (int64_t p = 0; p < B * C; p++)
        warp_plane(po + p * plane, px + p * plane, H, W, pt + (p / C) * 6, (float)fill);
    mg_release(xc), mg_release(tc);
    return out;
fail:
    mg_release(xc), mg_release(tc), mg_release(out);
    return NULL;
}

/* ---- brightness and contrast ---------------------------------------------------- */

static inline float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

mg_tensor *mg_color_jitter(const mg_tensor *x, const mg_tensor *brightness, const mg_tensor *contrast, double lo,
                           double hi) {
    const char *op = "color_jitter";
    mg_tensor *xc = NULL, *bc = NULL, *cc = NULL, *out = NULL;
    TRY_OK(check_batch(op, x));
    TRY_OK(check_params(op, x, brightness, 0, "brightness", MG_F32));
    TRY_OK(check_params(op, x, contrast, 0, "contrast", MG_F32));
    CHECK(lo <= hi, "%s: clamp range lo %g must not exceed hi %g", op, lo, hi);
    TRY(xc = mg_as_contiguous(x));
    TRY(bc = mg_as_contiguous(brightness));
    TRY(cc = mg_as_contiguous(contrast));
    TRY(out = mg_empty(MG_F32, 4, x->shape));
    int64_t B = x->shape[0], n = mg_numel(x) / (B ? B : 1);
    const float *px = mg_f32(xc), *pb = mg_f32(bc), *pc = mg_f32(cc);
    float *po = mg_f32(out), flo = (float)lo, fhi = (float)hi;
#pragma omp parallel for if (B * n > MG_PAR_GRAIN / 4) schedule(static)
    for (int64_t b = 0; b < B; b++) {
        const float *in = px + b * n;
        float *o = po + b * n, br = pb[b], ct = pc[b];
        double s = 0;
        for (int64_t k = 0; k < n; k++) {
            o[k] = clampf(br * in[k], flo, fhi);
            s += o[k];
        }
        float m = n ? (float)(s / (double)n) : 0.0f;
        if (ct != 1.0f) /* contrast 1 keeps the pixels exactly */
            for (int64_t k = 0; k < n; k++) o[k] = clampf(ct * (o[k] - m) + m, flo, fhi);
    }
    mg_release(xc), mg_release(bc), mg_release(cc);
    return out;
fail:
    mg_release(xc), mg_release(bc), mg_release(cc), mg_release(out);
    return NULL;
}

/* ---- Gaussian blur --------------------------------------------------------------- */

/* Normalised weights w[0..2r] of a Gaussian with std sigma; sigma <= 0 gives
 * the identity (1 at the centre). */
static void gauss_weights(float *w, int r, float sigma) {
    for (int k = 0; k <= 2 * r; k++) w[k] = 0.0f;
    if (!(sigma > 0.0f)) {
        w[r] = 1.0f;
        return;
    }
    double s = 0;
    for (int k = -r; k <= r; k++) s += exp(-0.5 * (double)k * k / ((double)sigma * sigma));
    for (int k = -r; k <= r; k++) w[k + r] = (float)(exp(-0.5 * (double)k * k / ((double)sigma * sigma)) / s);
}

static inline int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

/* One plane, separable: rows into tmp, then columns into out; the image's
 * edge pixels repeat beyond the border. Each pass is a sum of 2r + 1
 * shifted rows, so the inner loops run along contiguous rows (vectorised):
 * a row is first copied into pad (W + 2r) with its edges repeated. */
static void blur_plane(float *out, float *tmp, float *pad, const float *in, int64_t H, int64_t W, const float *w,
                       int r) {
    for (int64_t i = 0; i < H; i++) {
        const float *src = in + i * W;
        for (int64_t j = -r; j < W + r; j++) pad[j + r] = src[clamp_index(j, W)];
        float *t = tmp + i * W;
        for (int64_t j = 0; j < W; j++) t[j] = 0.0f;
        for (int k = 0; k <= 2 * r; k++) {
            const float wk = w[k], *pk = pad + k;
#pragma omp simd
            for (int64_t j = 0; j < W; j++) t[j] += wk * pk[j];
        }
    }
    for (int64_t i = 0; i < H; i++) {
        float *o = out + i * W;
        for (int64_t j = 0; j < W; j++) o[j] = 0.0f;
        for (int k = 0; k <= 2 * r; k++) {
            const float wk = w[k], *tk = tmp + clamp_index(i + k - r, H) * W;
#pragma omp simd
            for (int64_t j = 0; j < W; j++) o[j] += wk * tk[j];
        }
    }
}

#define BLUR_MAX_RADIUS 32

mg_tensor *mg_gaussian_blur(const mg_tensor *x, const mg_tensor *sigma, int radius) {
    const char *op = "gaussian_blur";
    mg_tensor *xc = NULL, *sc = NULL, *out = NULL, *tmp = NULL, *pad = NULL;
    TRY_OK(check_batch(op, x));
    TRY_OK(check_params(op, x, sigma, 0, "sigma", MG_F32));
    CHECK(radius >= 0 && radius <= BLUR_MAX_RADIUS, "%s: radius must be in 0..%d (kernel size 2 radius + 1), got %d",
          op, BLUR_MAX_RADIUS, radius);
    TRY(xc = mg_as_contiguous(x));
    TRY(sc = mg_as_contiguous(sigma));
    TRY(out = mg_empty(MG_F32, 4, x->shape));
    TRY(tmp = mg_empty(MG_F32, 4, x->shape)); /* the row pass of each plane */
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], plane = H * W;
    int64_t pad_shape[2] = {B * C, W + 2 * radius};
    TRY(pad = mg_empty(MG_F32, 2, pad_shape)); /* one padded row per plane */
    const float *px = mg_f32(xc), *ps = mg_f32(sc);
    float *po = mg_f32(out), *pm = mg_f32(tmp);
    for (int64_t b = 0; b < B; b++)
        CHECK(ps[b] >= 0 && ps[b] < INFINITY, "%s: sigma must be finite and >= 0, got %g for image %lld", op,
              (double)ps[b], (long long)b + 1);
#pragma omp parallel for if (B * C * plane > MG_PAR_GRAIN / 8) schedule(static)
    for (int64_t p = 0; p < B * C; p++) {
        float w[2 * BLUR_MAX_RADIUS + 1];
        if (!(ps[p / C] > 0.0f)) { /* sigma 0: a copy */
            memcpy(po + p * plane, px + p * plane, sizeof(float) * (size_t)plane);
            continue;
        }
        gauss_weights(w, radius, ps[p / C]);
        blur_plane(po + p * plane, pm + p * plane, mg_f32(pad) + p * (W + 2 * radius), px + p * plane, H, W, w,
                   radius);
    }
    mg_release(xc), mg_release(sc), mg_release(tmp), mg_release(pad);
    return out;
fail:
    mg_release(xc), mg_release(sc), mg_release(tmp), mg_release(pad), mg_release(out);
    return NULL;
}

/* ---- cutout ------------------------------------------------------------------------ */

mg_tensor *mg_cutout(const mg_tensor *x, const mg_tensor *boxes, double value) {
    const char *op = "cutout";
    mg_tensor *out = NULL, *bc = NULL;
    TRY_OK(check_batch(op, x));
    TRY_OK(check_params(op, x, boxes, 4, "boxes", MG_I64));
    TRY(bc = mg_as_contiguous(boxes));
    const int64_t *pb = mg_i64(bc);
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    for (int64_t b = 0; b < B; b++)
        CHECK(pb[4 * b + 2] >= 0 && pb[4 * b + 3] >= 0, "%s: box %lld has a negative size %lldx%lld", op,
              (long long)b + 1, (long long)pb[4 * b + 2], (long long)pb[4 * b + 3]);
    TRY(out = mg_to_dtype(x, MG_F32)); /* a fresh contiguous copy */
    float *po = mg_f32(out), v = (float)value;
    for (int64_t b = 0; b < B; b++) {
        /* the box clipped to the image */
        int64_t top = pb[4 * b], left = pb[4 * b + 1];
        int64_t y0 = top < 0 ? 0 : top, x0 = left < 0 ? 0 : left;
        int64_t y1 = top > H - pb[4 * b + 2] ? H : top + pb[4 * b + 2];
        int64_t x1 = left > W - pb[4 * b + 3] ? W : left + pb[4 * b + 3];
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = y0; i < y1; i++)
                for (int64_t j = x0; j < x1; j++) po[((b * C + c) * H + i) * W + j] = v;
    }
    mg_release(bc);
    return out;
fail:
    mg_release(bc), mg_release(out);
    return NULL;
}
