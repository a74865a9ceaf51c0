/*
 * PNG files: writing 8-bit grey, RGB and RGBA images (zlib-compressed,
 * one filter chosen per row) and reading them back.
 *
 * The reader takes 8-bit, non-interlaced grey (colour type 0), RGB (2) and
 * RGBA (6) files with any of the five row filters. Everything read from the
 * file is checked before use: chunk lengths against the bytes present,
 * every chunk's CRC, the IHDR fields, the size of the decompressed data
 * and the filter byte of every row. A hostile file gives an error, never
 * a crash or a huge allocation.
 */
#include "internal.h"
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define PNG_SIG_LEN 8
static const uint8_t png_sig[PNG_SIG_LEN] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Pixel bytes (without filter bytes) that one image may hold, both ways. */
#define PNG_MAX_PIXEL_BYTES ((uint64_t)1 << 30)
/* The largest width or height the reader accepts (the format allows 2^31-1). */
#define PNG_MAX_SIDE ((uint32_t)1 << 24)
/* Files larger than this are refused before reading. */
#define PNG_MAX_FILE ((long)1 << 31)
/* deflate cannot expand data more than about 1032:1; a file whose IDAT
 * bytes are too few for the declared size is refused before inflating. */
#define PNG_MAX_RATIO 1100

enum { F_NONE = 0, F_SUB = 1, F_UP = 2, F_AVG = 3, F_PAETH = 4 };

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint8_t paeth(uint8_t a, uint8_t b, uint8_t c) {
    int p = (int)a + (int)b - (int)c;
    int pa = abs(p - (int)a), pb = abs(p - (int)b), pc = abs(p - (int)c);
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

/* ---- writing -------------------------------------------------------------- */

/* row, prev (NULL for the first row) -> out (n bytes) filtered with type f;
 * bpp bytes per pixel. */
static void filter_row(uint8_t *out, const uint8_t *row, const uint8_t *prev, size_t n, int bpp, int f) {
    for (size_t i = 0; i < n; i++) {
        uint8_t a = i >= (size_t)bpp ? row[i - bpp] : 0;
        uint8_t b = prev ? prev[i] : 0;
        uint8_t c = prev && i >= (size_t)bpp ? prev[i - bpp] : 0;
        uint8_t pred = 0;
        switch (f) {
        case F_SUB: pred = a; break;
        case F_UP: pred = b; break;
        case F_AVG: pred = (uint8_t)(((unsigned)a + b) >> 1); break;
        case F_PAETH: pred = paeth(a, b, c); break;
        default: break;
        }
        out[i] = (uint8_t)(row[i] - pred);
    }
}

/* The usual heuristic: the filtered row whose bytes, read as signed, have
 * the smallest sum of absolute values compresses best. */
static uint64_t row_cost(const uint8_t *p, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) s += p[i] < 128 ? p[i] : 256 - p[i];
    return s;
}

/* Appends a chunk (length, type, data, CRC over type and data) at dst. */
static uint8_t *put_chunk(uint8_t *dst, const char *type, const uint8_t *data, uint32_t n) {
    put_be32(dst, n);
    memcpy(dst + 4, type, 4);
    if (n) memcpy(dst + 8, data, n);
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, dst + 4, 4 + n);
    put_be32(dst + 8 + n, (uint32_t)crc);
    return dst + 12 + n;
}

/* The whole file at once, atomically (temporary file, fsync, rename). */
static int write_atomic(const char *path, const void *data, size_t n) {
    mg_atomic_file f;
    if (mg_atomic_open(&f, path, "write_png") != MG_OK) return MG_ERR;
    if (mg_atomic_write(&f, data, n) != MG_OK) return MG_ERR;
    return mg_atomic_commit(&f);
}

