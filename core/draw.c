/*
 * Drawing on canvases, for pictures of what models do: filled rectangles,
 * anti-aliased lines and discs, bitmap text (core/font.c) and images blown
 * up by an integer factor.
 *
 * A canvas is a contiguous uint8 tensor [H,W] (grey), [H,W,1], [H,W,3]
 * (RGB) or [H,W,4] (RGBA; drawing makes pixels opaque). Colours are
 * 0xRRGGBB; a grey canvas receives their luma. Pixel (x, y) is column x,
 * row y, 0-based, with its centre at the integer coordinates; whatever
 * falls outside the canvas is clipped.
 */
#include "internal.h"
#include "font.h"

#include <stdlib.h>

typedef struct {
    uint8_t *p;
    int w, h, c;
} canvas;

static int open_canvas(const char *op, mg_tensor *t, canvas *cv) {
    if (!t) return mg_error("%s: no canvas", op);
    if (t->dtype != MG_U8)
        return mg_error("%s: canvas must be uint8, got %s", op, mg_dtype_name(t->dtype));
    bool shape_ok = t->ndim == 2 || (t->ndim == 3 && (t->shape[2] == 1 || t->shape[2] == 3 || t->shape[2] == 4));
    if (!shape_ok) return mg_error("%s: canvas must be [H,W] or [H,W,C] with C 1, 3 or 4, got %s", op, mg_shp(t));
    if (!mg_is_contiguous(t)) return mg_error("%s: canvas must be contiguous", op);
    if (t->shape[0] > INT32_MAX / 4 || t->shape[1] > INT32_MAX / 4)
        return mg_error("%s: canvas %s is too large", op, mg_shp(t));
    cv->p = mg_u8(t);
    cv->h = (int)t->shape[0];
    cv->w = (int)t->shape[1];
    cv->c = t->ndim == 2 ? 1 : (int)t->shape[2];
    mg_bump_version(t);
    return MG_OK;
}

static inline uint8_t luma(uint32_t rgb) {
    unsigned r = (rgb >> 16) & 255, g = (rgb >> 8) & 255, b = rgb & 255;
    return (uint8_t)((r * 299 + g * 587 + b * 114 + 500) / 1000);
}

/* Blends colour rgb over pixel (x, y) with opacity a in [0, 1]; (x, y) must be inside. */
static inline void blend(const canvas *cv, int x, int y, uint32_t rgb, float a) {
    uint8_t *px = cv->p + ((size_t)y * cv->w + x) * cv->c;
    uint8_t col[3] = {(uint8_t)(rgb >> 16), (uint8_t)(rgb >> 8), (uint8_t)rgb};
    if (cv->c == 1) {
        float v = px[0] + (luma(rgb) - px[0]) * a;
        px[0] = (uint8_t)(v + 0.5f);
        return;
    }
    if (cv->c == 4 && px[3] != 255) { /* drawing over transparency: the colour itself */
        float base = px[3] / 255.0f;
        for (int k = 0; k < 3; k++) px[k] = (uint8_t)(px[k] * base * (1 - a) + col[k] * a + 0.5f);
        px[3] = (uint8_t)(255 * (a + base * (1 - a)) + 0.5f);
        return;
    }
    for (int k = 0; k < 3; k++) px[k] = (uint8_t)(px[k] + (col[k] - px[k]) * a + 0.5f);
}

static inline void put(const canvas *cv, int x, int y, uint32_t rgb) {
    uint8_t *px = cv->p + ((size_t)y * cv->w + x) * cv->c;
    if (cv->c == 1) {
        px[0] = luma(rgb);
        return;
    }
    px[0] = (uint8_t)(rgb >> 16);
    px[1] = (uint8_t)(rgb >> 8);
    px[2] = (uint8_t)rgb;
    if (cv->c == 4) px[3] = 255;
}

static inline float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

int mg_draw_rect(mg_tensor *t, int x, int y, int w, int h, uint32_t rgb) {
    canvas cv;
    TRY_OK(open_canvas("draw_rect", t, &cv));
    int64_t x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int64_t x1 = (int64_t)x + w, y1 = (int64_t)y + h;
    if (x1 > cv.w) x1 = cv.w;
    if (y1 > cv.h) y1 = cv.h;
    for (int64_t yy = y0; yy < y1; yy++)
        for (int64_t xx = x0; xx < x1; xx++) put(&cv, (int)xx, (int)yy, rgb);
    return MG_OK;
fail:
    return MG_ERR;
}

/* Distance from (px, py) to the segment (x0, y0)-(x1, y1). */
static float seg_dist(float px, float py, float x0, float y0, float x1, float y1) {
    float dx = x1 - x0, dy = y1 - y0;
    float len2 = dx * dx + dy * dy;
    float s = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
    s = clamp01(s);
    float ex = x0 + s * dx - px, ey = y0 + s * dy - py;
    return sqrtf(ex * ex + ey * ey);
}

