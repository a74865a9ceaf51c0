/*
 * IDX files (the MNIST format), plain or gzip: reading any IDX type into a
 * tensor, writing uint8 tensors.
 *
 * Layout: two zero bytes, a type code, the number of dims; then each dim as
 * a big-endian uint32; then the elements, big-endian, row-major.
 *   0x08 ubyte -> U8; 0x09 sbyte, 0x0B short, 0x0C int -> I64;
 *   0x0D float, 0x0E double -> F32.
 * A file is gzip when it starts with the gzip magic (1f 8b), whatever its
 * name; a name ending in ".gz" without that magic is an error.
 *
 * Nothing is trusted: the header's sizes are checked against what the file
 * can hold before anything is allocated (for gzip: the largest expansion
 * deflate allows, then the actual stream while inflating), and a short or
 * overlong data section is an error. Every message names the file.
 */
#include "internal.h"
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_CHUNK (1 << 18)
/* deflate expands at most ~1032:1; a margin covers headers of tiny files */
#define GZ_MAX_RATIO 1100
#define GZ_SLACK 4096

typedef struct {
    const char *path;
    FILE *f;
    bool gz;
    bool stream_end; /* the current gzip member has ended */
    z_stream zs;
    bool zs_live;
    unsigned char *in; /* IDX_CHUNK bytes of compressed input */
    int64_t file_size;
} idx_src;

static int src_fail(const idx_src *s, const char *what) {
    return mg_error("read_idx: %s: %s", s->path, what);
}

/* Refills the compressed input buffer; 0 at end of file, -1 on error. */
static int src_refill(idx_src *s) {
    size_t got = fread(s->in, 1, IDX_CHUNK, s->f);
    if (got == 0 && ferror(s->f)) return src_fail(s, strerror(errno)), -1;
    s->zs.next_in = s->in;
    s->zs.avail_in = (uInt)got;
    return got > 0;
}

/* Reads up to n bytes into dst; returns the count (< n only at the end of
 * the data) or -1 with an error. Gzip members that follow one another are
 * read as one stream, as gunzip does. */
static int64_t src_read(idx_src *s, void *dst, int64_t n) {
    if (!s->gz) {
        size_t got = fread(dst, 1, (size_t)n, s->f);
        if (got < (size_t)n && ferror(s->f)) return src_fail(s, strerror(errno)), -1;
        return (int64_t)got;
    }
    unsigned char *out = dst;
    int64_t done = 0;
    while (done < n) {
        if (s->zs.avail_in == 0) {
            int r = src_refill(s);
            if (r < 0) return -1;
            if (r == 0) {
                if (s->stream_end) return done;
                return src_fail(s, "truncated gzip stream (the file ends inside compressed data)"), -1;
            }
        }
        if (s->stream_end) { /* more input after a member: it must be another member */
            if (s->zs.next_in[0] != 0x1f) return done;
            if (inflateReset(&s->zs) != Z_OK) return src_fail(s, "inflateReset failed"), -1;
            s->stream_end = false;
        }
        uint64_t want = (uint64_t)(n - done);
        s->zs.next_out = out + done;
        s->zs.avail_out = want > (1u << 30) ? (1u << 30) : (uInt)want;
        uInt before = s->zs.avail_out;
        int r = inflate(&s->zs, Z_NO_FLUSH);
        done += before - s->zs.avail_out;
        if (r == Z_STREAM_END) {
            s->stream_end = true;
        } else if (r == Z_NEED_DICT || r == Z_DATA_ERROR) {
            char msg[300];
            snprintf(msg, sizeof msg, "corrupt gzip data (%s)", s->zs.msg ? s->zs.msg : "invalid stream");
            return src_fail(s, msg), -1;
        } else if (r == Z_MEM_ERROR) {
            return src_fail(s, "out of memory while inflating"), -1;
        } else if (r != Z_OK && r != Z_BUF_ERROR) {
            return src_fail(s, "inflate failed"), -1;
        }
    }
    return done;
}

/* After the data: 1 when nothing follows (a gzip stream must also be
 * complete, trailer and checksum included), 0 when more data follows, 2
 * when bytes that are not gzip follow the gzip stream, -1 on error. */
static int src_at_end(idx_src *s) {
    unsigned char probe;
    int64_t got = src_read(s, &probe, 1);
    if (got < 0) return -1;
    if (got > 0) return 0;
    if (!s->gz) return 1;
    if (s->zs.avail_in > 0) return 2;
    int r = src_refill(s);
    return r < 0 ? -1 : r == 0 ? 1 : 2;
}

