// Linux's epoll for Swift: Glibc's module does not export <sys/epoll.h>.
#include <sys/epoll.h>