int mg_write_png(const char *path, int width, int height, int channels, const uint8_t *pixels) {
    uint8_t *raw = NULL, *file = NULL;
    CHECK(path && *path, "write_png: empty path");
    CHECK(width > 0 && height > 0, "write_png: image size must be positive (got %dx%d)", width, height);
    CHECK(channels == 1 || channels == 3 || channels == 4,
          "write_png: channels must be 1 (grey), 3 (RGB) or 4 (RGBA), got %d", channels);
    CHECK(pixels, "write_png: no pixel data");
    size_t stride = (size_t)width * (size_t)channels;
    CHECK((uint64_t)stride * (uint64_t)height <= PNG_MAX_PIXEL_BYTES,
          "write_png: image %dx%dx%d is too large (at most 2^30 bytes of pixels)", width, height, channels);

    /* filter byte + row, for every row */
    size_t raw_n = (stride + 1) * (size_t)height;
    raw = malloc(raw_n);
    CHECK(raw, "write_png: out of memory (%zu bytes)", raw_n);
    uint8_t *trial = malloc(stride);
    CHECK(trial, "write_png: out of memory");
    for (int y = 0; y < height; y++) {
        const uint8_t *row = pixels + (size_t)y * stride;
        const uint8_t *prev = y ? row - stride : NULL;
        uint8_t *dst = raw + (size_t)y * (stride + 1);
        int best_f = F_NONE;
        uint64_t best = row_cost(row, stride);
        memcpy(dst + 1, row, stride);
        for (int f = F_SUB; f <= F_PAETH; f++) {
            filter_row(trial, row, prev, stride, channels, f);
            uint64_t cost = row_cost(trial, stride);
            if (cost < best) {
                best = cost;
                best_f = f;
                memcpy(dst + 1, trial, stride);
            }
        }
        dst[0] = (uint8_t)best_f;
    }
    free(trial);

    uLong zcap = compressBound((uLong)raw_n);
    /* signature, IHDR (25), IDAT header and CRC (12), IEND (12) */
    size_t file_cap = PNG_SIG_LEN + 25 + 12 + (size_t)zcap + 12;
    file = malloc(file_cap);
    CHECK(file, "write_png: out of memory (%zu bytes)", file_cap);
    uint8_t *p = file;
    memcpy(p, png_sig, PNG_SIG_LEN);
    p += PNG_SIG_LEN;
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)width);
    put_be32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = channels == 1 ? 0 : channels == 3 ? 2 : 6;
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* not interlaced */
    p = put_chunk(p, "IHDR", ihdr, 13);

    uLongf zn = zcap;
    int zrc = compress2(p + 8, &zn, raw, (uLong)raw_n, 6);
    CHECK(zrc == Z_OK, "write_png: zlib compression failed (code %d)", zrc);
    CHECK(zn < 0x7fffffffu, "write_png: compressed data too large for one chunk");
    /* the data was compressed in place: write the chunk header and CRC around it */
    put_be32(p, (uint32_t)zn);
    memcpy(p + 4, "IDAT", 4);
    uLong crc = crc32(crc32(0L, Z_NULL, 0), p + 4, (uInt)(4 + zn));
    put_be32(p + 8 + zn, (uint32_t)crc);
    p += 12 + zn;
    p = put_chunk(p, "IEND", NULL, 0);

    free(raw);
    raw = NULL;
    TRY_OK(write_atomic(path, file, (size_t)(p - file)));
    free(file);
    return MG_OK;
fail:
    free(raw);
    free(file);
    return MG_ERR;
}

/* ---- reading -------------------------------------------------------------- */

/* Reads a whole file (at most PNG_MAX_FILE bytes) into a malloc'd buffer. */
static uint8_t *read_all(const char *path, size_t *n) {
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    CHECK(f, "read_png: cannot open '%s': %s", path, strerror(errno));
    CHECK(fseek(f, 0, SEEK_END) == 0, "read_png: cannot seek in '%s' (not a regular file?)", path);
    long size = ftell(f);
    CHECK(size >= 0, "read_png: cannot read '%s': %s", path, strerror(errno));
    CHECK(size < PNG_MAX_FILE, "read_png: '%s' is too large (%ld bytes)", path, size);
    rewind(f);
    buf = malloc(size ? (size_t)size : 1);
    CHECK(buf, "read_png: out of memory (%ld bytes)", size);
    CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size, "read_png: cannot read '%s'", path);
    fclose(f);
    *n = (size_t)size;
    return buf;
fail:
    if (f) fclose(f);
    free(buf);
    return NULL;
}

/* Undoes the filters in place: raw holds height rows of 1 + stride bytes;
 * out receives height * stride pixel bytes. */
