/* Error messages: one thread-local buffer, written by mg_error, read by the
 * bindings. Also shape and dtype strings for messages. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

int mg_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return MG_ERR;
}

const char *mg_last_error(void) { return last_error[0] ? last_error : "unknown error"; }

char *mg_shape_str_raw(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t used = 0;
    used += (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && used < n; d++)
        used += (size_t)snprintf(buf + used, n - used, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

char *mg_shape_str(const mg_tensor *t, char *buf, size_t n) {
    return mg_shape_str_raw(t->ndim, t->shape, buf, n);
}

/* Four rotating slots per thread, so one message can show up to four
 * shapes (mg_shp(a), mg_shp(b), ...); the fifth call reuses the first. */
static _Thread_local char shape_slots[4][MG_SHAPE_BUF];
static _Thread_local int shape_next;

const char *mg_shp(const mg_tensor *t) {
    char *b = shape_slots[shape_next++ & 3];
    return mg_shape_str(t, b, MG_SHAPE_BUF);
}

/* The same as mg_shp (the slots rotate either way); kept for callers that
 * name their second shape. */
const char *mg_shp2(const mg_tensor *t) { return mg_shp(t); }

const char *mg_dtype_name(mg_dtype d) {
    switch (d) {
    case MG_F32: return "float32";
    case MG_I64: return "int64";
    case MG_U8: return "uint8";
    }
    return "unknown";
}

size_t mg_dtype_size(mg_dtype d) {
    switch (d) {
    case MG_F32: return 4;
    case MG_I64: return 8;
    case MG_U8: return 1;
    }
    return 0;
}
