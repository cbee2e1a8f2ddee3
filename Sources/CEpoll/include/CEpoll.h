// Linux's epoll and eventfd for Swift: Glibc's module exports neither <sys/epoll.h> nor <sys/eventfd.h>.
#include <sys/epoll.h>
#include <sys/eventfd.h>
