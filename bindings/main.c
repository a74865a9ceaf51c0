/*
 * bin/moongrad: Lua 5.4 with moongrad preloaded. Runs a script with `arg`
 * set as the lua program does, or opens a REPL (line editing, history,
 * multi-line input, results printed). An error prints a traceback and
 * exits non-zero.
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <readline/history.h>
#include <readline/readline.h>

#include "lua_common.h"

static const char *progname = "moongrad";

static void usage(FILE *f) {
    fprintf(f,
            "usage: moongrad [options] [script [args...]]\n"
            "Runs a Lua 5.4 script with moongrad preloaded, or opens a REPL.\n\n"
            "  -e code       run code (may be repeated)\n"
            "  -i            open the REPL after running the script or -e code\n"
            "  -l name       require library 'name' into global 'name'\n"
            "  --threads N   use N threads for kernels (default: all cores)\n"
            "  --seed N      seed the random number generator\n"
            "  -v, --version print the version\n"
            "  -h, --help    print this help\n"
            "  -             run standard input as a script\n"
            "  --            stop handling options\n\n"
            "In the REPL, `mg` is the moongrad module; expressions print their value.\n");
}

/* ---- Ctrl-C stops running Lua code (as lua.c does) ---------------------------- */

static lua_State *global_L;

static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint(int sig) {
    signal(sig, SIG_DFL);
    lua_sethook(global_L, stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Calls the function below nargs arguments with a traceback handler. */
static int docall(lua_State *L, int nargs, int nres) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    global_L = L;
    signal(SIGINT, on_sigint);
    int status = lua_pcall(L, nargs, nres, base);
    signal(SIGINT, SIG_DFL);
    lua_remove(L, base);
    return status;
}

static int report(lua_State *L, int status) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error object is not a string)");
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* ---- setup ----------------------------------------------------------------------- */

/* package.path gains <root>/lua, where the binary is <root>/bin/moongrad. */
static void set_paths(lua_State *L) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0'; /* <root>/bin */
    slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0'; /* <root> */
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/lua/?.lua;%s/lua/?/init.lua;%s", exe, exe, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

static void preload_core(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moongrad_core);
    lua_setfield(L, -2, "moongrad.core");
    lua_pop(L, 1);
}

/* arg table: arg[0] = script, arg[1..] its arguments, negative: the interpreter's. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script) {
    int narg = argc - (script + 1);
    lua_createtable(L, narg > 0 ? narg : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int run_chunk(lua_State *L, int status) {
    if (status == LUA_OK) status = docall(L, 0, 0);
    return report(L, status);
}

static int require_global(lua_State *L, const char *name) {
    lua_getglobal(L, "require");
    lua_pushstring(L, name);
    int status = docall(L, 1, 1);
    if (status == LUA_OK) lua_setglobal(L, name);
    return report(L, status);
}

static int run_script(lua_State *L, char **argv, int script, int argc) {
    const char *fname = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = argc - script - 1;
        luaL_checkstack(L, n + 3, "too many arguments to script");
        for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
        status = docall(L, n, LUA_MULTRET);
    }
    return report(L, status);
}

/* ---- REPL ---------------------------------------------------------------------------- */

static int interactive_tty;

static char *read_line(const char *prompt) {
    if (interactive_tty) return readline(prompt);
    static char buf[1 << 16];
    if (!fgets(buf, sizeof buf, stdin)) return NULL;
    size_t n = strlen(buf);
    if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
    return strdup(buf);
}

/* Is this a syntax error only because the input ended early? */
static int incomplete(lua_State *L, int status) {
    if (status != LUA_ERRSYNTAX) return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    if (len >= 5 && strcmp(msg + len - 5, "<eof>") == 0) {
        lua_pop(L, 1);
        return 1;
    }
    return 0;
}

/* Loads one input (an expression or statements, maybe spanning lines). The
 * source string is left on the stack below the chunk. */
static int load_input(lua_State *L, char *first) {
    lua_pushstring(L, first);
    free(first);
    /* try as an expression */
    const char *line = lua_tostring(L, -1);
    const char *ret = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, ret, strlen(ret), "=stdin");
    if (status == LUA_OK) {
        lua_remove(L, -2); /* the "return" string */
        return LUA_OK;
    }
    lua_pop(L, 2);
    for (;;) { /* statements, reading more lines while incomplete */
        size_t len;
        const char *src = lua_tolstring(L, -1, &len);
        status = luaL_loadbuffer(L, src, len, "=stdin");
        if (!incomplete(L, status)) return status;
        char *more = read_line(">> ");
        if (!more) return status;
        lua_pushliteral(L, "\n");
        lua_pushstring(L, more);
        free(more);
        lua_concat(L, 3);
    }
}

