/* fsync_shim: make the sync calls of a process fail or stall on demand, for
 * reliability tests. Built only with BUILD_TESTING; never installed.
 *
 * Use: LD_PRELOAD=libtrib_fsync_shim.so TRIB_FSYNC_TRIGGER=/path/to/trigger
 * (under AddressSanitizer, libasan must come first in LD_PRELOAD). While the
 * trigger file exists, every fsync, fdatasync, msync and sync_file_range
 * call reads it and obeys its first line:
 *
 *   (empty) or EIO        fail with EIO
 *   ENOSPC, EDQUOT, EROFS fail with that errno
 *   EIO 3                 fail the next 3 calls, then delete the trigger
 *   DELAY 2000            sleep 2000 ms, then do the real call
 *
 * Each failure or delay appends one line ("fdatasync fd=7 EIO") to the file
 * named by TRIB_FSYNC_LOG, when set, so a test can see that it happened.
 * Without the trigger file the real function runs untouched.
 *
 * The same object can be linked into a test executable: its definitions then
 * take the place of libc's for the whole process (including liblmdb). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef int (*fd_fn)(int);
typedef int (*msync_fn)(void*, size_t, int);
typedef int (*sfr_fn)(int, off64_t, off64_t, unsigned int);

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static int ErrnoFromName(const char* name) {
  if (strcmp(name, "ENOSPC") == 0) return ENOSPC;
  if (strcmp(name, "EDQUOT") == 0) return EDQUOT;
  if (strcmp(name, "EROFS") == 0) return EROFS;
  return EIO;
}

static void Note(const char* fn, int fd, const char* what) {
  const char* path = getenv("TRIB_FSYNC_LOG");
  if (path == NULL) return;
  FILE* f = fopen(path, "a");
  if (f == NULL) return;
  fprintf(f, "%s fd=%d %s\n", fn, fd, what);
  fclose(f);
}

/* Decides what this call does: 0 run the real call, else the errno to fail
 * with. A DELAY sleeps here (outside the lock) and returns 0. */
static int Decide(const char* fn, int fd) {
  const char* trigger = getenv("TRIB_FSYNC_TRIGGER");
  if (trigger == NULL) return 0;
  pthread_mutex_lock(&g_mu);
  FILE* f = fopen(trigger, "r");
  if (f == NULL) {
    pthread_mutex_unlock(&g_mu);
    return 0;
  }
  char word[32] = "EIO";
  long count = -1;
  int fields = fscanf(f, "%31s %ld", word, &count);
  fclose(f);
  if (fields < 1) strcpy(word, "EIO");
  if (fields < 2) count = -1;
  if (strcmp(word, "DELAY") == 0) {
    pthread_mutex_unlock(&g_mu);
    Note(fn, fd, "DELAY");
    struct timespec ts = {count / 1000, (count % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 0;
  }
  int err = ErrnoFromName(word);
  if (count > 0) {
    count--;
    if (count == 0) {
      unlink(trigger);
    } else if ((f = fopen(trigger, "w")) != NULL) {
      fprintf(f, "%s %ld\n", word, count);
      fclose(f);
    }
  }
  pthread_mutex_unlock(&g_mu);
  Note(fn, fd, word);
  return err;
}

static void* Real(const char* name) {
  void* p = dlsym(RTLD_NEXT, name);
  if (p == NULL) {
    fprintf(stderr, "fsync_shim: no real %s\n", name);
    abort();
  }
  return p;
}

int fsync(int fd) {
  int err = Decide("fsync", fd);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return ((fd_fn)Real("fsync"))(fd);
}

int fdatasync(int fd) {
  int err = Decide("fdatasync", fd);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return ((fd_fn)Real("fdatasync"))(fd);
}

int msync(void* addr, size_t len, int flags) {
  int err = (flags & MS_SYNC) ? Decide("msync", -1) : 0;
  if (err != 0) {
    errno = err;
    return -1;
  }
  return ((msync_fn)Real("msync"))(addr, len, flags);
}

int sync_file_range(int fd, off64_t offset, off64_t nbytes, unsigned int flags) {
  int err = Decide("sync_file_range", fd);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return ((sfr_fn)Real("sync_file_range"))(fd, offset, nbytes, flags);
}
