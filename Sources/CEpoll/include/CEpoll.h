// Linux's epoll and eventfd for Swift: Glibc's module exports neither <sys/epoll.h> nor <sys/eventfd.h>.
#include <sys/epoll.h>
#include <sys/eventfd.h>

/// Names the calling thread (at most 15 characters are kept), as `top -H` and perf show it.
/// Glibc's module does not export `pthread_setname_np`, which needs _GNU_SOURCE.
void cepoll_name_thread(const char *name);
