/*
 * safetensors files: writing (atomic, through file.h) and reading, which
 * trusts nothing in the file.
 *
 * Format: an 8-byte little-endian header length N, N bytes of JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * then the raw little-endian data; offsets count from the first byte after
 * the header. As the reference writer does, tensors are laid out by dtype
 * alignment (I64, then F32, then U8) and by name within a dtype, the header
 * lists them in that order after __metadata__, and it is padded with spaces
 * to a multiple of 8 bytes, so every tensor starts aligned.
 *
 * The reader checks the header length against the file size, parses the
 * header with the strict parser of json.h, and requires known dtypes,
 * shapes whose size matches their byte range, and byte ranges that tile the
 * data exactly (no overlap, no gap, nothing past the end or after the last
 * tensor). Data is read with pread into freshly allocated tensors; nothing
 * is mapped, so a file that changes while being read gives an error, not a
 * fault.
 */
#include "file.h"
#include "internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors IO writes tensor memory as it is: it needs a little-endian host"
#endif

/* The reference implementation refuses headers above 100 MB. */
#define HEADER_LIMIT 100000000ull

static const char *st_dtype(mg_dtype d) {
    switch (d) {
    case MG_F32: return "F32";
    case MG_I64: return "I64";
    case MG_U8: return "U8";
    }
    return NULL;
}

