// Linux's epoll and eventfd for Swift: Glibc's module exports neither <sys/epoll.h> nor <sys/eventfd.h>.
// The two functions below need _GNU_SOURCE, which only CEpoll.c defines: defined here, it makes
// Glibc's module and this one disagree about fd_set in debug builds.
#include <sys/epoll.h>
#include <sys/eventfd.h>

/// Names the calling thread (at most 15 characters are kept), as `top -H` and perf show it.
void cepoll_name_thread(const char *name);

/// Accepts a connection on `listener` as a non-blocking, close-on-exec socket in one call
/// (`accept4`); returns it, or -1 with errno set.
int cepoll_accept(int listener);
