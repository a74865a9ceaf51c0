/*
 * Lua bindings of the text data files:
 *   mg.read_tsv(path [, {limit = n}]) -> texts, labels, ids
 * reads the `label TAB id TAB text` lines of data/full/text/ and
 * data/sample/text/ (\\ \t \n \r escaped; any other escape kept as is) into
 * three lists of strings. The whole file is read into a Lua-owned buffer
 * and unescaped in place, so a raised error leaks nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lua_common.h"

/* Unescapes s[0..n) in place; returns the new length. */
static size_t unescape(char *s, size_t n) {
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        char c = s[r];
        if (c == '\\' && r + 1 < n) {
            char e = s[r + 1];
            char out = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '\\' ? '\\' : 0;
            if (out) {
                s[w++] = out;
                r++;
                continue;
            }
        }
        s[w++] = c;
    }
    return w;
}

/***
 * @module moongrad
 */

/*** Text files.
 * @section text
 */

/*** Reads a text data file of `label TAB id TAB text` lines (with `\\`,
 * `\t`, `\n`, `\r` escaped), as the text sets under data/ are stored.
 * @function read_tsv
 * @string path
 * @tparam[opt] table opts `{limit = n}`: the first n lines only
 * @treturn {string,...} the texts
 * @treturn {string,...} the labels
 * @treturn {string,...} the ids
 */
static int l_read_tsv(lua_State *L) {
    lua_settop(L, 2);
    const char *path = luaL_checkstring(L, 1);
    lua_Integer limit = mgl_opt_int(L, 2, "limit", -1, "read_tsv");
    struct stat st;
    if (stat(path, &st) != 0) return luaL_error(L, "read_tsv: cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return luaL_error(L, "read_tsv: %s is not a regular file", path);
    /* the buffer is Lua's (stack 3), made before the file is opened */
    char *buf = lua_newuserdatauv(L, (size_t)st.st_size + 1, 0);
    FILE *f = fopen(path, "rb");
    if (!f) return luaL_error(L, "read_tsv: cannot open %s: %s", path, strerror(errno));
    size_t got = fread(buf, 1, (size_t)st.st_size, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != (size_t)st.st_size) return luaL_error(L, "read_tsv: cannot read %s", path);
    size_t size = got;
    lua_createtable(L, 0, 0); /* 4 texts */
    lua_createtable(L, 0, 0); /* 5 labels */
    lua_createtable(L, 0, 0); /* 6 ids */
    size_t pos = 0, n = size;
    lua_Integer line = 0;
    while (pos < n && (limit < 0 || line < limit)) {
        char *start = buf + pos;
        char *nl = memchr(start, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - start) : n - pos;
        pos += len + (nl ? 1 : 0);
        line++;
        char *tab1 = memchr(start, '\t', len);
        char *tab2 = tab1 ? memchr(tab1 + 1, '\t', len - (size_t)(tab1 + 1 - start)) : NULL;
        if (!tab2) return luaL_error(L, "read_tsv: %s:%d: expected 'label TAB id TAB text'", path, (int)line);
        char *fields[3] = {start, tab1 + 1, tab2 + 1};
        size_t lens[3] = {(size_t)(tab1 - start), (size_t)(tab2 - tab1 - 1), len - (size_t)(tab2 + 1 - start)};
        int into[3] = {5, 6, 4};
        for (int k = 0; k < 3; k++) {
            size_t m = memchr(fields[k], '\\', lens[k]) ? unescape(fields[k], lens[k]) : lens[k];
            lua_pushlstring(L, fields[k], m);
            lua_rawseti(L, into[k], line);
        }
    }
    return 3;
}

void mgl_open_text(lua_State *L) {
    const luaL_Reg fns[] = {{"read_tsv", l_read_tsv}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