/* ---- writing ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    const mg_tensor *t;
    uint64_t begin, end;
} entry;

/* Alignment first (largest dtype first), then the name. */
static int entry_order(const void *a, const void *b) {
    const entry *x = a, *y = b;
    size_t sx = mg_dtype_size(x->t->dtype), sy = mg_dtype_size(y->t->dtype);
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int name_order(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends the metadata object, re-serialised with sorted keys; checks that
 * it is an object of strings. */
static int append_metadata(mg_buf *b, const char *json) {
    mg_json_doc doc;
    char err[300];
    if (mg_json_parse(json, strlen(json), &doc, err, sizeof err))
        return mg_error("save: metadata: %s", err);
    const mg_json_node *top = &doc.nodes[0];
    int rc = MG_OK;
    if (top->type != MG_JSON_OBJECT) {
        rc = mg_error("save: metadata must be a JSON object of strings, got %s", mg_json_type_name(top->type));
        goto done;
    }
    if (top->count == 0) goto done;
    const mg_json_node **members = malloc((size_t)top->count * sizeof *members);
    if (!members) {
        rc = mg_error("save: out of memory");
        goto done;
    }
    int k = 0;
    for (const mg_json_node *c = mg_json_child(&doc, top); c; c = mg_json_next(&doc, c)) {
        if (c->type != MG_JSON_STRING) {
            rc = mg_error("save: metadata value of \"%.60s\" must be a string, got %s", c->key,
                          mg_json_type_name(c->type));
            free(members);
            goto done;
        }
        members[k++] = c;
    }
    /* insertion sort by key: metadata is small */
    for (int i = 1; i < k; i++) {
        const mg_json_node *m = members[i];
        int j = i - 1;
        while (j >= 0) {
            size_t l = members[j]->key_len < m->key_len ? members[j]->key_len : m->key_len;
            int c = memcmp(members[j]->key, m->key, l);
            if (c < 0 || (c == 0 && members[j]->key_len <= m->key_len)) break;
            members[j + 1] = members[j];
            j--;
        }
        members[j + 1] = m;
    }
    mg_buf_puts(b, "\"__metadata__\":{");
    for (int i = 0; i < k; i++) {
        if (i) mg_buf_puts(b, ",");
        mg_buf_json_string(b, members[i]->key, members[i]->key_len);
        mg_buf_puts(b, ":");
        mg_buf_json_string(b, members[i]->str, members[i]->str_len);
    }
    mg_buf_puts(b, "}");
    free(members);
done:
    mg_json_free(&doc);
    return rc;
}

int mg_save_safetensors(const char *path, int n, const char *const *names, mg_tensor *const *tensors,
                        const char *metadata_json) {
    entry *e = NULL;
    mg_buf hdr = {0};
    mg_atomic_file f = {.fd = -1};
    int rc = MG_ERR;
    CHECK(n >= 0, "save: the tensor count must be >= 0, got %d", n);
    e = calloc((size_t)(n ? n : 1), sizeof *e);
    CHECK(e, "save: out of memory");
    for (int i = 0; i < n; i++) {
        CHECK(names[i], "save: tensor %d has no name", i + 1);
        CHECK(tensors[i], "save: tensor \"%.60s\" is missing", names[i]);
        CHECK(strcmp(names[i], "__metadata__") != 0, "save: \"__metadata__\" is reserved and cannot name a tensor");
        CHECK(mg_utf8_valid(names[i], strlen(names[i])), "save: tensor name \"%.60s\" is not valid UTF-8", names[i]);
        CHECK(st_dtype(tensors[i]->dtype), "save: tensor \"%.60s\" has an unknown dtype", names[i]);
        e[i].name = names[i];
        e[i].t = tensors[i];
    }
    {
        /* duplicate names: sort the names alone and compare neighbours */
        const char **sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
        CHECK(sorted, "save: out of memory");
        for (int i = 0; i < n; i++) sorted[i] = e[i].name;
        qsort(sorted, (size_t)n, sizeof *sorted, name_order);
        const char *dup = NULL;
        for (int i = 1; i < n && !dup; i++)
            if (strcmp(sorted[i - 1], sorted[i]) == 0) dup = sorted[i];
        free(sorted);
        CHECK(!dup, "save: two tensors are named \"%.60s\"", dup);
    }
    qsort(e, (size_t)n, sizeof *e, entry_order);

    uint64_t offset = 0;
    mg_buf_puts(&hdr, "{");
    bool first = true;
    if (metadata_json && metadata_json[0]) {
        size_t before = hdr.len;
        TRY_OK(append_metadata(&hdr, metadata_json));
        first = hdr.len == before;
    }
    for (int i = 0; i < n; i++) {
        const mg_tensor *t = e[i].t;
        uint64_t nbytes = (uint64_t)mg_numel(t) * mg_dtype_size(t->dtype);
        e[i].begin = offset;
        e[i].end = offset + nbytes;
        offset += nbytes;
        if (!first) mg_buf_puts(&hdr, ",");
        first = false;
        mg_buf_json_string(&hdr, e[i].name, strlen(e[i].name));
        mg_buf_printf(&hdr, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype(t->dtype));
        for (int d = 0; d < t->ndim; d++) mg_buf_printf(&hdr, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        mg_buf_printf(&hdr, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)e[i].begin,
                      (unsigned long long)e[i].end);
    }
    mg_buf_puts(&hdr, "}");
    while (hdr.len % 8) mg_buf_puts(&hdr, " ");
    CHECK(!hdr.failed, "save: out of memory for the header");
    CHECK(hdr.len <= HEADER_LIMIT, "save: the header would be %zu bytes, above the limit of %llu that readers accept",
          hdr.len, HEADER_LIMIT);

    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)hdr.len >> (8 * k));
    TRY_OK(mg_atomic_open(&f, path, "save"));
    TRY_OK(mg_atomic_write(&f, len8, 8));
    TRY_OK(mg_atomic_write(&f, hdr.data, hdr.len));
    for (int i = 0; i < n; i++) {
        if (e[i].end == e[i].begin) continue;
        mg_tensor *c = mg_as_contiguous(e[i].t);
        TRY(c);
        int w = mg_atomic_write(&f, (const char *)c->storage->data + c->offset * (int64_t)mg_dtype_size(c->dtype),
                                e[i].end - e[i].begin);
        mg_release(c);
        TRY_OK(w);
    }
    TRY_OK(mg_atomic_commit(&f));
    rc = MG_OK;
fail:
    mg_atomic_abort(&f);
    mg_buf_free(&hdr);
    free(e);
    return rc;
}

/* ---- reading ------------------------------------------------------------------- */

typedef struct {
    const char *name; /* in the parsed document */
    mg_dtype dtype;
    int ndim;
    int64_t shape[MG_MAX_DIMS];
    uint64_t begin, end;
} info;

static int info_order(const void *a, const void *b) {
    const info *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Reads exactly n bytes at offset; MG_ERR with a message when the file
 * ends early or fails. */
static int read_at(int fd, void *buf, size_t n, uint64_t offset, const char *path) {
    char *p = buf;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t r = pread(fd, p, chunk, (off_t)offset);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return mg_error("load: '%s': read failed: %s", path, strerror(errno));
        if (r == 0) return mg_error("load: '%s': the file ended early at byte %llu (was it changed while reading?)",
                                    path, (unsigned long long)offset);
        p += r;
        n -= (size_t)r;
        offset += (uint64_t)r;
    }
    return MG_OK;
}