/* An anti-aliased segment of the given thickness with round ends: a pixel
 * is covered by (thickness/2 + 1/2 - distance), clipped to [0, 1]. */
int mg_draw_line(mg_tensor *t, double x0d, double y0d, double x1d, double y1d, double width, uint32_t rgb) {
    canvas cv;
    TRY_OK(open_canvas("draw_line", t, &cv));
    CHECK(isfinite(x0d) && isfinite(y0d) && isfinite(x1d) && isfinite(y1d),
          "draw_line: coordinates must be finite (got %g, %g, %g, %g)", x0d, y0d, x1d, y1d);
    CHECK(width > 0 && width <= 64, "draw_line: width must be in (0, 64], got %g", width);
    /* far outside: nothing to draw (also keeps the loops bounded) */
    double lim = 4.0 * (cv.w + cv.h) + 128;
    if (fmax(fabs(x0d), fabs(x1d)) > lim || fmax(fabs(y0d), fabs(y1d)) > lim) {
        /* clip the segment to a box around the canvas first */
        double bx0 = -lim / 8, by0 = -lim / 8, bx1 = cv.w + lim / 8, by1 = cv.h + lim / 8;
        double t0 = 0, t1 = 1, dx = x1d - x0d, dy = y1d - y0d;
        double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0d - bx0, bx1 - x0d, y0d - by0, by1 - y0d};
        for (int k = 0; k < 4; k++) {
            if (p[k] == 0) {
                if (q[k] < 0) return MG_OK;
                continue;
            }
            double r = q[k] / p[k];
            if (p[k] < 0) t0 = fmax(t0, r);
            else t1 = fmin(t1, r);
        }
        if (t0 > t1) return MG_OK;
        double nx0 = x0d + t0 * dx, ny0 = y0d + t0 * dy;
        x1d = x0d + t1 * dx;
        y1d = y0d + t1 * dy;
        x0d = nx0;
        y0d = ny0;
    }
    float x0 = (float)x0d, y0 = (float)y0d, x1 = (float)x1d, y1 = (float)y1d;
    float hw = (float)width / 2;
    float reach = hw + 0.5f;
    bool steep = fabsf(y1 - y0) > fabsf(x1 - x0);
    /* walk the major axis; on each step the band spans a few minor pixels */
    float a0 = steep ? y0 : x0, a1 = steep ? y1 : x1, b0 = steep ? x0 : y0, b1 = steep ? x1 : y1;
    if (a0 > a1) {
        float s = a0; a0 = a1; a1 = s;
        s = b0; b0 = b1; b1 = s;
    }
    float slope = a1 > a0 ? (b1 - b0) / (a1 - a0) : 0;
    float span = reach * sqrtf(1 + slope * slope) + 1;
    int amax = steep ? cv.h - 1 : cv.w - 1, bmax = steep ? cv.w - 1 : cv.h - 1;
    int ia0 = (int)floorf(a0 - reach), ia1 = (int)ceilf(a1 + reach);
    if (ia0 < 0) ia0 = 0;
    if (ia1 > amax) ia1 = amax;
    for (int a = ia0; a <= ia1; a++) {
        float ac = a < a0 ? a0 : a > a1 ? a1 : (float)a;
        float bc = b0 + (ac - a0) * slope;
        int ib0 = (int)floorf(bc - span), ib1 = (int)ceilf(bc + span);
        if (ib0 < 0) ib0 = 0;
        if (ib1 > bmax) ib1 = bmax;
        for (int b = ib0; b <= ib1; b++) {
            int px = steep ? b : a, py = steep ? a : b;
            float cover = clamp01(reach - seg_dist((float)px, (float)py, x0, y0, x1, y1));
            if (cover > 0) blend(&cv, px, py, rgb, cover);
        }
    }
    return MG_OK;
fail:
    return MG_ERR;
}

int mg_draw_disc(mg_tensor *t, double cx, double cy, double radius, uint32_t rgb) {
    canvas cv;
    TRY_OK(open_canvas("draw_disc", t, &cv));
    CHECK(isfinite(cx) && isfinite(cy), "draw_disc: centre must be finite (got %g, %g)", cx, cy);
    CHECK(radius > 0 && radius <= 4096, "draw_disc: radius must be in (0, 4096], got %g", radius);
    double reach = radius + 0.5;
    double fx0 = fmax(0, floor(cx - reach)), fx1 = fmin(cv.w - 1, ceil(cx + reach));
    double fy0 = fmax(0, floor(cy - reach)), fy1 = fmin(cv.h - 1, ceil(cy + reach));
    for (double y = fy0; y <= fy1; y++)
        for (double x = fx0; x <= fx1; x++) {
            float cover = clamp01((float)(reach - hypot(x - cx, y - cy)));
            if (cover > 0) blend(&cv, (int)x, (int)y, rgb, cover);
        }
    return MG_OK;
fail:
    return MG_ERR;
}

