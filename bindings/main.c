/*
 * bin/moongrad: Lua 5.4 with moongrad preloaded. Runs a script with `arg`
 * set as the lua program does, or opens a REPL (line editing, history,
 * multi-line input, results printed). An error prints a traceback and
 * exits non-zero.
 *
 * Options are handled as lua(1) handles them: everything up to the script
 * name is ours, everything after it belongs to the script. `-e` and `-l`
 * run in the order given, after --threads and --seed took effect.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
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
            "  -e code        run code (may be repeated; runs in order with -l)\n"
            "  -i             open the REPL after running the script or -e code\n"
            "  -l name        require library 'name' into global 'name' (-l g=name: into 'g')\n"
            "  --threads N    use N threads for kernels (default: all cores)\n"
            "  --seed N       seed the random number generator\n"
            "  -v, --version  print the version\n"
            "  -h, --help     print this help\n"
            "  -              run standard input as a script\n"
            "  report FOLDER...  write report.html comparing the runs in the folders (report --help)\n"
            "  --             stop handling options\n\n"
            "The script sees its arguments in `arg` (arg[0] is the script, arg[1] the first\n"
            "argument) and as `...`. Without a script or -e code, the REPL opens: `mg` is\n"
            "the moongrad module and expressions print their value. When standard input is\n"
            "not a terminal, its lines are read as REPL input without prompts.\n");
}

/* ---- running code: tracebacks, Ctrl-C ------------------------------------------ */

static lua_State *global_L;

/* Raises "interrupted!" at the next Lua instruction (the signal handler
 * cannot raise itself; lua_sethook is safe to call from one). */
static void stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint(int sig) {
    signal(sig, SIG_DFL); /* a second Ctrl-C ends the process */
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

/* Calls the function below nargs arguments with a traceback handler;
 * Ctrl-C interrupts it. */
static int docall(lua_State *L, int nargs, int nres) {
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    global_L = L;
    signal(SIGINT, on_sigint);
    int status = lua_pcall(L, nargs, nres, base);
    signal(SIGINT, SIG_DFL);
    lua_sethook(L, NULL, 0, 0); /* a Ctrl-C that came as the call returned */
    lua_remove(L, base);
    return status;
}

/* Prints the error on top of the stack (if status says there is one). */
static int report(lua_State *L, int status) {
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error object is not a string)");
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* ---- setup ---------------------------------------------------------------------- */

/* Prepends "<dir>/<sub>/?.lua;<dir>/<sub>/?/init.lua" to package.path, or
 * "<dir>/<sub>/?.so" to package.cpath when so is set. */
static void prepend_path(lua_State *L, const char *dir, const char *sub, int so) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, so ? "cpath" : "path");
    if (so) lua_pushfstring(L, "%s/%s/?.so;%s", dir, sub, lua_tostring(L, -1));
    else lua_pushfstring(L, "%s/%s/?.lua;%s/%s/?/init.lua;%s", dir, sub, dir, sub, lua_tostring(L, -1));
    lua_setfield(L, -3, so ? "cpath" : "path");
    lua_pop(L, 2);
}

/* Finds the Lua library from the binary's own place, so that a checkout
 * and an installed tree both work from any folder: the nearest folder
 * <root> above the binary that holds either lua/moongrad/init.lua (a
 * checkout: bin/moongrad, or BUILD/bin/moongrad) or
 * share/lua/5.4/moongrad/init.lua (an installed prefix: PREFIX/bin/moongrad,
 * whose C modules are then in PREFIX/lib/lua/5.4). A checkout's C modules
 * that are not preloaded (moongrad.dist, which links MPI) are found in
 * BUILD/moongrad/ beside BUILD/bin/, else in <root>/build/moongrad/. */
