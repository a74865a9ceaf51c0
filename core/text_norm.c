/*
 * Characters of the text code: UTF-8 units (invalid bytes kept as units of
 * their own, so any byte string has a defined reading), lower-casing,
 * white space and punctuation classes, and the pre-tokenizer that cuts a
 * text into pieces for the tokenizer.
 */
#include "json.h"
#include "text_internal.h"

#include <stdlib.h>

int32_t mg_utf8_unit(const unsigned char *s, size_t n, size_t *pos) {
    size_t i = *pos;
    unsigned c = s[i];
    int need;
    uint32_t cp, min;
    if (c < 0x80) {
        *pos = i + 1;
        return (int32_t)c;
    } else if (c >= 0xC2 && c <= 0xDF) {
        need = 1, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, cp = c & 0x07, min = 0x10000;
    } else {
        *pos = i + 1;
        return -1 - (int32_t)c;
    }
    if (i + (size_t)need >= n) { /* the text ends inside the character */
        *pos = i + 1;
        return -1 - (int32_t)c;
    }
    for (int k = 1; k <= need; k++) {
        unsigned b = s[i + (size_t)k];
        if ((b & 0xC0) != 0x80) {
            *pos = i + 1;
            return -1 - (int32_t)c;
        }
        cp = cp << 6 | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *pos = i + 1;
        return -1 - (int32_t)c;
    }
    *pos = i + 1 + (size_t)need;
    return (int32_t)cp;
}

int mg_utf8_put(int32_t u, char *out) {
    if (u < 0) {
        out[0] = (char)(-1 - u);
        return 1;
    }
    uint32_t c = (uint32_t)u;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

int32_t mg_text_lower(int32_t u) {
    if (u < 0x80) return (u >= 'A' && u <= 'Z') ? u + 32 : u;
    if (u >= 0xC0 && u <= 0xDE && u != 0xD7) return u + 32;                /* Latin-1 */
    if (u >= 0x100 && u <= 0x17F) {                                         /* Latin Extended-A */
        if (u == 0x130) return 'i';                                         /* dotted capital I */
        if (u == 0x178) return 0xFF;                                        /* Y with diaeresis */
        if ((u <= 0x137 || (u >= 0x14A && u <= 0x177)) && u % 2 == 0) return u + 1;
        if (((u >= 0x139 && u <= 0x148) || (u >= 0x179 && u <= 0x17E)) && u % 2 == 1) return u + 1;
        return u;
    }
    if (u >= 0x391 && u <= 0x3AB && u != 0x3A2) return u + 32;              /* Greek */
    if (u == 0x386) return 0x3AC;
    if (u >= 0x388 && u <= 0x38A) return u + 37;
    if (u == 0x38C) return 0x3CC;
    if (u == 0x38E || u == 0x38F) return u + 63;
    if (u >= 0x410 && u <= 0x42F) return u + 32;                            /* Cyrillic */
    if (u >= 0x400 && u <= 0x40F) return u + 80;
    return u;
}

bool mg_text_is_space(int32_t u) {
    if (u < 0) return false;
    if (u == ' ' || (u >= 9 && u <= 13)) return true;
    if (u < 0x85) return false;
    return u == 0x85 || u == 0xA0 || u == 0x1680 || (u >= 0x2000 && u <= 0x200B) || u == 0x2028 ||
           u == 0x2029 || u == 0x202F || u == 0x205F || u == 0x3000 || u == 0xFEFF;
}

/* ASCII punctuation and symbols, Latin-1 signs, General Punctuation,
 * currency signs, CJK and fullwidth punctuation. */
bool mg_text_is_punct(int32_t u) {
    if (u < 0x21) return false;
    if (u < 0x80) return !((u >= '0' && u <= '9') || (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || u == 0x7F);
    if (u >= 0xA1 && u <= 0xBF)
        return !(u == 0xAA || u == 0xB2 || u == 0xB3 || u == 0xB5 || u == 0xB9 || u == 0xBA ||
                 (u >= 0xBC && u <= 0xBE));
    if (u == 0xD7 || u == 0xF7) return true;
    if (u >= 0x2010 && u <= 0x2027) return true;
    if (u >= 0x2030 && u <= 0x205E) return true;
    if (u >= 0x20A0 && u <= 0x20CF) return true;
    if (u >= 0x3001 && u <= 0x303F) return true;
    if ((u >= 0xFF01 && u <= 0xFF0F) || (u >= 0xFF1A && u <= 0xFF20) || (u >= 0xFF3B && u <= 0xFF40) ||
        (u >= 0xFF5B && u <= 0xFF65))
        return true;
    return false;
}

/* ---- the pre-tokenizer ------------------------------------------------------------ */

int mg_pretok_init(mg_pretok *p, const char *text, size_t len, bool lowercase, int max_chars) {
    memset(p, 0, sizeof *p);
    p->text = (const unsigned char *)text;
    p->len = len;
    p->lowercase = lowercase;
    p->max_chars = max_chars;
    p->bytes = malloc((size_t)max_chars * 4);
    p->units = malloc((size_t)max_chars * sizeof *p->units);
    p->offs = malloc(((size_t)max_chars + 1) * sizeof *p->offs);
    if (!p->bytes || !p->units || !p->offs) {
        mg_pretok_free(p);
        return mg_error("text: out of memory for words of %d characters", max_chars);
    }
    return MG_OK;
}

void mg_pretok_free(mg_pretok *p) {
    free(p->bytes);
    free(p->units);
    free(p->offs);
    p->bytes = NULL;
    p->units = NULL;
    p->offs = NULL;
}

static void put_unit(mg_pretok *p, int32_t u) {
    if (p->lowercase) u = mg_text_lower(u);
    p->offs[p->n_units] = (uint32_t)p->nbytes;
    p->units[p->n_units++] = u;
    p->nbytes += (size_t)mg_utf8_put(u, p->bytes + p->nbytes);
}

int mg_pretok_next(mg_pretok *p) {
    bool space = false;
    int32_t u = 0;
    size_t next = p->pos;
    while (p->pos < p->len) {
        next = p->pos;
        u = mg_utf8_unit(p->text, p->len, &next);
        if (!mg_text_is_space(u)) break;
        space = true;
        p->pos = next;
    }
    if (p->pos >= p->len) return 0;
    p->attached = p->started && !space;
    p->started = true;
    p->n_units = 0;
    p->nbytes = 0;
    put_unit(p, u);
    p->pos = next;
    if (!mg_text_is_punct(u)) {
        while (p->pos < p->len && p->n_units < p->max_chars) {
            next = p->pos;
            u = mg_utf8_unit(p->text, p->len, &next);
            if (mg_text_is_space(u) || mg_text_is_punct(u)) break;
            put_unit(p, u);
            p->pos = next;
        }
    }
    p->offs[p->n_units] = (uint32_t)p->nbytes;
    return 1;
}

char *mg_text_normalize(const char *text, size_t len, bool lowercase, size_t *out_len) {
    mg_pretok p;
    if (mg_pretok_init(&p, text, len, lowercase, 1000)) return NULL;
    mg_buf b = {0};
    while (mg_pretok_next(&p) == 1) {
        if (b.len > 0 && !p.attached) mg_buf_append(&b, " ", 1);
        mg_buf_append(&b, p.bytes, p.nbytes);
    }
    mg_pretok_free(&p);
    mg_buf_append(&b, "", 1);
    if (b.failed) {
        mg_buf_free(&b);
        mg_error("text_normalize: out of memory");
        return NULL;
    }
    *out_len = b.len - 1;
    return b.data;
}
