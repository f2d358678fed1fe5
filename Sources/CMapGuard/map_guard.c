#include "map_guard.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// One scanning thread maps one file at a time, so a few dozen slots are plenty; with none free the
// file is read instead.
#define SLOT_COUNT 64

struct slot {
    atomic_int taken;
    atomic_uintptr_t start;  // 0 while the slot is being filled or emptied
    atomic_uintptr_t end;
    atomic_int faulted;
};

static struct slot slots[SLOT_COUNT];
static struct sigaction previous;
static uintptr_t page_size;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

static void on_sigbus(int signal, siginfo_t *info, void *context) {
    (void)signal;
    (void)context;
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < SLOT_COUNT; i++) {
        uintptr_t start = atomic_load(&slots[i].start);
        uintptr_t end = atomic_load(&slots[i].end);
        if (start == 0 || address < start || address >= end) continue;
        // Zero pages over the rest of the range; the faulting read then goes on and reads zeros,
        // which no line reader passes on as text.
        uintptr_t from = address & ~(page_size - 1);
        void *zeros = mmap((void *)from, end - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (zeros == MAP_FAILED) break;
        atomic_store(&slots[i].faulted, 1);
        return;
    }
    // Not a guarded range (or no memory for zeros): the previous disposition takes the fault when the
    // read runs again.
    sigaction(SIGBUS, &previous, NULL);
}

static void install(void) {
    long size = sysconf(_SC_PAGESIZE);
    if (size <= 0) return;
    page_size = (uintptr_t)size;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGBUS, &action, &previous) == 0) installed = 1;
}

int shadowscope_map_guard_add(const void *start, size_t length) {
    pthread_once(&install_once, install);
    if (!installed || start == NULL || length == 0) return -1;
    for (int i = 0; i < SLOT_COUNT; i++) {
        int expected = 0;
        if (!atomic_compare_exchange_strong(&slots[i].taken, &expected, 1)) continue;
        atomic_store(&slots[i].faulted, 0);
        atomic_store(&slots[i].end, (uintptr_t)start + length);
        atomic_store(&slots[i].start, (uintptr_t)start);
        return i;
    }
    return -1;
}

int shadowscope_map_guard_faulted(int slot) {
    if (slot < 0 || slot >= SLOT_COUNT) return 0;
    return atomic_load(&slots[slot].faulted);
}

void shadowscope_map_guard_remove(int slot) {
    if (slot < 0 || slot >= SLOT_COUNT) return;
    atomic_store(&slots[slot].start, 0);
    atomic_store(&slots[slot].end, 0);
    atomic_store(&slots[slot].taken, 0);
}