static void set_paths(lua_State *L) {
    char dir[PATH_MAX], probe[PATH_MAX + 64], bin_dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0) return;
    dir[n] = '\0';
    memcpy(bin_dir, dir, (size_t)n + 1);
    char *exe_name = strrchr(bin_dir, '/');
    if (exe_name) *exe_name = '\0';
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash) return;
        *slash = '\0';
        snprintf(probe, sizeof probe, "%s/lua/moongrad/init.lua", dir);
        if (access(probe, R_OK) == 0) {
            prepend_path(L, dir, "lua", 0);
            prepend_path(L, dir, "build", 1);
            prepend_path(L, bin_dir, "..", 1);
            return;
        }
        snprintf(probe, sizeof probe, "%s/share/lua/" LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "/moongrad/init.lua", dir);
        if (access(probe, R_OK) == 0) {
            prepend_path(L, dir, "share/lua/" LUA_VERSION_MAJOR "." LUA_VERSION_MINOR, 0);
            prepend_path(L, dir, "lib/lua/" LUA_VERSION_MAJOR "." LUA_VERSION_MINOR, 1);
            return;
        }
    }
}

static void preload_core(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moongrad_core);
    lua_setfield(L, -2, "moongrad.core");
    lua_pop(L, 1);
}

/* arg table as lua(1) builds it: arg[0] is the script, arg[1..] its
 * arguments, negative indices the interpreter and its options. Without a
 * script, arg[0] is the program and the options are arg[1..]. */
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

/* -l name: require "name" into global name; -l g=name: into global g. */
static int require_global(lua_State *L, const char *spec) {
    const char *eq = strchr(spec, '=');
    const char *mod = eq ? eq + 1 : spec;
    lua_getglobal(L, "require");
    lua_pushstring(L, mod);
    int status = docall(L, 1, 1);
    if (status == LUA_OK) { /* _G[global name] = module */
        lua_pushglobaltable(L);
        lua_insert(L, -2);
        lua_pushlstring(L, spec, eq ? (size_t)(eq - spec) : strlen(spec));
        lua_insert(L, -2);
        lua_settable(L, -3);
        lua_pop(L, 1);
    }
    return report(L, status);
}

/* `moongrad report FOLDER...`: moongrad.report's command (a page comparing
 * runs). Returns the command's exit status. */
static int run_report(lua_State *L, char **argv, int script, int argc) {
    int n = argc - script - 1;
    luaL_checkstack(L, 3, "report");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moongrad.report");
    int status = docall(L, 1, 1);
    if (status != LUA_OK) return report(L, status) != LUA_OK;
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, argv[script + 1 + i]);
        lua_rawseti(L, -2, i + 1);
    }
    status = docall(L, 1, 1);
    if (status != LUA_OK) return report(L, status) != LUA_OK;
    int code = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    return code;
}

static int run_script(lua_State *L, char **argv, int script, int argc) {
    const char *fname = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = argc - script - 1;
        luaL_checkstack(L, n + 3, "too many arguments to script");
        for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
        status = docall(L, n, 0);
    }
    return report(L, status);
}

/* ---- reading lines: readline on a terminal, plain lines otherwise ----------------- */

static int interactive_tty;
static char history_path[PATH_MAX];

/* readline's callback interface, so that Ctrl-C at a prompt discards the
 * line being typed instead of ending the program. */
static volatile sig_atomic_t prompt_sigint;
static char *cb_line;
static int cb_done;

static void on_prompt_sigint(int sig) {
    (void)sig;
    prompt_sigint = 1;
}

static void on_line(char *line) {
    cb_line = line;
    cb_done = 1;
    rl_callback_handler_remove();
}

/* A line from the terminal (malloc'd), NULL at end of input; *interrupted
 * is set when Ctrl-C discarded the line. */
static char *tty_read_line(const char *prompt, int *interrupted) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_prompt_sigint; /* no SA_RESTART: pselect() returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    /* SIGINT stays blocked except inside pselect, so none is missed */
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    prompt_sigint = 0;
    cb_done = 0;
    cb_line = NULL;
    rl_callback_handler_install(prompt, on_line);
    while (!cb_done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fileno(rl_instream), &fds);
        int r = pselect(fileno(rl_instream) + 1, &fds, NULL, NULL, NULL, &orig);
        if (prompt_sigint) {
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_cleanup_after_signal();
            rl_callback_handler_remove();
            fputs("\n", stdout);
            fflush(stdout);
            *interrupted = 1;
            break;
        }
        if (r < 0) {
            if (errno == EINTR) continue;
            rl_callback_handler_remove();
            break;
        }
        rl_callback_read_char();
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);
    sigaction(SIGINT, &old, NULL);
    return cb_line;
}

