// The declarations are all in include/CEpoll.h; a C target needs one source file.
#include "CEpoll.h"
