/*
 * MPI's lifetime and the waits for collectives.
 *
 * Failures end the job, they never hang it:
 *  - The end of the process finishes MPI (an on_exit handler, which sees
 *    the exit status): after a clean exit, MPI_Finalize; after a failing
 *    one (an uncaught Lua error makes the host exit with 1), MPI_Abort,
 *    which ends every rank. MPI_Finalize there would leave the peers
 *    waiting in their next collective for a rank that is gone.
 *  - A rank killed outright is seen by mpirun, which ends the job.
 *  - Every collective is started non-blocking and waited for here, with a
 *    deadline (MOONGRAD_DIST_TIMEOUT). Past it the waiting rank pings the
 *    others on a communicator of their own: a rank that waits in a
 *    collective answers with the call it is in, a rank that is stopped or
 *    busy elsewhere does not. The message names them; then MPI_Abort.
 */
#define _GNU_SOURCE /* dladdr, on_exit */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist.h"

dist_state dist;

const char *const dist_op_names[DIST_OP_COUNT] = {"barrier", "all_reduce", "broadcast", "all_gather",
                                                  "the end of the script"};

enum { TAG_PING = 1, TAG_PONG = 2 };

/* The collective this rank waits in (-1: none), told to pinging ranks. */
static int current_op = -1;
static bool finished;

_Noreturn void dist_abort(int code, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "moongrad.dist: rank %d/%d: %s\n", dist.rank + 1, dist.size, msg);
    fflush(stderr);
    fflush(stdout);
    if (dist.mode == DIST_MPI && !finished) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

void dist_check(int rc, dist_op op) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
    dist_abort(1, "%s failed: %s", dist_op_names[op], text);
}

static void nap(long microseconds) {
    struct timespec ts = {0, microseconds * 1000L};
    nanosleep(&ts, NULL);
}

/* Answers the pings that came (a pong carries the op and the call). */
static void answer_pings(void) {
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_PING, dist.control, &flag, &st) != MPI_SUCCESS || !flag) return;
        long long ping[2], pong[2] = {current_op, dist.calls};
        MPI_Recv(ping, 2, MPI_LONG_LONG, st.MPI_SOURCE, TAG_PING, dist.control, MPI_STATUS_IGNORE);
        MPI_Send(pong, 2, MPI_LONG_LONG, st.MPI_SOURCE, TAG_PONG, dist.control);
    }
}

/* The deadline passed: asks every rank where it is, names the ones that
 * are missing or elsewhere, and aborts. */
_Noreturn static void diagnose(dist_op op, double waited) {
    int n = dist.size;
    long long(*pong)[2] = calloc((size_t)n, sizeof *pong);
    MPI_Request *recv = calloc((size_t)n, sizeof *recv), *send = calloc((size_t)n, sizeof *send);
    int *answered = calloc((size_t)n, sizeof *answered);
    if (!pong || !recv || !send || !answered)
        dist_abort(1, "%s (call %lld) timed out after %.0f s", dist_op_names[op], dist.calls, waited);
    long long ping[2] = {op, dist.calls};
    for (int r = 0; r < n; r++) {
        recv[r] = send[r] = MPI_REQUEST_NULL;
        if (r == dist.rank) continue;
        MPI_Irecv(pong[r], 2, MPI_LONG_LONG, r, TAG_PONG, dist.control, &recv[r]);
        MPI_Isend(ping, 2, MPI_LONG_LONG, r, TAG_PING, dist.control, &send[r]);
    }
    /* a rank in a wait answers within milliseconds; give stragglers a little */
    double grace = dist.timeout / 4 < 0.5 ? 0.5 : dist.timeout / 4 > 5 ? 5 : dist.timeout / 4;
    double until = MPI_Wtime() + grace;
    int missing = n - 1;
    while (missing > 0 && MPI_Wtime() < until) {
        for (int r = 0; r < n; r++) {
            int done = 0;
            if (r == dist.rank || answered[r]) continue;
            MPI_Test(&recv[r], &done, MPI_STATUS_IGNORE);
            if (done) answered[r] = 1, missing--;
        }
        answer_pings();
        nap(1000);
    }
    char msg[1536];
    int len = snprintf(msg, sizeof msg, "%s (call %lld) timed out after %.0f s (MOONGRAD_DIST_TIMEOUT):",
                       dist_op_names[op], dist.calls, waited);
    int elsewhere = 0;
    for (int r = 0; r < n && len < (int)sizeof msg - 200; r++) {
        if (r == dist.rank) continue;
        if (!answered[r]) {
            len += snprintf(msg + len, sizeof msg - len, " rank %d does not answer (stopped, or busy outside a collective);",
                            r + 1);
            elsewhere++;
        } else if (pong[r][0] != op || pong[r][1] != dist.calls) {
            const char *where = pong[r][0] >= 0 && pong[r][0] < DIST_OP_COUNT ? dist_op_names[pong[r][0]] : "no collective";
            len += snprintf(msg + len, sizeof msg - len, " rank %d waits in %s (call %lld);", r + 1, where, pong[r][1]);
            elsewhere++;
        }
    }
    if (!elsewhere) snprintf(msg + len, sizeof msg - len, " every rank is in this call, but the data did not arrive;");
    msg[strlen(msg) - 1] = '\0';
    dist_abort(1, "%s", msg);
}