/* ---- text --------------------------------------------------------------- */

void mg_text_size(const char *text, int scale, int *width, int *height) {
    int lines = 1, w = 0, line_w = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if (*s == '\n') {
            lines++;
            line_w = 0;
            continue;
        }
        if (line_w) line_w += MG_FONT_GAP;
        line_w += mg_font_glyph(*s)->width;
        if (line_w > w) w = line_w;
    }
    *width = w * scale;
    *height = ((lines - 1) * MG_FONT_LINE + MG_FONT_ROWS) * scale;
}

int mg_draw_text(mg_tensor *t, int x, int y, const char *text, int scale, uint32_t rgb, bool vertical) {
    canvas cv;
    TRY_OK(open_canvas("draw_text", t, &cv));
    CHECK(text, "draw_text: no text");
    CHECK(scale >= 1 && scale <= 16, "draw_text: scale must be in 1..16, got %d", scale);
    int tw, th;
    mg_text_size(text, scale, &tw, &th);
    /* u runs along the text, v across it, in unrotated text coordinates */
    int u = 0, v = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if (*s == '\n') {
            u = 0;
            v += MG_FONT_LINE * scale;
            continue;
        }
        const mg_glyph *g = mg_font_glyph(*s);
        for (int r = 0; r < MG_FONT_ROWS; r++)
            for (int c = 0; c < g->width; c++) {
                if (!(g->rows[r] & (0x80 >> c))) continue;
                for (int dy = 0; dy < scale; dy++)
                    for (int dx = 0; dx < scale; dx++) {
                        int64_t tu = u + (int64_t)c * scale + dx, tv = v + (int64_t)r * scale + dy;
                        int64_t px = vertical ? x + tv : x + tu;
                        int64_t py = vertical ? y + (tw - 1 - tu) : y + tv;
                        if (px >= 0 && px < cv.w && py >= 0 && py < cv.h) put(&cv, (int)px, (int)py, rgb);
                    }
            }
        u += (g->width + MG_FONT_GAP) * scale;
    }
    return MG_OK;
fail:
    return MG_ERR;
}

/* ---- images ------------------------------------------------------------- */

/* img [H,W], [1,H,W] or [3,H,W] -> canvas block at (x, y), each pixel
 * scale x scale; value lo shows as 0 and hi as 255, clipped; NaN as 0. */
int mg_draw_image(mg_tensor *t, const mg_tensor *img, int x, int y, int scale, double lo, double hi) {
    canvas cv;
    mg_tensor *src = NULL;
    TRY_OK(open_canvas("draw_image", t, &cv));
    CHECK(img, "draw_image: no image");
    CHECK(img->ndim == 2 || (img->ndim == 3 && (img->shape[0] == 1 || img->shape[0] == 3)),
          "draw_image: image must be [H,W], [1,H,W] or [3,H,W], got %s", mg_shp(img));
    CHECK(scale >= 1 && scale <= 64, "draw_image: scale must be in 1..64, got %d", scale);
    CHECK(isfinite(lo) && isfinite(hi) && hi > lo, "draw_image: range must be finite with lo < hi (got %g, %g)",
          lo, hi);
    if (img->dtype == MG_F32) TRY(src = mg_as_contiguous(img));
    else TRY(src = mg_to_dtype(img, MG_F32));
    int ic = img->ndim == 2 ? 1 : (int)img->shape[0];
    int64_t ih = img->shape[img->ndim - 2], iw = img->shape[img->ndim - 1];
    const float *f = mg_f32(src);
    float k = (float)(255.0 / (hi - lo)), flo = (float)lo;
    for (int64_t r = 0; r < ih; r++) {
        int64_t py0 = y + r * scale;
        if (py0 >= cv.h) break;
        if (py0 + scale <= 0) continue;
        for (int64_t c = 0; c < iw; c++) {
            int64_t px0 = x + c * scale;
            if (px0 >= cv.w) break;
            if (px0 + scale <= 0) continue;
            uint8_t val[3] = {0, 0, 0};
            for (int ch = 0; ch < ic; ch++) {
                float v = (f[(ch * ih + r) * iw + c] - flo) * k;
                v = v != v ? 0 : v < 0 ? 0 : v > 255 ? 255 : v;
                val[ch] = (uint8_t)(v + 0.5f);
            }
            if (ic == 1) val[1] = val[2] = val[0];
            uint32_t rgb = (uint32_t)val[0] << 16 | (uint32_t)val[1] << 8 | val[2];
            for (int64_t py = py0 < 0 ? 0 : py0; py < py0 + scale && py < cv.h; py++)
                for (int64_t px = px0 < 0 ? 0 : px0; px < px0 + scale && px < cv.w; px++)
                    put(&cv, (int)px, (int)py, rgb);
        }
    }
    mg_release(src);
    return MG_OK;
fail:
    mg_release(src);
    return MG_ERR;
}