static char *read_line(const char *prompt, int *interrupted) {
    *interrupted = 0;
    if (interactive_tty) return tty_read_line(prompt, interrupted);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getline(&buf, &cap, stdin);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
    return buf;
}

/* ---- tab completion (names from repl.lua's complete) -------------------------------- */

static lua_State *complete_L;

static char **complete(const char *text, int start, int end) {
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    lua_State *L = complete_L;
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moongrad.repl");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) goto none;
    lua_getfield(L, -1, "complete");
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) goto none;
    int n = (int)lua_rawlen(L, -1);
    if (n == 0) goto none;
    /* matches[0] is the longest common prefix, then the candidates */
    char **matches = calloc((size_t)n + 2, sizeof *matches);
    if (!matches) goto none;
    int k = 1;
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *s = lua_tostring(L, -1);
        if (s) matches[k++] = strdup(s);
        lua_pop(L, 1);
    }
    if (k == 1) {
        free(matches);
        goto none;
    }
    size_t common = strlen(matches[1]);
    for (int i = 2; i < k; i++) {
        size_t j = 0;
        while (j < common && matches[i][j] == matches[1][j]) j++;
        common = j;
    }
    matches[0] = strndup(matches[1], common);
    rl_completion_append_character = '\0';
    lua_settop(L, top);
    return matches;
none:
    lua_settop(L, top);
    return NULL;
}

/* ---- REPL ---------------------------------------------------------------------------- */

/* Is this a syntax error only because the input ended early? */
static int incomplete(lua_State *L, int status) {
    if (status != LUA_ERRSYNTAX) return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    if (!msg) return 0;
    if (len >= 5 && strcmp(msg + len - 5, "<eof>") == 0) return 1;
    return len >= 7 && strcmp(msg + len - 7, "'<eof>'") == 0; /* long string or comment */
}

enum { CHUNK_OK, CHUNK_ERROR, CHUNK_EOF, CHUNK_CANCELLED };

/* Adds an input to the history (and its file). A multi-line input is kept
 * as one line when that means the same to Lua (no comment or long string
 * whose meaning depends on line ends), so it comes back whole with Up,
 * also in the next session. */
static void save_history(const char *src) {
    char *entry = strdup(src);
    if (!entry) return;
    if (!strstr(entry, "--") && !strstr(entry, "[[") && !strstr(entry, "[=") && !strstr(entry, "\\\n"))
        for (char *p = entry; *p; p++)
            if (*p == '\n') *p = ' ';
    add_history(entry);
    if (history_path[0]) append_history(1, history_path);
    free(entry);
}

/* "?name" (as in Torch7's th): a chunk that prints the reference of name,
 * moongrad.repl's query(name). Takes line (the whole input, freed here). */
static int help_query(lua_State *L, char *line, const char *name) {
    /* quote name in a long bracket [==[...]==] whose level it does not close */
    char close[16], eq[12];
    int level = 0;
    for (; level < 10; level++) {
        snprintf(close, sizeof close, "]%.*s]", level, "==========");
        if (!strstr(name, close)) break;
    }
    snprintf(eq, sizeof eq, "%.*s", level, "==========");
    lua_pushfstring(L, "require('moongrad.repl').query([%s[%s]%s])", eq, name, eq);
    if (interactive_tty) save_history(line);
    free(line);
    size_t len;
    const char *src = lua_tolstring(L, -1, &len);
    int st = luaL_loadbuffer(L, src, len, "=stdin");
    lua_remove(L, -2);
    return st == LUA_OK ? CHUNK_OK : CHUNK_ERROR;
}

/* Reads lines until they form a chunk: first as an expression (`return`
 * prepended, so its values are printed), else as statements. Incomplete
 * input continues on a ">> " prompt. On CHUNK_OK the loaded function is on
 * the stack; on CHUNK_ERROR the message is. */