/* Seconds a wait polls without sleeping: the ranks of a training step
 * arrive within microseconds of each other, and a sleeping rank answers
 * late. None when mpirun placed more ranks than cores on this machine
 * (it tells the ranks): a polling rank would take the core of the rank
 * it waits for. */
static double spin_seconds(void) {
    const char *over = getenv("OMPI_MCA_mpi_oversubscribe");
    return over && (!strcmp(over, "1") || !strcmp(over, "true")) ? 0 : 1e-3;
}

void dist_wait(MPI_Request *req, dist_op op) {
    static double spin = -1;
    if (spin < 0) spin = spin_seconds();
    current_op = op;
    double start = MPI_Wtime();
    for (;;) {
        int done = 0;
        dist_check(MPI_Test(req, &done, MPI_STATUS_IGNORE), op);
        if (done) break;
        answer_pings();
        double waited = MPI_Wtime() - start;
        if (dist.timeout > 0 && waited > dist.timeout) diagnose(op, waited);
        /* then naps that grow with the wait: a rank that waits long (for
         * a slower one, or for rank 1 writing a checkpoint) costs ~1% of a core */
        if (waited > spin) nap(waited < 0.01 ? 50 : waited < 0.1 ? 200 : 1000);
    }
    current_op = -1;
}

/* ---- start and end ------------------------------------------------------------- */

/* Runs when the process ends (exit or a return from main), after the Lua
 * state is closed. */
static void at_process_end(int status, void *arg) {
    (void)arg;
    if (dist.mode != DIST_MPI || finished) return;
    if (status != 0) {
        dist_abort(status, "the script ended with status %d: ending the other ranks too", status);
    }
    /* the ranks leave together, each waiting for the others with the deadline */
    MPI_Request req;
    dist.calls++;
    dist_check(MPI_Ibarrier(dist.world, &req), DIST_OP_FINISH);
    dist_wait(&req, DIST_OP_FINISH);
    finished = true;
    MPI_Comm_free(&dist.control);
    MPI_Comm_free(&dist.world);
    MPI_Finalize();
}

const char *dist_start_mpi(double timeout, const dist_launcher *launcher) {
    int provided;
    /* MPI is called from the main thread only (the kernels' OpenMP threads never call it) */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) return "MPI_Init failed";
    dist.mode = DIST_MPI;
    dist.timeout = timeout;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &dist.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dist.size);
    MPI_Comm_dup(MPI_COMM_WORLD, &dist.world);
    MPI_Comm_dup(MPI_COMM_WORLD, &dist.control);
    MPI_Comm_set_errhandler(dist.world, MPI_ERRORS_RETURN);
    MPI_Comm_set_errhandler(dist.control, MPI_ERRORS_RETURN);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dist.rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &dist.local_rank);
        MPI_Comm_size(local, &dist.local_size);
        MPI_Comm_free(&local);
    } else {
        dist.local_rank = 0, dist.local_size = 1;
    }
    /* Lua unloads C modules when its state closes, before the process
     * ends: keep this one mapped for at_process_end */
    Dl_info info;
    if (dladdr((void *)at_process_end, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    on_exit(at_process_end, NULL);
    if (launcher->size > 1 && dist.size != launcher->size)
        dist_abort(1, "%s=%ld says the job has %ld ranks, but MPI sees %d", launcher->var, launcher->size,
                   launcher->size, dist.size);
    return NULL;
}
