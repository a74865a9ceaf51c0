/*
 * Atomic file writes (file.h): a temporary file beside the target,
 * written, fsync'd and renamed over the target, then the folder fsync'd so
 * the rename itself is durable. Also mg_write_file_atomic for one buffer.
 */
#include "file.h"

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void close_and_remove(mg_atomic_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->tmp = f->path = NULL;
}

int mg_atomic_open(mg_atomic_file *f, const char *path, const char *op) {
    f->fd = -1;
    f->tmp = NULL;
    f->op = op;
    f->path = NULL;
    if (!path || !path[0]) return mg_error("%s: the file name is empty", op);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return mg_error("%s: '%s' is a directory", op, path);
    f->path = dup_str(path);
    size_t n = strlen(path) + 48;
    f->tmp = malloc(n);
    if (!f->path || !f->tmp) {
        close_and_remove(f);
        return mg_error("%s: out of memory", op);
    }
    static unsigned counter;
    int err = 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned c = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
        snprintf(f->tmp, n, "%s.tmp-%ld-%u", path, (long)getpid(), c);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd >= 0) return MG_OK;
        err = errno;
        if (err != EEXIST) break;
    }
    free(f->tmp); /* nothing was created */
    f->tmp = NULL;
    close_and_remove(f);
    return mg_error("%s: cannot write '%s': cannot create a temporary file in its folder (%s)", op, path,
                    strerror(err));
}

int mg_atomic_write(mg_atomic_file *f, const void *data, size_t n) {
    if (f->fd < 0) return mg_error("%s: write to a closed file", f->op);
    const char *p = data;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t w = write(f->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            mg_error("%s: cannot write '%s': %s", f->op, f->path, strerror(err));
            close_and_remove(f);
            return MG_ERR;
        }
        p += w;
        n -= (size_t)w;
    }
    return MG_OK;
}

/* fsync of the folder holding path, so that a rename survives a crash. */
static void sync_folder(const char *path) {
    char *dir = dup_str(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash == dir) d = "/";
    else if (slash) {
        *slash = '\0';
        d = dir;
    }
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* some file systems refuse it (EINVAL); the rename is done anyway */
        close(fd);
    }
    free(dir);
}

int mg_atomic_commit(mg_atomic_file *f) {
    if (f->fd < 0) return mg_error("%s: commit of a closed file", f->op);
    int err = 0;
    if (fsync(f->fd) != 0) err = errno;
    if (close(f->fd) != 0 && !err) err = errno;
    f->fd = -1;
    if (err) {
        mg_error("%s: cannot write '%s': %s", f->op, f->path, strerror(err));
        close_and_remove(f);
        return MG_ERR;
    }
    if (rename(f->tmp, f->path) != 0) {
        mg_error("%s: cannot replace '%s': %s", f->op, f->path, strerror(errno));
        close_and_remove(f);
        return MG_ERR;
    }
    sync_folder(f->path);
    free(f->tmp);
    free(f->path);
    f->tmp = f->path = NULL;
    return MG_OK;
}

void mg_atomic_abort(mg_atomic_file *f) {
    if (f->fd >= 0 || f->tmp) close_and_remove(f);
}

int mg_write_file_atomic(const char *path, const void *data, size_t n) {
    mg_atomic_file f;
    if (mg_atomic_open(&f, path, "write_file")) return MG_ERR;
    if (mg_atomic_write(&f, data, n)) return MG_ERR;
    return mg_atomic_commit(&f);
}