/* A short printable form of a name for messages. */
static const char *shown(const char *name, char *buf, size_t n) {
    size_t len = strlen(name);
    if (len + 1 <= n && len <= 60) snprintf(buf, n, "%s", name);
    else snprintf(buf, n, "%.57s...", name);
    return buf;
}

/* Checks one tensor entry of the header and fills *out. */
static int parse_info(const mg_json_doc *doc, const mg_json_node *v, const char *path, info *out) {
    char nb[80];
    const char *name = shown(v->key, nb, sizeof nb);
    if (strlen(v->key) != v->key_len)
        return mg_error("load: '%s': a tensor name contains a NUL character", path);
    if (v->type != MG_JSON_OBJECT)
        return mg_error("load: '%s': header entry \"%s\" must be an object, got %s", path, name,
                        mg_json_type_name(v->type));
    out->name = v->key;
    const mg_json_node *dt = mg_json_get(doc, v, "dtype");
    const mg_json_node *sh = mg_json_get(doc, v, "shape");
    const mg_json_node *off = mg_json_get(doc, v, "data_offsets");
    if (!dt || !sh || !off)
        return mg_error("load: '%s': tensor \"%s\" lacks \"%s\" in the header", path, name,
                        !dt ? "dtype" : !sh ? "shape" : "data_offsets");
    if (dt->type != MG_JSON_STRING)
        return mg_error("load: '%s': dtype of tensor \"%s\" must be a string, got %s", path, name,
                        mg_json_type_name(dt->type));
    if (!strcmp(dt->str, "F32") && dt->str_len == 3) out->dtype = MG_F32;
    else if (!strcmp(dt->str, "I64") && dt->str_len == 3) out->dtype = MG_I64;
    else if (!strcmp(dt->str, "U8") && dt->str_len == 2) out->dtype = MG_U8;
    else {
        static const char *known[] = {"BOOL", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F64", "U64",
                                      "F8_E5M2", "F8_E4M3", NULL};
        bool other = false;
        for (int k = 0; known[k]; k++) other = other || !strcmp(dt->str, known[k]);
        char db[80];
        if (other)
            return mg_error("load: '%s': tensor \"%s\" has dtype %s, which moongrad does not read "
                            "(it reads F32, I64 and U8)", path, name, dt->str);
        return mg_error("load: '%s': tensor \"%s\" has an unknown dtype \"%s\" (expected F32, I64 or U8)", path,
                        name, shown(dt->str, db, sizeof db));
    }
    if (sh->type != MG_JSON_ARRAY)
        return mg_error("load: '%s': shape of tensor \"%s\" must be an array, got %s", path, name,
                        mg_json_type_name(sh->type));
    if (sh->count > MG_MAX_DIMS)
        return mg_error("load: '%s': tensor \"%s\" has %d dims, more than the %d supported", path, name, sh->count,
                        MG_MAX_DIMS);
    out->ndim = 0;
    uint64_t numel = 1;
    bool overflow = false;
    for (const mg_json_node *c = mg_json_child(doc, sh); c; c = mg_json_next(doc, c)) {
        if (c->type != MG_JSON_NUMBER || !c->is_int || c->ival < 0)
            return mg_error("load: '%s': shape of tensor \"%s\" must hold integers >= 0, got %s at position %d",
                            path, name, c->type == MG_JSON_NUMBER ? (c->is_int ? "a negative number" : "a non-integer or too large number") : mg_json_type_name(c->type),
                            out->ndim + 1);
        out->shape[out->ndim++] = c->ival;
        if (__builtin_mul_overflow(numel, (uint64_t)c->ival, &numel)) overflow = true;
    }
    if (off->type != MG_JSON_ARRAY || off->count != 2)
        return mg_error("load: '%s': data_offsets of tensor \"%s\" must be an array of two integers", path, name);
    const mg_json_node *b = mg_json_child(doc, off), *e = mg_json_next(doc, b);
    for (const mg_json_node *c = b; c; c = mg_json_next(doc, c)) {
        if (c->type != MG_JSON_NUMBER || !c->is_int)
            return mg_error("load: '%s': data_offsets of tensor \"%s\" must be integers, got %s", path, name,
                            c->type == MG_JSON_NUMBER ? "a non-integer or too large number" : mg_json_type_name(c->type));
        if (c->ival < 0)
            return mg_error("load: '%s': data_offsets of tensor \"%s\" must be >= 0, got %lld", path, name,
                            (long long)c->ival);
    }
    out->begin = (uint64_t)b->ival;
    out->end = (uint64_t)e->ival;
    if (out->end < out->begin)
        return mg_error("load: '%s': data_offsets [%llu, %llu] of tensor \"%s\" end before they begin", path,
                        (unsigned long long)out->begin, (unsigned long long)out->end, name);
    uint64_t nbytes;
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)mg_dtype_size(out->dtype), &nbytes) ||
        nbytes != out->end - out->begin) {
        char sb[MG_SHAPE_BUF], need[32] = "too many";
        if (!overflow) snprintf(need, sizeof need, "%llu", (unsigned long long)nbytes);
        return mg_error("load: '%s': tensor \"%s\" (%s %s) needs %s bytes but its data_offsets [%llu, %llu] hold "
                        "%llu", path, name, dt->str, mg_shape_str_raw(out->ndim, out->shape, sb, sizeof sb), need,
                        (unsigned long long)out->begin, (unsigned long long)out->end,
                        (unsigned long long)(out->end - out->begin));
    }
    return MG_OK;
}

