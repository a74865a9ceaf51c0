/*
 * Which launcher started this process, read from its environment.
 *
 * Every MPI's launcher tells its ranks who they are through variables of
 * its own. A rank that MPI_Init cannot join to its peers (Open MPI's
 * library under MPICH's mpiexec, say) does not fail: it runs alone as
 * world size 1, every rank trains on its own and the job silently does N
 * times the same work. So the module looks before starting MPI.
 */
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#ifdef OPEN_MPI
#define BUILT_FOR_OPEN_MPI true
#else
#define BUILT_FOR_OPEN_MPI false
#endif

/* In the order checked: a process under Open MPI's mpirun inside a Slurm
 * allocation carries both, and mpirun is the one that started it. */
static const struct {
    const char *var;      /* set by the launcher in each rank */
    const char *size_var; /* the number of ranks, if it says */
    const char *name;
    bool open_mpi; /* Open MPI can join these ranks (others cannot) */
} launchers[] = {
    {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "Open MPI's mpirun", true},
    {"PMIX_RANK", NULL, "a PMIx launcher (srun --mpi=pmix, prterun)", true},
    {"PMI_SIZE", "PMI_SIZE", "an MPICH-family launcher (mpiexec.hydra, Intel MPI, srun --mpi=pmi2)", false},
    {"MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "MVAPICH's launcher", false},
    {"SLURM_STEP_NUM_TASKS", "SLURM_STEP_NUM_TASKS", "Slurm's srun without an MPI plugin", false},
};

static long size_from(const char *var) {
    const char *v = var ? getenv(var) : NULL;
    if (!v || !*v) return 0;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n > 0 ? n : 0;
}

void dist_detect_launcher(dist_launcher *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof launchers / sizeof launchers[0]; i++) {
        if (!getenv(launchers[i].var)) continue;
        /* srun sets its variables in a batch script's own shell too, with
         * one task: only a step of several tasks is a launch */
        if (!strcmp(launchers[i].var, "SLURM_STEP_NUM_TASKS") && size_from(launchers[i].size_var) < 2) continue;
        out->name = launchers[i].name;
        out->var = launchers[i].var;
        out->size = size_from(launchers[i].size_var);
        out->joinable = launchers[i].open_mpi == BUILT_FOR_OPEN_MPI;
        return;
    }
}
