/*
 * A small strict JSON parser (RFC 8259) for file headers: the safetensors
 * header and metadata. Internal to the core and the bindings that read
 * those headers; not part of the public API.
 *
 * The whole document is parsed into one array of nodes. Strings are
 * decoded (escapes resolved, \u surrogate pairs joined) into one buffer and
 * NUL-terminated; their length is kept too, since "\u0000" may appear.
 * Refused: trailing commas, leading zeros, lone surrogates, invalid UTF-8,
 * raw control characters in strings, duplicate keys in an object, nesting
 * deeper than MG_JSON_MAX_DEPTH, more than MG_JSON_MAX_NODES values, and
 * anything after the top-level value
 * other than white space.
 */
#ifndef MG_JSON_H
#define MG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_JSON_MAX_DEPTH 64
/* At most this many values in one document (bounds memory on hostile input). */
#define MG_JSON_MAX_NODES (1 << 22)

typedef enum {
    MG_JSON_NULL, MG_JSON_FALSE, MG_JSON_TRUE, MG_JSON_NUMBER, MG_JSON_STRING,
    MG_JSON_ARRAY, MG_JSON_OBJECT
} mg_json_type;

typedef struct {
    mg_json_type type;
    int first;   /* first child (array element or object member), or -1 */
    int next;    /* next sibling, or -1 */
    int count;   /* number of children */
    const char *key; /* member name when the parent is an object, else NULL */
    size_t key_len;
    const char *str; /* string value */
    size_t str_len;
    double num;      /* number value */
    bool is_int;     /* the literal had no fraction or exponent and fits int64 */
    int64_t ival;
    size_t pos;      /* byte offset of the value in the text */
} mg_json_node;

typedef struct {
    mg_json_node *nodes; /* nodes[0] is the top-level value */
    int n, cap;
    char *strings;
} mg_json_doc;

/* Parses text[0..len). On error returns -1 and writes a message such as
 * "invalid JSON at byte 17: expected ':' after an object key" into err. */
int mg_json_parse(const char *text, size_t len, mg_json_doc *doc, char *err, size_t errn);
void mg_json_free(mg_json_doc *doc);
/* The member `key` of an object node, or NULL. */
const mg_json_node *mg_json_get(const mg_json_doc *doc, const mg_json_node *obj, const char *key);
/* The node after `child` among its siblings, or NULL (iterate with
 * for (c = mg_json_child(d, n); c; c = mg_json_next(d, c))). */
const mg_json_node *mg_json_child(const mg_json_doc *doc, const mg_json_node *n);
const mg_json_node *mg_json_next(const mg_json_doc *doc, const mg_json_node *n);
const char *mg_json_type_name(mg_json_type t);
/* True when s[0..n) is well-formed UTF-8 (no surrogates, at most U+10FFFF). */
bool mg_utf8_valid(const char *s, size_t n);

/* A growable byte buffer for writing JSON. On allocation failure `failed`
 * is set and later appends do nothing. */
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} mg_buf;
void mg_buf_append(mg_buf *b, const void *data, size_t n);
void mg_buf_puts(mg_buf *b, const char *s);
void mg_buf_printf(mg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal with quotes and escapes. */
void mg_buf_json_string(mg_buf *b, const char *s, size_t n);
void mg_buf_free(mg_buf *b);

#endif
