/*
 * swap_counts.c - single/swap (a new record per switch: ids + one 16-byte attribute, attach, free the previous)
 * through a library's C API, loaded with dlopen and called through function pointers as C# calls it. Made to be run
 * under `valgrind --tool=callgrind --toggle-collect=measure_*`: instruction counts do not depend on the machine's load.
 *
 *   swap_counts plain LIB.so [N]    record_new, set_ids, add_attr, attach, record_free of the previous
 *   swap_counts counted LIB.so [N]  record_new_user, set_ids, add_attr, attach_counted, dispose of the previous
 *   swap_counts peer LIB.so [N]     a peer exporting ddog_otel_thread_ctx_new/_attach/_free (trace, span, root span id)
 *   swap_counts multi-plain|multi-counted LIB.so [N]   multi/swap/4: four prebuilt records attached in turn (plain
 *                                   otel_thread_ctx_attach, or attach_counted_checked as the .NET API calls it)
 *   swap_counts attach-detach-plain|attach-detach-counted LIB.so [N]   one prebuilt record attached, then detached
 *                                   (attach + detach, or attach_counted_checked + clear)
 *
 * Measures nothing itself: under `--toggle-collect=measure` callgrind's total Ir divided by N is the cost per swap.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t trace[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
static const uint8_t span[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
static const uint8_t root[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x30};
static const uint8_t value[16] = {'b', '7', 'a', 'd', '6', 'b', '7', '1', '6', '9', '2', '0', '3', '3', '3', '0'};

static void *library;

static void *need(const char *name) {
    void *symbol = dlsym(library, name);
    if (symbol == NULL) {
        fprintf(stderr, "missing %s\n", name);
        exit(2);
    }
    return symbol;
}

static void *(*record_new)(void);
static void *(*record_new_user)(uintptr_t);
static void (*record_free)(void *);
static void (*set_ids)(void *, const uint8_t *, const uint8_t *, uint8_t);
static int (*add_attr)(void *, uint8_t, const uint8_t *, size_t);
static void *(*attach)(void *);
static void *(*detach)(void);
static int (*attach_counted)(void *, uintptr_t *);
static uintptr_t (*clear)(void);
static int32_t (*dispose)(void *);
static int (*attach_checked)(void *, uintptr_t, uintptr_t *);

/* Prebuilt records for the multi and attach-detach modes; each carries its index + 1 as its user value. */
static void *records[4];

static void multi_plain(long n) {
    for (long i = 0; i < n; i++) {
        attach(records[i & 3]);
    }
}

static void multi_counted(long n) {
    for (long i = 0; i < n; i++) {
        uintptr_t previous_user;
        attach_checked(records[i & 3], (uintptr_t)(i & 3) + 1, &previous_user);
    }
}

static void attach_detach_plain(long n) {
    for (long i = 0; i < n; i++) {
        attach(records[0]);
        detach();
    }
}

static void attach_detach_counted(long n) {
    for (long i = 0; i < n; i++) {
        uintptr_t previous_user;
        attach_checked(records[0], 1, &previous_user);
        clear();
    }
}

static void *(*peer_new)(const uint8_t *, const uint8_t *, const uint8_t *);
static void *(*peer_attach)(void *);
static void *(*peer_detach)(void);
static void (*peer_free)(void *);

static void plain_swaps(long n) {
    for (long i = 0; i < n; i++) {
        void *record = record_new();
        set_ids(record, trace, span, 1);
        add_attr(record, 0, value, sizeof value);
        record_free(attach(record));
    }
}

/* The counted record carries its own address as the user value: the previous one comes back through it. */
static void counted_swaps(long n) {
    for (long i = 0; i < n; i++) {
        void *record = record_new_user(0);
        set_ids(record, trace, span, 1);
        add_attr(record, 0, value, sizeof value);
        static void *published;
        uintptr_t previous_user = 0;
        attach_counted(record, &previous_user);
        if (published != NULL) {
            dispose(published);
        }
        published = record;
    }
}

static void peer_swaps(long n) {
    for (long i = 0; i < n; i++) {
        void *previous = peer_attach(peer_new(trace, span, root));
        if (previous != NULL) {
            peer_free(previous);
        }
    }
}

/* The only function callgrind collects in: n swaps of the chosen kind, after 1000 to warm up (first allocations). */
void __attribute__((noinline)) measure(void (*swaps)(long), long n) {
    swaps(n);
    __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s plain|counted|peer|multi-plain|multi-counted|attach-detach-plain|attach-detach-counted LIB.so [N]\n", argv[0]);
        return 2;
    }
    long n = argc > 3 ? strtol(argv[3], NULL, 10) : 100000;
    library = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    if (strcmp(argv[1], "peer") == 0) {
        peer_new = need("ddog_otel_thread_ctx_new");
        peer_attach = need("ddog_otel_thread_ctx_attach");
        peer_detach = need("ddog_otel_thread_ctx_detach");
        peer_free = need("ddog_otel_thread_ctx_free");
        peer_swaps(1000);
        measure(peer_swaps, n);
        peer_free(peer_detach());
        return 0;
    }
    record_new = need("otel_thread_ctx_record_new");
    record_new_user = need("otel_thread_ctx_record_new_user");
    record_free = need("otel_thread_ctx_record_free");
    set_ids = need("otel_thread_ctx_record_set_ids");
    add_attr = need("otel_thread_ctx_record_add_attr");
    attach = need("otel_thread_ctx_attach");
    detach = need("otel_thread_ctx_detach");
    attach_counted = need("otel_thread_ctx_attach_counted");
    clear = need("otel_thread_ctx_clear");
    dispose = need("otel_thread_ctx_record_dispose");
    attach_checked = need("otel_thread_ctx_attach_counted_checked");
    static const struct {
        const char *name;
        void (*swaps)(long);
    } prebuilt[] = {{"multi-plain", multi_plain},
                    {"multi-counted", multi_counted},
                    {"attach-detach-plain", attach_detach_plain},
                    {"attach-detach-counted", attach_detach_counted}};
    for (size_t k = 0; k < sizeof prebuilt / sizeof prebuilt[0]; k++) {
        if (strcmp(argv[1], prebuilt[k].name) == 0) {
            for (uintptr_t r = 0; r < 4; r++) {
                records[r] = record_new_user(r + 1);
                set_ids(records[r], trace, span, 1);
            }
            prebuilt[k].swaps(1000);
            measure(prebuilt[k].swaps, n);
            clear();
            return 0;
        }
    }
    if (strcmp(argv[1], "plain") == 0) {
        plain_swaps(1000);
        measure(plain_swaps, n);
        record_free(detach());
    } else {
        counted_swaps(1000);
        measure(counted_swaps, n);
        clear();
    }
    return 0;
}