/* Re-serialises the "__metadata__" object (an object of strings). */
static char *metadata_text(const mg_json_doc *doc, const mg_json_node *m, const char *path) {
    if (m->type != MG_JSON_OBJECT) {
        mg_error("load: '%s': \"__metadata__\" must be an object of strings, got %s", path, mg_json_type_name(m->type));
        return NULL;
    }
    mg_buf b = {0};
    mg_buf_puts(&b, "{");
    for (const mg_json_node *c = mg_json_child(doc, m); c; c = mg_json_next(doc, c)) {
        if (c->type != MG_JSON_STRING) {
            char kb[80];
            mg_error("load: '%s': metadata value of \"%s\" must be a string, got %s", path,
                     shown(c->key, kb, sizeof kb), mg_json_type_name(c->type));
            mg_buf_free(&b);
            return NULL;
        }
        if (c != mg_json_child(doc, m)) mg_buf_puts(&b, ",");
        mg_buf_json_string(&b, c->key, c->key_len);
        mg_buf_puts(&b, ":");
        mg_buf_json_string(&b, c->str, c->str_len);
    }
    mg_buf_puts(&b, "}");
    if (b.failed) {
        mg_error("load: out of memory");
        mg_buf_free(&b);
        return NULL;
    }
    return b.data;
}