static int unfilter(uint8_t *out, const uint8_t *raw, uint32_t height, size_t stride, int bpp) {
    for (uint32_t y = 0; y < height; y++) {
        const uint8_t *src = raw + (size_t)y * (stride + 1);
        uint8_t *row = out + (size_t)y * stride;
        const uint8_t *prev = y ? row - stride : NULL;
        int f = src[0];
        src++;
        switch (f) {
        case F_NONE: memcpy(row, src, stride); break;
        case F_SUB:
            for (size_t i = 0; i < stride; i++) row[i] = (uint8_t)(src[i] + (i >= (size_t)bpp ? row[i - bpp] : 0));
            break;
        case F_UP:
            for (size_t i = 0; i < stride; i++) row[i] = (uint8_t)(src[i] + (prev ? prev[i] : 0));
            break;
        case F_AVG:
            for (size_t i = 0; i < stride; i++) {
                unsigned a = i >= (size_t)bpp ? row[i - bpp] : 0, b = prev ? prev[i] : 0;
                row[i] = (uint8_t)(src[i] + ((a + b) >> 1));
            }
            break;
        case F_PAETH:
            for (size_t i = 0; i < stride; i++) {
                uint8_t a = i >= (size_t)bpp ? row[i - bpp] : 0, b = prev ? prev[i] : 0;
                uint8_t c = prev && i >= (size_t)bpp ? prev[i - bpp] : 0;
                row[i] = (uint8_t)(src[i] + paeth(a, b, c));
            }
            break;
        default:
            return mg_error("read_png: row %u has an unknown filter type %d (expected 0..4)", y + 1, f);
        }
    }
    return MG_OK;
}

static bool is_type(const uint8_t *t, const char *name) { return memcmp(t, name, 4) == 0; }

/* A chunk type as printable text for messages. */
static const char *type_str(const uint8_t *t, char *buf) {
    for (int i = 0; i < 4; i++) buf[i] = (t[i] >= 32 && t[i] < 127) ? (char)t[i] : '?';
    buf[4] = 0;
    return buf;
}

