// A hint to start loading memory that is read soon (PREFETCHT0 on x86-64; nothing where there is
// none): Swift has no prefetch of its own.
static inline void shadowscope_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }
