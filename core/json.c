/*
 * A small strict JSON parser (see json.h) and a byte buffer for writing
 * JSON. Used by the safetensors reader and writer and by the bindings that
 * convert safetensors metadata.
 */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t len, pos;
    mg_json_doc *doc;
    size_t strpos; /* next free byte of doc->strings */
    char *err;
    size_t errn;
    bool failed;
} parser;

static int fail_at(parser *p, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(parser *p, size_t pos, const char *fmt, ...) {
    if (p->failed) return -1;
    p->failed = true;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->errn) snprintf(p->err, p->errn, "invalid JSON at byte %zu: %s", pos, msg);
    return -1;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static const char *describe(parser *p) {
    static _Thread_local char buf[32];
    if (p->pos >= p->len) return "the end of the text";
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, sizeof buf, "'%c'", c);
    else snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
}

/* Index of a new node, or -1 (out of memory). */
static int new_node(parser *p, mg_json_type type) {
    mg_json_doc *d = p->doc;
    if (d->n == d->cap) {
        if (d->cap >= MG_JSON_MAX_NODES) return fail_at(p, p->pos, "more than %d values", MG_JSON_MAX_NODES);
        int cap = d->cap ? (d->cap > MG_JSON_MAX_NODES / 2 ? MG_JSON_MAX_NODES : d->cap * 2) : 64;
        mg_json_node *nn = realloc(d->nodes, (size_t)cap * sizeof *nn);
        if (!nn) return fail_at(p, p->pos, "out of memory");
        d->nodes = nn;
        d->cap = cap;
    }
    mg_json_node *n = &d->nodes[d->n];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->first = n->next = -1;
    n->pos = p->pos;
    return d->n++;
}

/* Length of the UTF-8 sequence at s (n bytes available), or 0 if malformed. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

bool mg_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k) return false;
        i += k;
    }
    return true;
}

static int hex4(parser *p, uint32_t *out) {
    if (p->len - p->pos < 4) return fail_at(p, p->pos, "\\u needs four hex digits");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->pos + k];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return fail_at(p, p->pos + k, "\\u needs four hex digits");
        v = v * 16 + (uint32_t)d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static void put_utf8(char *o, size_t *k, uint32_t cp) {
    if (cp < 0x80) {
        o[(*k)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*k)++] = (char)(0xc0 | (cp >> 6));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xe0 | (cp >> 12));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        o[(*k)++] = (char)(0xf0 | (cp >> 18));
        o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* Parses a string literal at p->pos (the opening quote) into the string
 * buffer. A decoded string is never longer than its literal, so the buffer
 * (text length + 1) always has room for it and its NUL. */
static int parse_string(parser *p, const char **out, size_t *out_len) {
    size_t start = p->pos;
    p->pos++; /* opening quote */
    char *o = p->doc->strings + p->strpos;
    size_t k = 0;
    for (;;) {
        if (p->pos >= p->len) return fail_at(p, start, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) return fail_at(p, p->pos, "control character 0x%02x in a string (escape it)", c);
        if (c == '\\') {
            p->pos++;
            if (p->pos >= p->len) return fail_at(p, start, "unterminated string");
            char e = p->s[p->pos++];
            switch (e) {
            case '"': o[k++] = '"'; break;
            case '\\': o[k++] = '\\'; break;
            case '/': o[k++] = '/'; break;
            case 'b': o[k++] = '\b'; break;
            case 'f': o[k++] = '\f'; break;
            case 'n': o[k++] = '\n'; break;
            case 'r': o[k++] = '\r'; break;
            case 't': o[k++] = '\t'; break;
            case 'u': {
                size_t at = p->pos - 2;
                uint32_t cp;
                if (hex4(p, &cp)) return -1;
                if (cp >= 0xdc00 && cp <= 0xdfff) return fail_at(p, at, "lone low surrogate \\u%04x", cp);
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                        return fail_at(p, at, "lone high surrogate \\u%04x", cp);
                    p->pos += 2;
                    if (hex4(p, &lo)) return -1;
                    if (lo < 0xdc00 || lo > 0xdfff) return fail_at(p, at, "lone high surrogate \\u%04x", cp);
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                }
                put_utf8(o, &k, cp);
                break;
            }
            default:
                return fail_at(p, p->pos - 2, "unknown escape '\\%c'", e);
            }
            continue;
        }
        size_t n = utf8_seq((const unsigned char *)p->s + p->pos, p->len - p->pos);
        if (!n) return fail_at(p, p->pos, "invalid UTF-8 in a string");
        memcpy(o + k, p->s + p->pos, n);
        k += n;
        p->pos += n;
    }
    o[k] = '\0';
    p->strpos += k + 1;
    *out = o;
    *out_len = k;
    return 0;
}

static int parse_number(parser *p, mg_json_node *n) {
    size_t start = p->pos;
    const char *s = p->s;
    bool neg = false, integral = true, overflow = false;
    uint64_t mag = 0;
    if (p->pos < p->len && s[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9') return fail_at(p, start, "invalid number");
    if (s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9')
            return fail_at(p, start, "numbers may not have leading zeros");
    } else {
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9') {
            uint64_t d = (uint64_t)(s[p->pos] - '0');
            if (mag > (UINT64_MAX - d) / 10) overflow = true;
            else mag = mag * 10 + d;
            p->pos++;
        }
    }
    if (p->pos < p->len && s[p->pos] == '.') {
        integral = false;
        p->pos++;
        if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
            return fail_at(p, start, "a digit must follow the decimal point");
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9') p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        integral = false;
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || s[p->pos] < '0' || s[p->pos] > '9')
            return fail_at(p, start, "a digit must follow the exponent");
        while (p->pos < p->len && s[p->pos] >= '0' && s[p->pos] <= '9') p->pos++;
    }
    size_t len = p->pos - start;
    char small[64], *buf = small;
    if (len >= sizeof small) {
        buf = malloc(len + 1);
        if (!buf) return fail_at(p, start, "out of memory");
    }
    memcpy(buf, s + start, len);
    buf[len] = '\0';
    n->num = strtod(buf, NULL);
    if (buf != small) free(buf);
    if (integral && !overflow) {
        if (!neg && mag <= (uint64_t)INT64_MAX) {
            n->is_int = true;
            n->ival = (int64_t)mag;
        } else if (neg && mag <= (uint64_t)INT64_MAX + 1) {
            n->is_int = true;
            n->ival = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        }
    }
    return 0;
}

typedef struct {
    const char *key;
    size_t len, pos;
} keyref;

static int keycmp(const void *a, const void *b) {
    const keyref *x = a, *y = b;
    size_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, m);
    if (c) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Refuses an object with two members of the same name (sorting: O(n log n)). */
static int check_duplicates(parser *p, int obj) {
    const mg_json_node *nodes = p->doc->nodes;
    int count = nodes[obj].count;
    if (count < 2) return 0;
    keyref *keys = malloc((size_t)count * sizeof *keys);
    if (!keys) return fail_at(p, nodes[obj].pos, "out of memory");
    int k = 0;
    for (int c = nodes[obj].first; c >= 0; c = nodes[c].next)
        keys[k++] = (keyref){nodes[c].key, nodes[c].key_len, nodes[c].pos};
    qsort(keys, (size_t)count, sizeof *keys, keycmp);
    for (k = 1; k < count; k++) {
        if (keycmp(&keys[k - 1], &keys[k]) == 0) {
            const keyref *later = keys[k - 1].pos > keys[k].pos ? &keys[k - 1] : &keys[k];
            char name[64];
            snprintf(name, sizeof name, "%.*s%s", (int)(later->len > 40 ? 40 : later->len), later->key,
                     later->len > 40 ? "..." : "");
            size_t pos = later->pos;
            free(keys);
            return fail_at(p, pos, "duplicate key \"%s\"", name);
        }
    }
    free(keys);
    return 0;
}

static int parse_value(parser *p, int depth);

/* Parses the members or elements of an array/object whose opening bracket
 * is at p->pos. */
static int parse_container(parser *p, int depth, bool object) {
    if (depth >= MG_JSON_MAX_DEPTH) return fail_at(p, p->pos, "nesting deeper than %d levels", MG_JSON_MAX_DEPTH);
    int self = new_node(p, object ? MG_JSON_OBJECT : MG_JSON_ARRAY);
    if (self < 0) return -1;
    char close = object ? '}' : ']';
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return self;
    }
    int last = -1;
    for (;;) {
        const char *key = NULL;
        size_t key_len = 0;
        skip_ws(p);
        if (object) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail_at(p, p->pos, "expected a string key, got %s", describe(p));
            if (parse_string(p, &key, &key_len)) return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail_at(p, p->pos, "expected ':' after an object key, got %s", describe(p));
            p->pos++;
            skip_ws(p);
        }
        int child = parse_value(p, depth + 1);
        if (child < 0) return -1;
        mg_json_node *nodes = p->doc->nodes; /* may have moved */
        nodes[child].key = key;
        nodes[child].key_len = key_len;
        if (last < 0) nodes[self].first = child;
        else nodes[last].next = child;
        last = child;
        nodes[self].count++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == close)
                return fail_at(p, p->pos, "trailing comma before '%c'", close);
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        return fail_at(p, p->pos, "expected ',' or '%c', got %s", close, describe(p));
    }
    if (object && check_duplicates(p, self)) return -1;
    return self;
}

static int literal(parser *p, const char *word, mg_json_type type) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail_at(p, p->pos, "unexpected %s", describe(p));
    int self = new_node(p, type);
    if (self < 0) return -1;
    p->pos += n;
    return self;
}

static int parse_value(parser *p, int depth) {
    skip_ws(p);
    if (p->pos >= p->len) return fail_at(p, p->pos, "unexpected end of the text, expected a value");
    char c = p->s[p->pos];
    switch (c) {
    case '{': return parse_container(p, depth, true);
    case '[': return parse_container(p, depth, false);
    case '"': {
        int self = new_node(p, MG_JSON_STRING);
        if (self < 0) return -1;
        const char *s;
        size_t n;
        if (parse_string(p, &s, &n)) return -1;
        p->doc->nodes[self].str = s;
        p->doc->nodes[self].str_len = n;
        return self;
    }
    case 't': return literal(p, "true", MG_JSON_TRUE);
    case 'f': return literal(p, "false", MG_JSON_FALSE);
    case 'n': return literal(p, "null", MG_JSON_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            int self = new_node(p, MG_JSON_NUMBER);
            if (self < 0) return -1;
            if (parse_number(p, &p->doc->nodes[self])) return -1;
            return self;
        }
        return fail_at(p, p->pos, "unexpected %s, expected a value", describe(p));
    }
}

int mg_json_parse(const char *text, size_t len, mg_json_doc *doc, char *err, size_t errn) {
    memset(doc, 0, sizeof *doc);
    if (errn) err[0] = '\0';
    parser p = {.s = text, .len = len, .doc = doc, .err = err, .errn = errn};
    if (len > SIZE_MAX - 1 || !(doc->strings = malloc(len + 1))) {
        if (errn) snprintf(err, errn, "invalid JSON: out of memory for %zu bytes", len);
        return -1;
    }
    if (parse_value(&p, 0) < 0) goto fail;
    skip_ws(&p);
    if (p.pos != len) {
        fail_at(&p, p.pos, "unexpected %s after the value", describe(&p));
        goto fail;
    }
    return 0;
fail:
    mg_json_free(doc);
    return -1;
}

void mg_json_free(mg_json_doc *doc) {
    free(doc->nodes);
    free(doc->strings);
    memset(doc, 0, sizeof *doc);
}

const mg_json_node *mg_json_child(const mg_json_doc *doc, const mg_json_node *n) {
    return n->first >= 0 ? &doc->nodes[n->first] : NULL;
}

const mg_json_node *mg_json_next(const mg_json_doc *doc, const mg_json_node *n) {
    return n->next >= 0 ? &doc->nodes[n->next] : NULL;
}

const mg_json_node *mg_json_get(const mg_json_doc *doc, const mg_json_node *obj, const char *key) {
    if (obj->type != MG_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (const mg_json_node *c = mg_json_child(doc, obj); c; c = mg_json_next(doc, c))
        if (c->key_len == n && memcmp(c->key, key, n) == 0) return c;
    return NULL;
}

const char *mg_json_type_name(mg_json_type t) {
    switch (t) {
    case MG_JSON_NULL: return "null";
    case MG_JSON_FALSE: case MG_JSON_TRUE: return "a boolean";
    case MG_JSON_NUMBER: return "a number";
    case MG_JSON_STRING: return "a string";
    case MG_JSON_ARRAY: return "an array";
    case MG_JSON_OBJECT: return "an object";
    }
    return "unknown";
}

/* ---- writing ---------------------------------------------------------------- */

void mg_buf_append(mg_buf *b, const void *data, size_t n) {
    if (b->failed || n == 0) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void mg_buf_puts(mg_buf *b, const char *s) { mg_buf_append(b, s, strlen(s)); }

void mg_buf_printf(mg_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        mg_buf_append(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    mg_buf_append(b, big, (size_t)n);
    free(big);
}

void mg_buf_json_string(mg_buf *b, const char *s, size_t n) {
    mg_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            mg_buf_append(b, s + run, i - run);
            mg_buf_puts(b, esc);
            run = i + 1;
        }
    }
    mg_buf_append(b, s + run, n - run);
    mg_buf_append(b, "\"", 1);
}

void mg_buf_free(mg_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
