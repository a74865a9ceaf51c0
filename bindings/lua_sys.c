/*
 * Small system facilities Lua lacks, for progress bars, logs and run
 * folders: isatty and mkdir -p. (The wall clock is in lua_core.c.)
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lua_common.h"

/***
 * @module moongrad
 */

/*** System facilities for progress bars, logs and run folders.
 * @section system
 */

/*** Whether a file descriptor is a terminal.
 * @function isatty
 * @int fd 1 for standard output, 2 for standard error
 * @treturn bool
 */
static int l_isatty(lua_State *L) {
    lua_Integer fd = mgl_int(L, 1, "isatty", "fd");
    lua_pushboolean(L, fd >= 0 && fd < 1 << 20 && isatty((int)fd));
    return 1;
}

/*** Creates a folder and its missing parents, as `mkdir -p`.
 * @function mkdir
 * @string path
 * @treturn string path
 */
static int l_mkdir(lua_State *L) {
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    if (len == 0) return luaL_error(L, "mkdir: empty path");
    if (len >= 4096) return luaL_error(L, "mkdir: path too long (%d characters)", (int)len);
    char buf[4096];
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            return luaL_error(L, "mkdir: cannot create '%s': %s", buf, strerror(e));
        }
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return luaL_error(L, "mkdir: '%s' exists and is not a folder", path);
    lua_settop(L, 1);
    return 1;
}

void mgl_open_sys(lua_State *L) {
    const luaL_Reg fns[] = {{"isatty", l_isatty}, {"mkdir", l_mkdir}, {NULL, NULL}};
    mgl_register(L, -1, fns, false);
}