int mg_load_safetensors(const char *path, int *n_out, char ***names_out, mg_tensor ***tensors_out,
                        char **metadata_out) {
    int fd = -1, count = 0, rc = MG_ERR;
    char *header = NULL, *meta = NULL, **names = NULL;
    info *inf = NULL;
    mg_tensor **ts = NULL;
    mg_json_doc doc = {0};
    *n_out = 0;
    *names_out = NULL;
    *tensors_out = NULL;
    if (metadata_out) *metadata_out = NULL;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "load: cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    CHECK(fstat(fd, &st) == 0, "load: cannot read '%s': %s", path, strerror(errno));
    CHECK(S_ISREG(st.st_mode), "load: '%s' is not a regular file", path);
    uint64_t size = (uint64_t)st.st_size;
    CHECK(size >= 8, "load: '%s' is not a safetensors file: it has %llu bytes, fewer than the 8 of the header "
          "length", path, (unsigned long long)size);
    uint8_t len8[8];
    TRY_OK(read_at(fd, len8, 8, 0, path));
    uint64_t hlen = 0;
    for (int k = 0; k < 8; k++) hlen |= (uint64_t)len8[k] << (8 * k);
    CHECK(hlen <= size - 8, "load: '%s': header length %llu exceeds the file size (%llu bytes)", path,
          (unsigned long long)hlen, (unsigned long long)size);
    CHECK(hlen <= HEADER_LIMIT, "load: '%s': header length %llu is above the limit of %llu bytes", path,
          (unsigned long long)hlen, HEADER_LIMIT);
    CHECK(hlen >= 2, "load: '%s': header length %llu is too small for a JSON object", path, (unsigned long long)hlen);
    header = malloc(hlen);
    CHECK(header, "load: '%s': out of memory for a %llu-byte header", path, (unsigned long long)hlen);
    TRY_OK(read_at(fd, header, hlen, 8, path));
    CHECK(header[0] == '{', "load: '%s': the header does not start with '{' (not a safetensors file?)", path);
    {
        char err[300];
        CHECK(mg_json_parse(header, hlen, &doc, err, sizeof err) == 0, "load: '%s': header: %s", path, err);
    }
    const mg_json_node *top = &doc.nodes[0];
    CHECK(top->type == MG_JSON_OBJECT, "load: '%s': the header must be a JSON object", path);
    inf = calloc((size_t)(top->count ? top->count : 1), sizeof *inf);
    CHECK(inf, "load: out of memory");
    for (const mg_json_node *c = mg_json_child(&doc, top); c; c = mg_json_next(&doc, c)) {
        if (c->key_len == 12 && !memcmp(c->key, "__metadata__", 12)) {
            TRY(meta = metadata_text(&doc, c, path));
            continue;
        }
        TRY_OK(parse_info(&doc, c, path, &inf[count]));
        count++;
    }
    uint64_t data_size = size - 8 - hlen;
    for (int i = 0; i < count; i++) {
        char nb[80];
        CHECK(inf[i].end <= data_size, "load: '%s': data_offsets [%llu, %llu] of tensor \"%s\" go past the end of "
              "the data (%llu bytes; is the file truncated?)", path, (unsigned long long)inf[i].begin,
              (unsigned long long)inf[i].end, shown(inf[i].name, nb, sizeof nb), (unsigned long long)data_size);
    }
    qsort(inf, (size_t)count, sizeof *inf, info_order);
    uint64_t pos = 0;
    for (int i = 0; i < count; i++) {
        char nb[80], pb[80];
        if (inf[i].begin < pos)
            CHECK(false, "load: '%s': the data of tensors \"%s\" and \"%s\" overlap ([%llu, %llu] and [%llu, %llu])",
                  path, shown(inf[i - 1].name, pb, sizeof pb), shown(inf[i].name, nb, sizeof nb),
                  (unsigned long long)inf[i - 1].begin, (unsigned long long)inf[i - 1].end,
                  (unsigned long long)inf[i].begin, (unsigned long long)inf[i].end);
        CHECK(inf[i].begin == pos, "load: '%s': data bytes [%llu, %llu) belong to no tensor", path,
              (unsigned long long)pos, (unsigned long long)inf[i].begin);
        pos = inf[i].end;
    }
    CHECK(pos == data_size, "load: '%s': %llu bytes after the last tensor's data belong to no tensor", path,
          (unsigned long long)(data_size - pos));

    names = calloc((size_t)(count ? count : 1), sizeof *names);
    ts = calloc((size_t)(count ? count : 1), sizeof *ts);
    CHECK(names && ts, "load: out of memory");
    for (int i = 0; i < count; i++) {
        size_t len = strlen(inf[i].name) + 1;
        names[i] = malloc(len);
        CHECK(names[i], "load: out of memory");
        memcpy(names[i], inf[i].name, len);
        ts[i] = mg_empty(inf[i].dtype, inf[i].ndim, inf[i].shape);
        if (!ts[i]) {
            char msg[1024], nb[80];
            snprintf(msg, sizeof msg, "%s", mg_last_error());
            CHECK(false, "load: '%s': tensor \"%s\": %s", path, shown(inf[i].name, nb, sizeof nb), msg);
        }
        if (inf[i].end > inf[i].begin)
            TRY_OK(read_at(fd, ts[i]->storage->data, inf[i].end - inf[i].begin, 8 + hlen + inf[i].begin, path));
    }
    *n_out = count;
    *names_out = names;
    *tensors_out = ts;
    if (metadata_out) *metadata_out = meta;
    else free(meta);
    names = NULL;
    ts = NULL;
    meta = NULL;
    rc = MG_OK;
fail:
    if (names || ts) mg_free_named(count, names, ts);
    free(meta);
    free(inf);
    mg_json_free(&doc);
    free(header);
    if (fd >= 0) close(fd);
    return rc;
}

void mg_free_named(int n, char **names, mg_tensor **tensors) {
    for (int i = 0; i < n; i++) {
        if (names) free(names[i]);
        if (tensors) mg_release(tensors[i]);
    }
    free(names);
    free(tensors);
}
