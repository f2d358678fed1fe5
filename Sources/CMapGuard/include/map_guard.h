#ifndef SHADOWSCOPE_MAP_GUARD_H
#define SHADOWSCOPE_MAP_GUARD_H

#include <stddef.h>

// A file mapped into memory raises SIGBUS when a page past the file's end is read: another process
// truncated the file while we scanned it. A registered range instead gets zero-filled pages from the
// fault on, and its slot remembers the fault, so the reader can stop where the file now ends.
// The handler is C because it runs inside a signal handler, where only async-signal-safe code may
// run; Swift promises nothing of the kind.

/// Registers `start..<start+length` (page-aligned, as mmap returns it). Returns a slot for
/// `shadowscope_map_guard_faulted` and `_remove`, or -1 when the handler cannot be installed or
/// every slot is taken (the caller then reads the file instead of mapping it).
int shadowscope_map_guard_add(const void *start, size_t length);

/// Whether a read in the slot's range faulted since it was added.
int shadowscope_map_guard_faulted(int slot);

/// Frees the slot; call before unmapping its range.
void shadowscope_map_guard_remove(int slot);

#endif