static int read_chunk(lua_State *L) {
    int interrupted;
    char *line;
    for (;;) { /* skip blank lines */
        line = read_line("> ", &interrupted);
        if (!line) return interrupted ? CHUNK_CANCELLED : CHUNK_EOF;
        if (line[strspn(line, " \t\r")] != '\0') break;
        free(line);
    }
    const char *q = line + strspn(line, " \t");
    if (*q == '?') return help_query(L, line, q + 1);
    lua_pushstring(L, line);
    free(line);
    int result;
    for (;;) {
        size_t len;
        const char *src = lua_tolstring(L, -1, &len);
        lua_pushfstring(L, "return %s", src);
        size_t rlen;
        const char *ret = lua_tolstring(L, -1, &rlen);
        int st_expr = luaL_loadbuffer(L, ret, rlen, "=stdin");
        if (st_expr == LUA_OK) { /* source, "return ...", function */
            lua_remove(L, -2);
            result = CHUNK_OK;
            break;
        }
        int expr_incomplete = incomplete(L, st_expr);
        lua_pop(L, 2); /* message, "return ..." */
        int st = luaL_loadbuffer(L, src, len, "=stdin");
        if (st == LUA_OK) {
            result = CHUNK_OK;
            break;
        }
        if (!incomplete(L, st) && !expr_incomplete) {
            result = CHUNK_ERROR;
            break;
        }
        char *more = read_line(">> ", &interrupted);
        if (!more) {
            if (interrupted) {
                lua_pop(L, 2);
                return CHUNK_CANCELLED;
            }
            result = CHUNK_ERROR; /* input ended inside a statement */
            break;
        }
        lua_pop(L, 1); /* the message */
        lua_pushliteral(L, "\n");
        lua_pushstring(L, more);
        free(more);
        lua_concat(L, 3);
    }
    /* stack: source, function or message */
    if (interactive_tty) save_history(lua_tostring(L, -2));
    lua_remove(L, -2);
    return result;
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
    report(L, docall(L, n, 0));
}

static void open_history(void) {
    const char *home = getenv("HOME");
    if (!home || !home[0]) return;
    snprintf(history_path, sizeof history_path, "%s/.moongrad_history", home);
    stifle_history(1000);
    if (read_history(history_path) != 0) {
        if (write_history(history_path) != 0) history_path[0] = '\0'; /* cannot create: keep none */
    }
}

static void repl(lua_State *L) {
    interactive_tty = isatty(STDIN_FILENO);
    if (interactive_tty) {
        printf("moongrad %s (%s) -- `mg` is the module; Ctrl-D exits\n", MG_VERSION, LUA_RELEASE);
        rl_readline_name = "moongrad";
        rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^~#[]?"; /* ?name asks for help */
        rl_attempted_completion_function = complete;
        rl_catch_signals = 0;
        complete_L = L;
        open_history();
    }
    /* mg: the module, predefined */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moongrad");
    if (report(L, docall(L, 1, 1)) == LUA_OK) lua_setglobal(L, "mg");
    /* help: the reference of a function, class or module (help(mg.zeros)) */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moongrad.repl");
    if (report(L, docall(L, 1, 1)) == LUA_OK) {
        lua_getfield(L, -1, "help");
        lua_setglobal(L, "help");
        lua_pop(L, 1);
    }
    for (;;) {
        int top = lua_gettop(L);
        int r = read_chunk(L);
        if (r == CHUNK_EOF) break;
        if (r == CHUNK_CANCELLED) continue;
        int status = r == CHUNK_OK ? docall(L, 0, LUA_MULTRET) : LUA_ERRSYNTAX;
        if (status == LUA_OK) print_results(L, lua_gettop(L) - top);
        else report(L, status);
        lua_settop(L, top);
        fflush(stdout);
    }
    if (interactive_tty) {
        printf("\n");
        if (history_path[0]) history_truncate_file(history_path, 1000);
    }
}

/* ---- main -------------------------------------------------------------------------- */

/* The value of an option: "-eCODE", "--seed=N", or the next argument. */
static const char *option_value(int argc, char **argv, int *i, const char *name) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (a[n] == '=' && name[1] == '-') return a + n + 1; /* --name=value */
    if (a[n] != '\0' && name[1] != '-') return a + n;    /* -evalue */
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
}

static int parse_number(const char *opt, const char *s, long long lo, long long hi, long long *out) {
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (e == s || *e || errno || v < lo || v > hi) {
        fprintf(stderr, "%s: %s needs an integer in %lld..%lld, got '%s'\n", progname, opt, lo, hi, s);
        return 0;
    }
    *out = v;
    return 1;
}