mg_tensor *mg_read_png(const char *path) {
    uint8_t *file = NULL, *idat = NULL, *raw = NULL;
    mg_tensor *out = NULL;
    z_stream zs;
    bool z_open = false;
    char tb[5];
    CHECK(path && *path, "read_png: empty path");
    size_t n = 0;
    TRY(file = read_all(path, &n));
    CHECK(n >= PNG_SIG_LEN && memcmp(file, png_sig, PNG_SIG_LEN) == 0,
          "read_png: '%s' is not a PNG file (bad signature)", path);

    uint32_t width = 0, height = 0;
    int channels = 0;
    bool seen_ihdr = false, seen_iend = false, idat_done = false;
    size_t idat_n = 0, idat_cap = 0;
    size_t pos = PNG_SIG_LEN;
    while (!seen_iend) {
        CHECK(n - pos >= 12, "read_png: '%s' is truncated (a chunk header at byte %zu is cut off)", path, pos);
        uint32_t len = get_be32(file + pos);
        const uint8_t *type = file + pos + 4;
        CHECK(len <= 0x7fffffffu, "read_png: '%s': chunk length %u is out of range", path, len);
        CHECK((uint64_t)len + 12 <= (uint64_t)(n - pos),
              "read_png: '%s' is truncated (chunk %s at byte %zu declares %u bytes, %zu remain)", path,
              type_str(type, tb), pos, len, n - pos - 12);
        const uint8_t *data = type + 4;
        uint32_t crc = get_be32(data + len);
        uLong want = crc32(crc32(0L, Z_NULL, 0), type, 4 + len);
        CHECK((uint32_t)want == crc, "read_png: '%s': CRC mismatch in chunk %s at byte %zu (file is corrupt)",
              path, type_str(type, tb), pos);
        for (int i = 0; i < 4; i++) {
            uint8_t c = type[i];
            CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'),
                  "read_png: '%s': invalid chunk type at byte %zu", path, pos);
        }
        if (!seen_ihdr) {
            CHECK(is_type(type, "IHDR"), "read_png: '%s': the first chunk is %s, expected IHDR", path,
                  type_str(type, tb));
            CHECK(len == 13, "read_png: '%s': IHDR has %u bytes, expected 13", path, len);
            width = get_be32(data);
            height = get_be32(data + 4);
            int depth = data[8], ctype = data[9];
            CHECK(width > 0 && height > 0 && width <= 0x7fffffffu && height <= 0x7fffffffu,
                  "read_png: '%s': invalid image size %ux%u", path, width, height);
            CHECK(data[10] == 0 && data[11] == 0,
                  "read_png: '%s': unknown compression or filter method (%d, %d)", path, data[10], data[11]);
            CHECK(data[12] == 0 || data[12] == 1, "read_png: '%s': unknown interlace method %d", path, data[12]);
            CHECK(depth == 8, "read_png: '%s': bit depth %d is not supported (only 8-bit images)", path, depth);
            CHECK(ctype == 0 || ctype == 2 || ctype == 6,
                  "read_png: '%s': colour type %d is not supported (only grey 0, RGB 2 and RGBA 6)", path, ctype);
            CHECK(data[12] == 0, "read_png: '%s': interlaced images are not supported", path);
            channels = ctype == 0 ? 1 : ctype == 2 ? 3 : 4;
            CHECK(width <= PNG_MAX_SIDE && height <= PNG_MAX_SIDE &&
                      (uint64_t)width * height * (uint64_t)channels <= PNG_MAX_PIXEL_BYTES,
                  "read_png: '%s': image %ux%u is too large (at most 2^30 bytes of pixels)", path, width, height);
            seen_ihdr = true;
        } else if (is_type(type, "IHDR")) {
            CHECK(false, "read_png: '%s': a second IHDR chunk", path);
        } else if (is_type(type, "IDAT")) {
            CHECK(!idat_done, "read_png: '%s': IDAT chunks are not consecutive", path);
            if (idat_n + len > idat_cap) {
                size_t cap = idat_cap ? idat_cap * 2 : 65536;
                while (cap < idat_n + len) cap *= 2;
                uint8_t *p = realloc(idat, cap);
                CHECK(p, "read_png: out of memory");
                idat = p;
                idat_cap = cap;
            }
            if (len) memcpy(idat + idat_n, data, len);
            idat_n += len;
        } else if (is_type(type, "IEND")) {
            seen_iend = true;
        } else {
            /* bit 5 of the first letter: 0 = critical. PLTE is optional for RGB. */
            CHECK((type[0] & 0x20) || is_type(type, "PLTE"),
                  "read_png: '%s': unknown critical chunk %s", path, type_str(type, tb));
        }
        if (idat_n > 0 && !is_type(type, "IDAT")) idat_done = true;
        pos += 12 + (size_t)len;
    }
    CHECK(idat_n > 0, "read_png: '%s' has no image data (no IDAT chunk)", path);

    size_t stride = (size_t)width * (size_t)channels;
    size_t raw_n = (stride + 1) * (size_t)height;
    CHECK((uint64_t)idat_n * PNG_MAX_RATIO + 1024 >= (uint64_t)raw_n,
          "read_png: '%s' is truncated (%zu bytes of compressed data cannot hold a %ux%u image)", path, idat_n,
          width, height);
    raw = malloc(raw_n);
    CHECK(raw, "read_png: out of memory (%zu bytes)", raw_n);

    memset(&zs, 0, sizeof zs);
    CHECK(inflateInit(&zs) == Z_OK, "read_png: zlib initialisation failed");
    z_open = true;
    zs.next_in = idat;
    zs.avail_in = (uInt)idat_n;
    zs.next_out = raw;
    zs.avail_out = (uInt)raw_n;
    int zrc = inflate(&zs, Z_FINISH);
    CHECK(zrc != Z_DATA_ERROR && zrc != Z_NEED_DICT,
          "read_png: '%s': corrupt compressed data (%s)", path, zs.msg ? zs.msg : "zlib error");
    CHECK(zs.avail_out == 0, "read_png: '%s' is truncated (image data ends after %zu of %zu bytes)", path,
          raw_n - zs.avail_out, raw_n);
    CHECK(zrc == Z_STREAM_END, "read_png: '%s': more image data than a %ux%u image holds", path, width, height);
    inflateEnd(&zs);
    z_open = false;

    int64_t shape[3] = {height, width, channels};
    TRY(out = mg_empty(MG_U8, channels == 1 ? 2 : 3, shape));
    TRY_OK(unfilter(mg_u8(out), raw, height, stride, channels));
    free(raw);
    free(idat);
    free(file);
    return out;
fail:
    if (z_open) inflateEnd(&zs);
    mg_release(out);
    free(raw);
    free(idat);
    free(file);
    return NULL;
}
