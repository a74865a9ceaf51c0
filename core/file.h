/*
 * Atomic file writing, streamed: the data goes to a temporary file in the
 * target's folder, which is flushed to disk and renamed over the target
 * only when everything was written. A failure (or a crash) before the
 * rename leaves the previous file as it was. Internal to the core.
 */
#ifndef MG_FILE_H
#define MG_FILE_H

#include <stddef.h>

typedef struct {
    int fd;
    char *path, *tmp;
    const char *op; /* names the caller in error messages */
} mg_atomic_file;

/* Creates the temporary file. MG_ERR (with a message naming path) on failure. */
int mg_atomic_open(mg_atomic_file *f, const char *path, const char *op);
/* Appends n bytes. On failure the temporary file is removed and f closed. */
int mg_atomic_write(mg_atomic_file *f, const void *data, size_t n);
/* fsync, rename over the target, fsync the folder. Closes f either way;
 * on failure the temporary file is removed. */
int mg_atomic_commit(mg_atomic_file *f);
/* Gives up: closes f and removes the temporary file (no-op when closed). */
void mg_atomic_abort(mg_atomic_file *f);

#endif