static void src_close(idx_src *s) {
    if (s->zs_live) inflateEnd(&s->zs);
    if (s->f) fclose(s->f);
    free(s->in);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int src_open(idx_src *s, const char *path) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f) return src_fail(s, strerror(errno));
    struct stat st;
    if (fstat(fileno(s->f), &st) != 0) return src_fail(s, strerror(errno));
    if (!S_ISREG(st.st_mode)) return src_fail(s, "not a regular file");
    s->file_size = (int64_t)st.st_size;
    unsigned char magic[2] = {0, 0};
    size_t got = fread(magic, 1, 2, s->f);
    rewind(s->f);
    s->gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (!s->gz && ends_with(path, ".gz"))
        return src_fail(s, "not a gzip file (the name ends in .gz but the gzip magic 1f 8b is missing)");
    if (s->gz) {
        s->in = malloc(IDX_CHUNK);
        if (!s->in) return src_fail(s, "out of memory");
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK) return src_fail(s, "inflateInit failed");
        s->zs_live = true;
    }
    return MG_OK;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

typedef struct {
    int code;
    const char *name;
    int size;
    mg_dtype dtype;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, "ubyte", 1, MG_U8}, {0x09, "sbyte", 1, MG_I64}, {0x0B, "short", 2, MG_I64},
    {0x0C, "int", 4, MG_I64},  {0x0D, "float", 4, MG_F32}, {0x0E, "double", 8, MG_F32},
};

/* Converts n big-endian elements of type code `code` from raw into t's data. */
static void idx_convert(mg_tensor *t, const unsigned char *raw, int64_t n, int code) {
    int64_t *l = mg_i64(t);
    float *f = mg_f32(t);
    for (int64_t i = 0; i < n; i++) {
        switch (code) {
        case 0x09: l[i] = (int8_t)raw[i]; break;
        case 0x0B: l[i] = (int16_t)(uint16_t)(raw[2 * i] << 8 | raw[2 * i + 1]); break;
        case 0x0C: l[i] = (int32_t)be32(raw + 4 * i); break;
        case 0x0D: {
            uint32_t u = be32(raw + 4 * i);
            memcpy(&f[i], &u, 4);
            break;
        }
        case 0x0E: {
            uint64_t u = be64(raw + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            f[i] = (float)d;
            break;
        }
        }
    }
}

/* "truncated data" or "trailing data" message with the sizes involved. */
static int size_fail(idx_src *s, const char *shape, int64_t need, int64_t have, bool trailing) {
    char msg[512];
    if (trailing)
        snprintf(msg, sizeof msg, "trailing data after the %lld data bytes that the header %s announces",
                 (long long)need, shape);
    else
        snprintf(msg, sizeof msg, "truncated data: the header %s needs %lld data bytes, the file holds %lld",
                 shape, (long long)need, (long long)have);
    return src_fail(s, msg);
}

/* out[i] = in[i] * scale */
static void u8_to_f32(float *out, const unsigned char *in, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) out[i] = (float)in[i] * scale;
}

/* A float32 copy of t (uint8, int64 or float32) times scale. */
static mg_tensor *scaled_copy(const mg_tensor *t, float scale) {
    mg_tensor *out = mg_empty_shape_of(MG_F32, t);
    if (!out) return NULL;
    int64_t n = mg_numel(t);
    float *o = mg_f32(out);
    if (t->dtype == MG_U8) u8_to_f32(o, mg_u8(t), n, scale);
    else if (t->dtype == MG_I64) for (int64_t i = 0; i < n; i++) o[i] = (float)mg_i64(t)[i] * scale;
    else for (int64_t i = 0; i < n; i++) o[i] = mg_f32(t)[i] * scale;
    return out;
}

/* Reads the file; with `scaled`, returns float32 values times scale (for
 * ubyte data converted chunk by chunk as it is read). */
