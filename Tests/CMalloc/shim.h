// glibc's heap statistics (mallinfo2), which the Glibc module does not export: tests measure memory per flow with it.
#include <malloc.h>
