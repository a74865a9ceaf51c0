/*
 * moongrad.dist: data parallelism over MPI, a Lua C module of its own
 * (build/moongrad/dist.so, built with mpicc). Neither the core library nor
 * the host program links MPI; this module is loaded when a script asks for
 * mg.dist, and MPI starts only in init().
 *
 * Files: launcher.c reads the environment to tell which launcher started
 * the process; progress.c owns MPI's lifetime (start, the end of the
 * process, abort) and waits for collectives with a deadline; lua_dist.c is
 * the Lua API. Ranks are 0-based here, as MPI counts them, and 1-based in
 * Lua (converted in lua_dist.c only), like every index in moongrad.
 */
#ifndef MG_DIST_H
#define MG_DIST_H

#include <mpi.h>
#include <stdbool.h>

/* ---- launcher.c ------------------------------------------------------------- */

typedef struct {
    const char *name; /* who started us, as users know it; NULL: nobody (a plain run) */
    const char *var;  /* the environment variable that told */
    long size;        /* ranks it started (0: it does not say) */
    bool joinable;    /* this MPI build can join its ranks into one world */
} dist_launcher;

/* Reads the environment (never fails). */
void dist_detect_launcher(dist_launcher *out);

/* ---- progress.c ------------------------------------------------------------- */

typedef enum { DIST_OFF = 0, DIST_ALONE, DIST_MPI } dist_mode;

/* The collectives, as named in messages (index = op code). */
typedef enum {
    DIST_OP_BARRIER,
    DIST_OP_ALL_REDUCE,
    DIST_OP_BROADCAST,
    DIST_OP_ALL_GATHER,
    DIST_OP_FINISH,
    DIST_OP_COUNT
} dist_op;

typedef struct {
    dist_mode mode;        /* DIST_ALONE: no launcher, a world of one without MPI */
    int rank, size;        /* 0-based */
    int local_rank, local_size;
    double timeout;        /* seconds a collective may wait; 0: forever */
    MPI_Comm world;        /* a duplicate of MPI_COMM_WORLD for the collectives */
    MPI_Comm control;      /* another, for the pings that find a missing rank */
    long long calls;       /* collectives started so far (the same count on every rank) */
} dist_state;

extern dist_state dist;

extern const char *const dist_op_names[DIST_OP_COUNT];

/* Starts MPI (MPI_Init_thread), fills `dist`, and arranges that the end
 * of the process finishes MPI: MPI_Finalize after a clean exit, MPI_Abort
 * after a failing one. Returns NULL or an error message (static). */
const char *dist_start_mpi(double timeout, const dist_launcher *launcher);

/* Waits for a collective begun with an MPI_I* call. Past the deadline it
 * asks every rank where it is, prints which rank is missing and which
 * operation it is in, and aborts the job (it never returns then). */
void dist_wait(MPI_Request *req, dist_op op);

/* Checks an MPI return code; on failure prints the op and MPI's message
 * and aborts the job (a collective that failed halfway leaves the ranks
 * out of step: going on would hang them). */
void dist_check(int rc, dist_op op);

/* Prints "moongrad.dist: rank R/N: message" and aborts the whole job with
 * the exit code. */
_Noreturn void dist_abort(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