static mg_tensor *read_idx(const char *path, bool scaled, float scale) {
    idx_src s;
    mg_tensor *t = NULL;
    unsigned char *raw = NULL;
    char shape_buf[MG_SHAPE_BUF], msg[512];
    if (!path) {
        mg_error("read_idx: no path given");
        return NULL;
    }
    TRY_OK(src_open(&s, path));

    unsigned char head[4];
    int64_t got = src_read(&s, head, 4);
    TRY(got >= 0);
    if (got < 4) {
        snprintf(msg, sizeof msg, "truncated header (%lld bytes, an IDX header has at least 8)", (long long)got);
        TRY_OK(src_fail(&s, msg));
    }
    if (head[0] != 0 || head[1] != 0) {
        snprintf(msg, sizeof msg, "bad magic %02x %02x %02x %02x (an IDX file starts with 00 00, a type code and the number of dims)",
                 head[0], head[1], head[2], head[3]);
        TRY_OK(src_fail(&s, msg));
    }
    const idx_type *type = NULL;
    for (size_t k = 0; k < sizeof idx_types / sizeof idx_types[0]; k++)
        if (idx_types[k].code == head[2]) type = &idx_types[k];
    if (!type) {
        snprintf(msg, sizeof msg, "unknown type code 0x%02x (expected 0x08 ubyte, 0x09 sbyte, 0x0B short, 0x0C int, 0x0D float or 0x0E double)",
                 head[2]);
        TRY_OK(src_fail(&s, msg));
    }
    int ndim = head[3];
    if (ndim < 1 || ndim > MG_MAX_DIMS) {
        snprintf(msg, sizeof msg, "bad number of dims %d (expected 1..%d)", ndim, MG_MAX_DIMS);
        TRY_OK(src_fail(&s, msg));
    }
    unsigned char dims_raw[4 * MG_MAX_DIMS];
    got = src_read(&s, dims_raw, 4 * ndim);
    TRY(got >= 0);
    if (got < 4 * ndim) {
        snprintf(msg, sizeof msg, "truncated header: %d dims announced, the file ends after %lld of their %d bytes",
                 ndim, (long long)got, 4 * ndim);
        TRY_OK(src_fail(&s, msg));
    }
    int64_t shape[MG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) shape[d] = be32(dims_raw + 4 * d);
    mg_shape_str_raw(ndim, shape, shape_buf, sizeof shape_buf);

    /* data bytes the header asks for; each dim < 2^32, so stop at 2^62 */
    int64_t numel = 1;
    bool huge = false;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] > 0 && numel > ((int64_t)1 << 58) / shape[d]) huge = true;
        else numel *= shape[d];
    }
    if (huge) numel = (int64_t)1 << 58; /* only 0 elsewhere could save it */
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) numel = 0;
    int64_t need = numel * type->size;
    int64_t header = 4 + 4 * (int64_t)ndim;
    int64_t room = s.gz ? s.file_size * GZ_MAX_RATIO + GZ_SLACK : s.file_size - header;
    if (need > room) {
        if (!s.gz) TRY_OK(size_fail(&s, shape_buf, need, room, false));
        snprintf(msg, sizeof msg, "truncated or corrupt: the header %s needs %lld data bytes, more than a gzip file of %lld bytes can hold",
                 shape_buf, (long long)need, (long long)s.file_size);
        TRY_OK(src_fail(&s, msg));
    }
    if (!s.gz && need < room) TRY_OK(size_fail(&s, shape_buf, need, room, true));

    /* ubyte data goes straight into the tensor, unless a gzip header asks
     * for far more than the file plausibly holds: then the buffer grows as
     * the stream really inflates, so a forged header costs no memory */
    int64_t direct_cap = 32 * s.file_size + ((int64_t)1 << 20);
    if (scaled && type->code == 0x08 && (!s.gz || need <= direct_cap)) {
        TRY(t = mg_empty(MG_F32, ndim, shape));
        raw = malloc(IDX_CHUNK);
        CHECK(raw, "read_idx: %s: out of memory", path);
        float *out = mg_f32(t);
        got = 0;
        while (got < need) {
            int64_t want = need - got < IDX_CHUNK ? need - got : IDX_CHUNK;
            int64_t part = src_read(&s, raw, want);
            TRY(part >= 0);
            u8_to_f32(out + got, raw, part, scale);
            got += part;
            if (part < want) break;
        }
        free(raw);
        raw = NULL;
    } else if (type->code == 0x08 && (!s.gz || need <= direct_cap)) {
        TRY(t = mg_empty(type->dtype, ndim, shape));
        got = src_read(&s, t->storage->data, need);
        TRY(got >= 0);
    } else {
        int64_t cap = s.gz && need > direct_cap ? direct_cap : need;
        raw = malloc(cap > 0 ? (size_t)cap : 1);
        CHECK(raw, "read_idx: %s: out of memory for %lld bytes", path, (long long)cap);
        got = 0;
        for (;;) {
            int64_t part = src_read(&s, raw + got, cap - got);
            TRY(part >= 0);
            got += part;
            if (got < cap || cap == need) break;
            cap = cap > need / 2 ? need : 2 * cap;
            unsigned char *bigger = realloc(raw, (size_t)cap);
            CHECK(bigger, "read_idx: %s: out of memory for %lld bytes", path, (long long)cap);
            raw = bigger;
        }
    }
    if (got < need) TRY_OK(size_fail(&s, shape_buf, need, got, false));
    int end = src_at_end(&s);
    TRY(end >= 0);
    if (end == 0) TRY_OK(size_fail(&s, shape_buf, need, 0, true));
    if (end == 2) TRY_OK(src_fail(&s, "trailing bytes after the end of the gzip stream"));
    if (!t) {
        TRY(t = mg_empty(type->dtype, ndim, shape));
        if (type->code == 0x08) {
            if (need) memcpy(t->storage->data, raw, (size_t)need);
        } else {
            idx_convert(t, raw, numel, type->code);
        }
    }
    if (scaled && (t->dtype != MG_F32 || type->code != 0x08)) {
        mg_tensor *f = scaled_copy(t, scale);
        TRY(f);
        mg_release(t);
        t = f;
    }
    free(raw);
    src_close(&s);
    return t;