/* Prints results through moongrad.repl's formatter (tensors by shape and values). */
static void print_results(lua_State *L, int n) {
    if (n == 0) return;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moongrad.repl");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        lua_getfield(L, -1, "print");
        lua_remove(L, -2);
    } else { /* no formatter: plain print */
        lua_pop(L, 1);
        lua_getglobal(L, "print");
    }
    lua_insert(L, -(n + 1));
    if (docall(L, n, 0) != LUA_OK) report(L, LUA_ERRRUN);
}

static void repl(lua_State *L) {
    interactive_tty = isatty(STDIN_FILENO);
    const char *home = getenv("HOME");
    char hist[PATH_MAX] = "";
    if (interactive_tty) {
        printf("moongrad %s (Lua 5.4) -- `mg` is the module; Ctrl-D exits\n", MG_VERSION);
        if (home) {
            snprintf(hist, sizeof hist, "%s/.moongrad_history", home);
            read_history(hist);
        }
    }
    char *line;
    while ((line = read_line(interactive_tty ? "> " : "")) != NULL) {
        if (line[0] == '\0') {
            free(line);
            continue;
        }
        if (interactive_tty) add_history(line);
        int top = lua_gettop(L);
        int status = load_input(L, line);
        if (status == LUA_OK) {
            lua_remove(L, -2); /* the source string */
            status = docall(L, 0, LUA_MULTRET);
        } else {
            lua_remove(L, -2);
        }
        if (status == LUA_OK) print_results(L, lua_gettop(L) - top);
        else report(L, status);
        lua_settop(L, top);
        fflush(stdout);
    }
    if (interactive_tty) {
        printf("\n");
        if (hist[0]) write_history(hist);
    }
}

/* ---- main -------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "%s: cannot create the Lua state (out of memory)\n", progname);
        return 1;
    }
    luaL_openlibs(L);
    preload_core(L);
    set_paths(L);

    int script = 0, interactive = 0, ran_code = 0, status = LUA_OK;
    int i = 1;
    /* first pass: options that do not run code */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            lua_close(L);
            return 0;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
            printf("moongrad %s (%s)\n", MG_VERSION, LUA_RELEASE);
            lua_close(L);
            return 0;
        }
        if (!strcmp(a, "-i")) {
            interactive = 1;
            continue;
        }
        if (!strcmp(a, "-e") || !strcmp(a, "-l") || !strcmp(a, "--threads") || !strcmp(a, "--seed")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: '%s' needs an argument\n", progname, a);
                usage(stderr);
                lua_close(L);
                return 1;
            }
            i++;
            continue;
        }
        fprintf(stderr, "%s: unknown option '%s'\n", progname, a);
        usage(stderr);
        lua_close(L);
        return 1;
    }
    script = i < argc ? i : 0;
    create_arg_table(L, argv, argc, script ? script : argc);

    /* second pass: settings, then -l and -e in order */
    int end = script ? script : argc;
    for (int k = 1; k < end; k++) {
        if (!strcmp(argv[k], "--threads") || !strcmp(argv[k], "--seed")) {
            char *e;
            long long v = strtoll(argv[k + 1], &e, 10);
            if (*e || (!strcmp(argv[k], "--threads") && (v < 1 || v > 256))) {
                fprintf(stderr, "%s: %s needs a number%s, got '%s'\n", progname, argv[k],
                        !strcmp(argv[k], "--threads") ? " in 1..256" : "", argv[k + 1]);
                lua_close(L);
                return 1;
            }
            if (!strcmp(argv[k], "--threads")) mg_set_num_threads((int)v);
            else mg_manual_seed((uint64_t)v);
            k++;
        }
    }
    for (int k = 1; k < end && status == LUA_OK; k++) {
        if (!strcmp(argv[k], "-e")) {
            status = run_chunk(L, luaL_loadbuffer(L, argv[k + 1], strlen(argv[k + 1]), "=(command line)"));
            ran_code = 1;
            k++;
        } else if (!strcmp(argv[k], "-l")) {
            status = require_global(L, argv[k + 1]);
            k++;
        } else if (!strcmp(argv[k], "--threads") || !strcmp(argv[k], "--seed")) {
            k++;
        }
    }
    if (status == LUA_OK && script) status = run_script(L, argv, script, argc);
    if (status == LUA_OK && (interactive || (!script && !ran_code))) {
        if (require_global(L, "moongrad") == LUA_OK) {
            lua_getglobal(L, "moongrad");
            lua_setglobal(L, "mg");
            lua_pushnil(L);
            lua_setglobal(L, "moongrad");
        }
        repl(L);
    }
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