static int starts_with_option(const char *a, const char *name) {
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (name[1] == '-') return a[n] == '\0' || a[n] == '='; /* --threads, --threads=2 */
    return 1;                                               /* -e, -ecode */
}

/* OpenMP workers that wait for the next parallel region spin before they
 * sleep. libgomp's default spin (300,000 rounds, a few hundred microseconds)
 * hands work over fastest on an idle machine, but when other processes want
 * the cores the spinners take the time slices of the thread with the work,
 * and a 2-thread training step runs 10 to 50 times slower. A short spin
 * keeps the quick hand-off between the many small kernels of a step and
 * lets idle workers sleep. libgomp reads the setting once, when it is
 * loaded (before main), so the host sets it and starts itself again; a
 * setting of the user's own (GOMP_SPINCOUNT or OMP_WAIT_POLICY) wins. */
#define OPENMP_SPIN_COUNT "10000"

static void limit_openmp_spinning(char **argv) {
    if (getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY")) return;
    if (setenv("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT, 1) != 0) return;
    execv("/proc/self/exe", argv); /* returns only on failure: go on as we are */
}

int main(int argc, char **argv) {
    limit_openmp_spinning(argv);
    int script = 0, interactive = 0, has_e = 0, version = 0;
    int i;
    /* first pass: find the script, check the options, apply the settings */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
            version = 1;
            continue;
        }
        if (!strcmp(a, "-i")) {
            interactive = 1;
            continue;
        }
        const char *names[] = {"--threads", "--seed", "-e", "-l"};
        int which = -1;
        for (int k = 0; k < 4; k++)
            if (starts_with_option(a, names[k])) which = k;
        if (which < 0) {
            fprintf(stderr, "%s: unknown option '%s'\n", progname, a);
            usage(stderr);
            return 1;
        }
        const char *v = option_value(argc, argv, &i, names[which]);
        if (!v) {
            fprintf(stderr, "%s: '%s' needs an argument\n", progname, names[which]);
            usage(stderr);
            return 1;
        }
        long long num;
        if (which == 0) {
            if (!parse_number("--threads", v, 1, 256, &num)) return 1;
            mg_set_num_threads((int)num);
        } else if (which == 1) {
            if (!parse_number("--seed", v, LLONG_MIN, LLONG_MAX, &num)) return 1;
            mg_manual_seed((uint64_t)num);
        } else if (which == 2) {
            has_e = 1;
        }
    }
    script = i < argc ? i : 0;
    if (version) {
        printf("moongrad %s (%s)\n", MG_VERSION, LUA_RELEASE);
        fflush(stdout);
        if (!script && !has_e && !interactive) return 0;
    }

    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "%s: cannot create the Lua state (out of memory)\n", progname);
        return 1;
    }
    luaL_openlibs(L);
    preload_core(L);
    set_paths(L);
    create_arg_table(L, argv, argc, script);

    /* second pass: -e and -l in order */
    int status = LUA_OK;
    int end = script ? script : argc;
    for (int k = 1; k < end && status == LUA_OK; k++) {
        const char *a = argv[k];
        if (!strcmp(a, "--")) break;
        if (starts_with_option(a, "--threads") || starts_with_option(a, "--seed")) {
            if (!strchr(a, '=')) k++;
        } else if (starts_with_option(a, "-e")) {
            const char *code = option_value(argc, argv, &k, "-e");
            status = run_chunk(L, luaL_loadbuffer(L, code, strlen(code), "=(command line)"));
        } else if (starts_with_option(a, "-l")) {
            status = require_global(L, option_value(argc, argv, &k, "-l"));
        }
    }
    /* "report" is the report command, unless a file of that name is there to run */
    if (status == LUA_OK && script && !strcmp(argv[script], "report") && access("report", F_OK) != 0) {
        int code = run_report(L, argv, script, argc);
        lua_close(L);
        return code;
    }
    if (status == LUA_OK && script) status = run_script(L, argv, script, argc);
    if (status == LUA_OK && (interactive || (!script && !has_e && !version))) repl(L);
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