fail:
    free(raw);
    mg_release(t);
    src_close(&s);
    return NULL;
}

mg_tensor *mg_read_idx(const char *path) { return read_idx(path, false, 1.0f); }

mg_tensor *mg_read_idx_scaled(const char *path, float scale) { return read_idx(path, true, scale); }

/* ---- writing -------------------------------------------------------------- */

/* Streams n bytes through deflate into f; with finish, ends the gzip stream. */
static int gz_put(mg_atomic_file *f, z_stream *zs, unsigned char *out, const unsigned char *src, size_t n,
                  bool finish) {
    zs->next_in = (unsigned char *)src;
    zs->avail_in = (uInt)n;
    for (;;) {
        zs->next_out = out;
        zs->avail_out = IDX_CHUNK;
        int r = deflate(zs, finish ? Z_FINISH : Z_NO_FLUSH);
        if (r == Z_STREAM_ERROR) return mg_error("write_idx: %s: deflate failed", f->path);
        if (mg_atomic_write(f, out, IDX_CHUNK - zs->avail_out)) return MG_ERR;
        if (finish ? r == Z_STREAM_END : zs->avail_in == 0 && zs->avail_out > 0) return MG_OK;
    }
}

int mg_write_idx_u8(const char *path, const mg_tensor *t, bool gzip) {
    mg_atomic_file f = {.fd = -1};
    z_stream zs;
    bool zs_live = false;
    unsigned char *out = NULL;
    mg_tensor *c = NULL;
    CHECK(path && t, "write_idx: path and tensor are required");
    CHECK(t->dtype == MG_U8, "write_idx: %s: expected a uint8 tensor, got %s", path, mg_dtype_name(t->dtype));
    CHECK(t->ndim >= 1 && t->ndim <= MG_MAX_DIMS, "write_idx: %s: expected 1..%d dims, got a %d-dim tensor",
          path, MG_MAX_DIMS, t->ndim);
    for (int d = 0; d < t->ndim; d++)
        CHECK(t->shape[d] <= (int64_t)UINT32_MAX, "write_idx: %s: size %s does not fit IDX's 32-bit dims", path,
              mg_shp(t));
    TRY(c = mg_as_contiguous(t));
    unsigned char head[4 + 4 * MG_MAX_DIMS] = {0, 0, 0x08, (unsigned char)t->ndim};
    for (int d = 0; d < t->ndim; d++) {
        uint32_t v = (uint32_t)t->shape[d];
        unsigned char *p = head + 4 + 4 * d;
        p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
    }
    size_t nhead = 4 + 4 * (size_t)t->ndim, numel = (size_t)mg_numel(c);
    TRY_OK(mg_atomic_open(&f, path, "write_idx"));
    if (!gzip) {
        TRY_OK(mg_atomic_write(&f, head, nhead));
        TRY_OK(mg_atomic_write(&f, mg_u8(c), numel));
    } else {
        /* level 9, no name and no time stamp: the same tensor gives the same bytes */
        memset(&zs, 0, sizeof zs);
        CHECK(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK,
              "write_idx: %s: deflateInit failed", path);
        zs_live = true;
        out = malloc(IDX_CHUNK);
        CHECK(out, "write_idx: %s: out of memory", path);
        TRY_OK(gz_put(&f, &zs, out, head, nhead, false));
        const unsigned char *data = mg_u8(c);
        for (size_t done = 0; done < numel;) {
            size_t n = numel - done > (1u << 30) ? (1u << 30) : numel - done;
            TRY_OK(gz_put(&f, &zs, out, data + done, n, false));
            done += n;
        }
        TRY_OK(gz_put(&f, &zs, out, NULL, 0, true));
    }
    TRY_OK(mg_atomic_commit(&f));
    if (zs_live) deflateEnd(&zs);
    free(out);
    mg_release(c);
    return MG_OK;
fail:
    mg_atomic_abort(&f);
    if (zs_live) deflateEnd(&zs);
    free(out);
    mg_release(c);
    return MG_ERR;
}
