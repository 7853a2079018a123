/*
 * otel_thread_ctx.c - the FFI layer: records and the calling thread's slot.
 *
 * Readers stop the thread and read memory, so ordering only has to hold against the
 * thread itself (signal-handler semantics): atomic_signal_fence keeps the compiler from
 * moving the writes, and relaxed atomic stores keep each pointer/flag write whole.
 */
#define _GNU_SOURCE

#include "otel_thread_ctx.h"
#include "tls_shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(otel_thread_ctx_record) == OTEL_THREAD_CTX_RECORD_SIZE, "record size");
_Static_assert(offsetof(otel_thread_ctx_record, trace_id) == 0, "trace_id offset");
_Static_assert(offsetof(otel_thread_ctx_record, span_id) == 16, "span_id offset");
_Static_assert(offsetof(otel_thread_ctx_record, valid) == 24, "valid offset");
_Static_assert(offsetof(otel_thread_ctx_record, trace_flags) == 25, "trace_flags offset");
_Static_assert(offsetof(otel_thread_ctx_record, attrs_data_size) == 26, "attrs_data_size offset");
_Static_assert(offsetof(otel_thread_ctx_record, attrs_data) == OTEL_THREAD_CTX_HEADER_SIZE,
               "attrs_data offset");
_Static_assert(sizeof(otel_thread_ctx_record *) == 8, "the slot is an 8-byte pointer");

#define FENCE() atomic_signal_fence(memory_order_seq_cst)

/* The rare side: out of line, so that the hot paths save no register for it. */
#define COLD __attribute__((noinline, cold))

static inline void store_slot(otel_thread_ctx_record **slot, otel_thread_ctx_record *value) {
    __atomic_store_n(slot, value, __ATOMIC_RELAXED);
}

static inline void store_valid(otel_thread_ctx_record *record, uint8_t value) {
    __atomic_store_n(&record->valid, value, __ATOMIC_RELAXED);
}

/* Out of the readers' sight, before each record from record_new: its lifetime (counted attach).
 *
 * No counter: a thread's hazards are the counted record it publishes (thread_state.counted) and the one it is about to
 * publish (thread_state.pending), each written by that thread alone with plain stores. The rare side pays: Dispose and
 * the orphan path run a process-wide barrier (membarrier) and scan every thread's hazards. docs/performance.md has the
 * argument. The lifetime word packs a generation (bumped each time the block is released) with the state, so that a
 * thread holding a stale pointer to a reused block sees a different word. Blocks are never returned to malloc: a thread
 * may still read the header of a record it no longer protects (type-stable memory). */
enum { RECORD_LIVE = 0, RECORD_DISPOSING = 1, RECORD_ORPHANING = 2, RECORD_ORPHANED = 3, RECORD_FREED = 4 };
#define STATE_BITS 3u
#define STATE_MASK ((uint64_t)7u)

struct thread_state;

typedef struct record_header {
    struct thread_state *owner;     /* the creating thread's state (states are reused, never freed; relaxed atomic) */
    uint64_t word;                  /* generation << STATE_BITS | RECORD_* (relaxed atomic; RMW only on the rare side) */
    uintptr_t user;                 /* the binding's value (relaxed atomic) */
    uint32_t shared;                /* 1 once a thread other than the creator attached or disposed it (see mark_shared) */
    uint32_t id;                    /* this block's number, unique in the process and kept for the block's life (1, 2, …) */
} record_header;

_Static_assert(sizeof(record_header) == 32, "records stay 8-byte aligned after the header");

static inline record_header *header_of(const otel_thread_ctx_record *record) {
    return (record_header *)((uintptr_t)record - sizeof(record_header));
}

static inline uint64_t load_word(const record_header *header) {
    return __atomic_load_n(&header->word, __ATOMIC_RELAXED);
}

/* The word an attach decides on, before it reads the user value: an acquire load, against record_init's release store
 * of LIVE, so that a LIVE word of a block reused meanwhile comes with its new user value (on arm64 a relaxed pair could
 * show the new word with the old user, and a stale attach would take another record for the one it expected). A plain
 * `mov` on x86-64, `ldar` on arm64. */
static inline uint64_t load_word_acquire(const record_header *header) {
    return __atomic_load_n(&header->word, __ATOMIC_ACQUIRE);
}

static inline uint32_t state_of(uint64_t word) {
    return (uint32_t)(word & STATE_MASK);
}

static inline uint64_t with_state(uint64_t word, uint32_t state) {
    return (word & ~STATE_MASK) | state;
}

/* The word of a released block: the next generation. */
static inline uint64_t freed_word(uint64_t word) {
    return ((word >> STATE_BITS) + 1u) << STATE_BITS | RECORD_FREED;
}

/* ---- Record blocks: a record_header, then the record; each thread keeps a few released blocks ---- */

#define BLOCK_SIZE (sizeof(record_header) + sizeof(otel_thread_ctx_record))
/* Released blocks a thread keeps for its next records (past that, the process-wide spare list). single/swap needs one. */
#define POOL_CAPACITY 8u

static inline otel_thread_ctx_record *record_of(void *block) {
    return (otel_thread_ctx_record *)((unsigned char *)block + sizeof(record_header));
}

/* A pooled block links to the next through its trace id bytes: the header keeps RECORD_FREED and user 0. */
static inline void *pool_next(void *block) {
    void *next;
    memcpy(&next, record_of(block)->trace_id, sizeof next);
    return next;
}

static inline void pool_link(void *block, void *next) {
    memcpy(record_of(block)->trace_id, &next, sizeof next);
}

/* ---- The calling thread's state: its own pair of records and the counted record it publishes ---- */

typedef struct thread_state {
    otel_thread_ctx_record records[2];
    otel_thread_ctx_record **slot;    /* this thread's otel_thread_ctx_v1 */
    otel_thread_ctx_record *counted;  /* hazard: the counted record this thread publishes, or NULL (own plain stores) */
    otel_thread_ctx_record *pending;  /* hazard: the counted record this thread is attaching, or NULL */
    uint32_t next;                    /* index of the own record that is not published */
    uint32_t pooled;                  /* blocks in pool */
    void *pool;                       /* released record blocks, never published: the next records of this thread */
    struct thread_state *previous_state, *next_state; /* every thread's state, for the scans (under registry_lock) */
    /* The biased Dispose (docs/performance.md, "Fifth step"). */
    otel_thread_ctx_record *disposing; /* the record a biased Dispose of this thread is deciding on, or NULL (own stores) */
    uint32_t streak;                   /* own unshared records disposed in a row with the bias off */
    uint32_t rebiases;                 /* times the bias came back on: the next time needs twice the streak */
    /* BIAS_ON: this thread's Dispose of a record it made and no other thread touched makes no read-modify-write. Other
     * threads turn it off (revoke_bias), this thread back on. Alone on its line: other threads read it at every attach of
     * a record this thread made. Not cleared when the state is reused (see thread_state_create). */
    _Alignas(64) uint32_t bias;
} thread_state;

enum { BIAS_OFF = 0, BIAS_ON = 1, BIAS_REVOKING = 2 };

/* The owner of records made where no state could be: never biased. */
static thread_state unbiased_owner;

static pthread_key_t state_key;
static int state_key_ready; /* 1 once the key exists, -1 when it could not be made */
static pthread_once_t state_once = PTHREAD_ONCE_INIT;

/* Guards the list of thread states, the spare blocks, and every free of a counted record on the slow paths. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static thread_state *states;
static thread_state *free_states; /* states of exited threads, for the next threads (linked by next_state) */
static void *spare_blocks;
static size_t spare_count; /* read without the lock (relaxed) to skip it when empty */

static void thread_state_free(void *pointer);
static int bias_usable(void);

/* The key's value on a thread whose state was released at its exit: no state is made for it again. A call from a
 * destructor that runs after the library's (another key's, in a later round) would otherwise make a state whose own
 * destructor might never run (glibc stops after PTHREAD_DESTRUCTOR_ITERATIONS rounds): the state, its pool and what it
 * counted would stay taken for good, and a record it counted could never be disposed. Such a call gets no state
 * (set: -1, attach: -2, record_new: a spare block). */
static const char state_exited_mark;
#define STATE_EXITED ((void *)&state_exited_mark)

/* OFF -> ON by the thread itself (a compare-and-swap: a revocation under way wins), then a full fence before any of its
 * later loads. Without the fence its next biased Dispose could read a record's `shared` flag before the ON is visible
 * (on arm64 nothing orders a CAS's store before a later plain load), while a marker reads the bias OFF and revokes
 * nothing: both miss the other (store buffering). With it, either the marker's sequentially consistent load of the bias
 * sees ON (and revokes it, waiting for that Dispose), or the Dispose sees the mark. 1 when it turned the bias on. */
static int COLD bias_rearm(thread_state *state) {
    uint32_t off = BIAS_OFF;
    if (!__atomic_compare_exchange_n(&state->bias, &off, BIAS_ON, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        return 0;
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return 1;
}

static void thread_state_key_create(void) {
    state_key_ready = pthread_key_create(&state_key, thread_state_free) == 0 ? 1 : -1;
}

static inline void store_hazard(otel_thread_ctx_record **hazard, otel_thread_ctx_record *value) {
    __atomic_store_n(hazard, value, __ATOMIC_RELAXED);
}

static inline otel_thread_ctx_record *load_hazard(otel_thread_ctx_record *const *hazard) {
    return __atomic_load_n(hazard, __ATOMIC_RELAXED);
}

static thread_state *__attribute__((noinline)) thread_state_create(void **location) {
    pthread_once(&state_once, thread_state_key_create);
    if (state_key_ready != 1 || pthread_getspecific(state_key) == STATE_EXITED) {
        return NULL;
    }
    /* A state another thread left at its exit, else a new one. States are never freed: another thread may read the bias
     * and the disposing record of the state that made a record at any time (type-stable memory, as record blocks). */
    pthread_mutex_lock(&registry_lock);
    thread_state *state = free_states;
    if (state != NULL) {
        free_states = state->next_state;
    }
    pthread_mutex_unlock(&registry_lock);
    if (state == NULL) {
        state = aligned_alloc(64, sizeof *state);
        if (state == NULL) {
            return NULL;
        }
        memset(state, 0, sizeof *state);
        __atomic_store_n(&state->bias, bias_usable() ? BIAS_ON : BIAS_OFF, __ATOMIC_RELAXED);
    } else {
        /* A fresh history, biased again; a compare-and-swap, as another thread may be revoking the bias still. */
        memset(state, 0, offsetof(thread_state, disposing));
        /* A revoker of the previous thread's bias may still read it (NULL already: an atomic store, not the memset). */
        __atomic_store_n(&state->disposing, NULL, __ATOMIC_RELAXED);
        state->streak = 0;
        state->rebiases = 0;
        if (bias_usable()) {
            bias_rearm(state);
        }
    }
    state->records[0].valid = 1;
    state->records[1].valid = 1;
    state->slot = otel_thread_ctx_shim_slot();
    if (pthread_setspecific(state_key, state) != 0) {
        pthread_mutex_lock(&registry_lock);
        state->next_state = free_states;
        free_states = state;
        pthread_mutex_unlock(&registry_lock);
        return NULL;
    }
    pthread_mutex_lock(&registry_lock);
    state->next_state = states;
    if (states != NULL) {
        states->previous_state = state;
    }
    states = state;
    pthread_mutex_unlock(&registry_lock);
    *location = state;
    return state;
}

static inline thread_state *thread_state_get(void) {
    void **location = otel_thread_ctx_shim_state();
    thread_state *state = *location;
    return state != NULL ? state : thread_state_create(location);
}

/* ---- The process-wide barrier of the rare side ---- */

#ifndef SYS_membarrier
#if defined(__x86_64__)
#define SYS_membarrier 324
#elif defined(__aarch64__)
#define SYS_membarrier 283
#endif
#endif
#define MEMBARRIER_GLOBAL 1                       /* MEMBARRIER_CMD_GLOBAL: no registration, slow (an RCU grace period) */
#define MEMBARRIER_PRIVATE_EXPEDITED 8            /* MEMBARRIER_CMD_PRIVATE_EXPEDITED: IPIs to this process's CPUs */
#define MEMBARRIER_REGISTER_PRIVATE_EXPEDITED 16

static int barrier_command; /* 0: none usable; else the membarrier command */
static pthread_once_t barrier_once = PTHREAD_ONCE_INIT;

static void barrier_init(void) {
    if (syscall(SYS_membarrier, MEMBARRIER_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
        barrier_command = MEMBARRIER_PRIVATE_EXPEDITED;
    } else if (syscall(SYS_membarrier, MEMBARRIER_GLOBAL, 0, 0) == 0) {
        barrier_command = MEMBARRIER_GLOBAL;
    }
}

/* Whether a thread's Dispose may be biased: only where another thread can revoke the bias with an expedited barrier (the
 * global command takes milliseconds). */
static int bias_usable(void) {
    pthread_once(&barrier_once, barrier_init);
    return barrier_command == MEMBARRIER_PRIVATE_EXPEDITED;
}

/* Every thread of the process has run a full memory barrier between this call's start and its return, so a plain store a
 * thread made before that point is visible to the loads after the call, and its loads after that point see the stores
 * this thread made before the call. Returns 0 when no such barrier exists here (membarrier refused). */
static int process_barrier(void) {
    pthread_once(&barrier_once, barrier_init);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (barrier_command != 0 && syscall(SYS_membarrier, barrier_command, 0, 0) == 0) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        return 1;
    }
    return 0;
}

/* ---- Released blocks ---- */

/* A block nobody publishes or protects: kept for the next record of the thread whose state is `state` (the calling
 * thread's, or NULL), or the process's. Never freed to malloc (a thread may still read the header of a record it stopped
 * protecting). Never creates the state (a thread that is exiting, or never made one, hands it to the spare list). */
static void __attribute__((noinline, cold)) block_release_spare(record_header *header) {
    pthread_mutex_lock(&registry_lock);
    pool_link(header, spare_blocks);
    spare_blocks = header;
    __atomic_store_n(&spare_count, spare_count + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&registry_lock);
}

static inline void block_release_to(thread_state *state, record_header *header) {
    __atomic_store_n(&header->user, 0, __ATOMIC_RELAXED);
    if (state != NULL && state->pooled < POOL_CAPACITY) {
        pool_link(header, state->pool);
        state->pool = header;
        state->pooled++;
        return;
    }
    block_release_spare(header); /* out of line: the callers' hot paths save no register for it */
}

static void block_release(record_header *header) {
    block_release_to(*otel_thread_ctx_shim_state(), header);
}

static void *__attribute__((noinline)) block_take_spare(void) {
    void *block = NULL;
    if (__atomic_load_n(&spare_count, __ATOMIC_RELAXED) != 0) {
        pthread_mutex_lock(&registry_lock);
        if (spare_blocks != NULL) {
            block = spare_blocks;
            spare_blocks = pool_next(block);
            __atomic_store_n(&spare_count, spare_count - 1, __ATOMIC_RELAXED);
        }
        pthread_mutex_unlock(&registry_lock);
    }
    if (block == NULL) {
        block = malloc(BLOCK_SIZE);
        if (block != NULL) {
            static uint32_t last_id;
            __atomic_store_n(&((record_header *)block)->word, (uint64_t)RECORD_FREED, __ATOMIC_RELAXED);
            /* Once per block ever made (blocks are reused, never freed): rare enough for an atomic operation. */
            ((record_header *)block)->id = __atomic_add_fetch(&last_id, 1u, __ATOMIC_RELAXED);
        }
    }
    return block;
}

/* The block's id and this use of it: the generation (bumped at every release) as 1 .. 2^32 - 1 in the top 32 bits, so
 * that the value differs from each of the block's last 2^32 - 2 uses, and never has a zero generation. (16 bits came back
 * after 65,535 reuses: a few milliseconds of one thread's single/swap, well within a descheduled thread's stale value.) */
static inline uintptr_t bound_user(const record_header *header, uint64_t word) {
    return (uintptr_t)(((word >> STATE_BITS) % 0xFFFFFFFFu) + 1u) << 32 | header->id;
}

/* A block taken for a new record: its header made live for `owner` with `user`, or, when `bound` is not NULL, with the
 * block's own value (bound_user), which is also stored there. Only the header is cleared: attribute bytes past
 * attrs_data_size are never read. The header's fields are stored atomically: a thread with a stale pointer may read them
 * (it then sees another generation, or another user). */
static inline __attribute__((always_inline)) otel_thread_ctx_record *record_init(thread_state *owner, void *block,
                                                                                 uintptr_t user, uintptr_t *bound) {
    record_header *header = block;
    uint64_t word = load_word(header);
    if (bound != NULL) {
        user = bound_user(header, word);
        *bound = user;
    }
    __atomic_store_n(&header->owner, owner, __ATOMIC_RELAXED);
    /* Release: a thread whose mark_shared exchange reads this (or a later) value sees the owner above. */
    __atomic_store_n(&header->shared, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&header->user, user, __ATOMIC_RELAXED);
    /* Release: an attach whose acquire load reads this LIVE word sees the user value above (load_word_acquire). */
    __atomic_store_n(&header->word, with_state(word, RECORD_LIVE), __ATOMIC_RELEASE);
    otel_thread_ctx_record *record = record_of(block);
    memset(record, 0, OTEL_THREAD_CTX_HEADER_SIZE);
    record->valid = 1;
    return record;
}

/* Every case: a thread without its state yet, or with an empty pool (the spare list, else a new block). */
static otel_thread_ctx_record *COLD record_new_general(uintptr_t user, uintptr_t *bound) {
    thread_state *state = thread_state_get();
    void *block;
    if (state != NULL && state->pool != NULL) {
        block = state->pool;
        state->pool = pool_next(block);
        state->pooled--;
    } else {
        block = block_take_spare();
        if (block == NULL) {
            if (bound != NULL) {
                *bound = 0;
            }
            return NULL;
        }
    }
    return record_init(state != NULL ? state : &unbiased_owner, block, user, bound);
}

/* The common case, the calling thread's pool, with no register saved and no call (the rest: record_new_general, by a
 * tail call). */
static inline __attribute__((always_inline)) otel_thread_ctx_record *record_new_fast(uintptr_t user, uintptr_t *bound) {
    thread_state *state = *otel_thread_ctx_shim_state();
    void *block = state != NULL ? state->pool : NULL;
    if (__builtin_expect(block == NULL, 0)) {
        return record_new_general(user, bound);
    }
    state->pool = pool_next(block);
    state->pooled--;
    return record_init(state, block, user, bound);
}

otel_thread_ctx_record *otel_thread_ctx_record_new_user(uintptr_t user) {
    return record_new_fast(user, NULL);
}

otel_thread_ctx_record *otel_thread_ctx_record_new(void) {
    return record_new_fast(0, NULL);
}

otel_thread_ctx_record *otel_thread_ctx_record_new_bound(uintptr_t *user) {
    if (user == NULL) {
        return NULL;
    }
    return record_new_fast(0, user);
}

void otel_thread_ctx_record_free(otel_thread_ctx_record *record) {
    if (record != NULL) {
        record_header *header = header_of(record);
        __atomic_store_n(&header->word, freed_word(load_word(header)), __ATOMIC_RELAXED);
        block_release(header);
    }
}

void otel_thread_ctx_record_set_ids(otel_thread_ctx_record *record, const uint8_t trace_id[16],
                                    const uint8_t span_id[8], uint8_t trace_flags) {
    if (record == NULL) {
        return;
    }
    if (trace_id != NULL) {
        memcpy(record->trace_id, trace_id, sizeof record->trace_id);
    } else {
        memset(record->trace_id, 0, sizeof record->trace_id);
    }
    if (span_id != NULL) {
        memcpy(record->span_id, span_id, sizeof record->span_id);
    } else {
        memset(record->span_id, 0, sizeof record->span_id);
    }
    record->trace_flags = trace_flags;
}

void otel_thread_ctx_record_clear_attrs(otel_thread_ctx_record *record) {
    if (record != NULL) {
        record->attrs_data_size = 0;
    }
}

otel_thread_ctx_status otel_thread_ctx_record_add_attr(otel_thread_ctx_record *record,
                                                       uint8_t key_index, const uint8_t *value,
                                                       size_t length) {
    if (record == NULL || (value == NULL && length != 0)) {
        return OTEL_THREAD_CTX_INVALID;
    }
    otel_thread_ctx_status status = OTEL_THREAD_CTX_OK;
    if (length > OTEL_THREAD_CTX_MAX_VALUE_LEN) {
        length = OTEL_THREAD_CTX_MAX_VALUE_LEN;
        status = OTEL_THREAD_CTX_TRUNCATED;
    }
    size_t used = record->attrs_data_size;
    size_t entry = 2 + length;
    if (used > OTEL_THREAD_CTX_ATTRS_CAPACITY || entry > OTEL_THREAD_CTX_ATTRS_CAPACITY - used) {
        return OTEL_THREAD_CTX_DROPPED;
    }
    uint8_t *out = record->attrs_data + used;
    out[0] = key_index;
    out[1] = (uint8_t)length;
    if (length != 0) {
        memcpy(out + 2, value, length);
    }
    /* The entry is complete before the size that makes it visible grows. */
    FENCE();
    record->attrs_data_size = (uint16_t)(used + entry);
    return status;
}

/* Publishes `record` (NULL: nothing) in the calling thread's slot; returns what was there. */
static inline otel_thread_ctx_record *swap_slot(otel_thread_ctx_record *record) {
    otel_thread_ctx_record **slot = otel_thread_ctx_shim_slot();
    otel_thread_ctx_record *previous = *slot;
    /* Every write to the record happens before the pointer that publishes it. */
    FENCE();
    store_slot(slot, record);
    FENCE();
    return previous;
}

otel_thread_ctx_record *otel_thread_ctx_attach(otel_thread_ctx_record *record) {
    return swap_slot(record);
}

otel_thread_ctx_record *otel_thread_ctx_detach(void) {
    return swap_slot(NULL);
}

otel_thread_ctx_record *otel_thread_ctx_current(void) {
    return *otel_thread_ctx_shim_slot();
}

otel_thread_ctx_record *otel_thread_ctx_update_begin(void) {
    otel_thread_ctx_record *record = *otel_thread_ctx_shim_slot();
    if (record != NULL) {
        store_valid(record, 0);
        FENCE();
    }
    return record;
}

void otel_thread_ctx_update_end(void) {
    otel_thread_ctx_record *record = *otel_thread_ctx_shim_slot();
    if (record != NULL) {
        FENCE();
        store_valid(record, 1);
        FENCE();
    }
}

int otel_thread_ctx_update_ids(const uint8_t trace_id[16], const uint8_t span_id[8],
                               uint8_t trace_flags) {
    otel_thread_ctx_record *record = *otel_thread_ctx_shim_slot();
    if (record == NULL) {
        return -1;
    }
    store_valid(record, 0);
    FENCE();
    otel_thread_ctx_record_set_ids(record, trace_id, span_id, trace_flags);
    FENCE();
    store_valid(record, 1);
    FENCE();
    return 0;
}

size_t otel_thread_ctx_read_current(uint8_t *buffer, size_t capacity) {
    const otel_thread_ctx_record *record = *otel_thread_ctx_shim_slot();
    if (record == NULL || buffer == NULL || capacity < OTEL_THREAD_CTX_HEADER_SIZE) {
        return 0;
    }
    size_t used = record->attrs_data_size;
    if (used > OTEL_THREAD_CTX_ATTRS_CAPACITY) {
        used = OTEL_THREAD_CTX_ATTRS_CAPACITY;
    }
    size_t total = OTEL_THREAD_CTX_HEADER_SIZE + used;
    if (total > capacity) {
        total = capacity;
    }
    memcpy(buffer, record, total);
    return total;
}

/* Attribute blocks are usually a few dozen bytes: 8-byte moves beat a call into the library's memcpy. */
static inline void copy_small(uint8_t *destination, const uint8_t *source, size_t size) {
    size_t i = 0;
    /* Word by word, not vectorised: the vector loop's registers would make every caller save some (a frame on the path of
     * each Set, which mostly copies nothing or a few words). */
#if defined(__clang__) /* gcc (a default build may use it) has no such pragma, and -Werror refuses unknown ones */
#pragma clang loop vectorize(disable) interleave(disable) unroll(disable)
#endif
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        memcpy(&word, source + i, 8);
        memcpy(destination + i, &word, 8);
    }
#if defined(__clang__)
#pragma clang loop vectorize(disable) unroll(disable)
#endif
    for (; i < size; i++) {
        destination[i] = source[i];
    }
}

/* ---- Counted records: hazards instead of counts ---- */

/* Threads whose hazards hold `record` now (under registry_lock). Without a barrier before it, a store a thread made just
 * now may not be seen yet: the callers that decide a free run one first, or rely on a scan that did (see the proof). */
static int32_t hazard_count(const otel_thread_ctx_record *record, const thread_state *except) {
    int32_t count = 0;
    for (const thread_state *state = states; state != NULL; state = state->next_state) {
        if (state == except) {
            continue;
        }
        /* pending first, with acquire, then counted: an attach moves its record from pending to counted (counted
         * stored, then pending cleared with a release store) possibly after this scan's barrier, and reading counted
         * first could see it in neither. A pending read as cleared shows the counted store before it. */
        otel_thread_ctx_record *pending = __atomic_load_n(&state->pending, __ATOMIC_ACQUIRE);
        if (pending == record || load_hazard(&state->counted) == record) {
            count++;
        }
    }
    return count;
}

/* Frees a counted record whose word is `word` (caller holds registry_lock or is the only one who could). */
static inline void counted_free(record_header *header, uint64_t word) {
    __atomic_store_n(&header->word, freed_word(word), __ATOMIC_RELAXED);
}

/* The last thread protecting an orphan frees it. `seen` is the word read while the caller still protected it. */
static void COLD release_orphan(record_header *header, uint64_t seen) {
    uint64_t word;
    /* The binding's orphan_end has not scanned yet: it decides (its scan, after the barrier, sees this release). */
    while ((word = load_word(header)) == with_state(seen, RECORD_ORPHANING)) {
        sched_yield();
    }
    if (word != with_state(seen, RECORD_ORPHANED)) {
        return;
    }
    pthread_mutex_lock(&registry_lock);
    int freed = load_word(header) == word && hazard_count(record_of(header), NULL) == 0;
    if (freed) {
        counted_free(header, word);
    }
    pthread_mutex_unlock(&registry_lock);
    if (freed) {
        block_release(header);
    }
}

/* The calling thread dropped its hazard on `record` (seen: the word read while it held it). Plain loads only, unless the
 * record is an orphan of the same generation. */
static inline __attribute__((always_inline)) int release_needs_check(const otel_thread_ctx_record *record, uint64_t seen) {
    FENCE();
    uint64_t word = load_word(header_of(record));
    return __builtin_expect((word >> STATE_BITS) == (seen >> STATE_BITS)
                            && (state_of(word) == RECORD_ORPHANING || state_of(word) == RECORD_ORPHANED), 0);
}

/* release_orphan for a caller that returns 0 next: a tail call keeps the caller's hot path free of saved registers. */
static int COLD release_orphan_then_ok(record_header *header, uint64_t seen) {
    release_orphan(header, seen);
    return 0;
}

/* Turns the bias of `owner` off: when this returns, no biased Dispose of that thread is under way, and its next ones see
 * the bias off (or, after it turned it back on itself, the shared flag of every record marked before). The barrier makes
 * the owner's `disposing` store visible if it came before it, and the owner's load of the bias sees REVOKING if it came
 * after. The first load is sequentially consistent, after the caller's mark: against the owner's bias_rearm (its CAS,
 * then a fence) either it sees ON, or the owner's later loads see the mark. 0 when no barrier could be run (the bias is
 * off, but a Dispose under way may be missed). */
static int COLD revoke_bias(thread_state *owner) {
    for (;;) {
        uint32_t bias = __atomic_load_n(&owner->bias, __ATOMIC_SEQ_CST);
        if (bias == BIAS_OFF) {
            return 1;
        }
        if (bias == BIAS_REVOKING) {
            sched_yield(); /* another thread revokes it: done within one barrier and one Dispose */
            continue;
        }
        if (__atomic_compare_exchange_n(&owner->bias, &bias, BIAS_REVOKING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            break;
        }
    }
    int barrier = process_barrier();
    /* Seen NULL once after the barrier: the Dispose that may have read BIAS_ON is over, and its stores are visible (it
     * clears `disposing` with a release store). Every later one reads REVOKING or OFF. */
    while (barrier && __atomic_load_n(&owner->disposing, __ATOMIC_ACQUIRE) != NULL) {
        sched_yield();
    }
    __atomic_store_n(&owner->bias, BIAS_OFF, __ATOMIC_SEQ_CST);
    return barrier;
}

/* A thread other than the creator attaches or disposes the record: marked shared (one read-modify-write per record and
 * thread, then never again), and the creator's bias turned off if it was on. The creator's Dispose with the bias off
 * reads the flag after its compare-and-swap, so it either sees the flag (and runs the barrier and the scan) or this
 * thread's check after the fence sees the mark; with the bias on it reads the flag after publishing `disposing`, which
 * revoke_bias waits for. 0 when the bias could not be revoked. */
static int COLD mark_shared(record_header *header) {
    __atomic_exchange_n(&header->shared, 1u, __ATOMIC_SEQ_CST);
    int ok = revoke_bias(__atomic_load_n(&header->owner, __ATOMIC_RELAXED));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return ok;
}

/* Whether an attach on a thread other than the creator must go through mark_shared first: the record is not marked yet,
 * or the creator's bias is on (it may have come back on after the mark). Both loads sequentially consistent, the flag
 * first. A mark this reads was made by a marker whose own load of the bias came after it: if the creator's bias came
 * back on before that mark (its ON and fence precede the mark), this load, which follows the mark, sees ON or what a
 * later revocation stored (REVOKING: mark here and wait; OFF: stored after that revocation waited out the biased
 * Dispose, whose stores it then sees); if it came back on after the mark, the creator's Dispose reads the mark after
 * its fence. Acquire would not do: that chain needs these loads in the single order of sequentially consistent
 * operations. A plain `mov` each on x86-64, `ldar` on arm64. */
static inline int needs_mark(const record_header *header) {
    return __atomic_load_n(&header->shared, __ATOMIC_SEQ_CST) == 0
           || __atomic_load_n(&__atomic_load_n(&header->owner, __ATOMIC_RELAXED)->bias, __ATOMIC_SEQ_CST) != BIAS_OFF;
}

/* The pending hazard on `record` dropped by an attach that gave up or waits. An orphan scan counts a hazard by pointer,
 * whatever the generation, and leaves the free to the last thread that drops one: the orphan is looked for in the word
 * as it is now (the block may hold a later use than the one this thread attached), and release_orphan decides under the
 * lock, so an orphan whose scan did not count this thread is left as it is or freed if nobody protects it. */
static void COLD drop_pending(thread_state *state, otel_thread_ctx_record *record) {
    store_hazard(&state->pending, NULL);
    FENCE();
    uint64_t word = load_word(header_of(record));
    if (__builtin_expect(state_of(word) == RECORD_ORPHANING || state_of(word) == RECORD_ORPHANED, 0)) {
        release_orphan(header_of(record), word);
    }
}

/* The record was not live (or not the expected one) when the caller read its word (`first`) after publishing the
 * pending hazard: wait out a Dispose in progress (it ends in a few microseconds: back to live, then attach; or freed,
 * then give up). 1: attach, protected by pending. The thread does not protect the record while it waits, and protects
 * and checks it again, as a new attach does, once the Dispose is over: a waiting thread's hazard made that Dispose
 * refuse, so threads attaching one after another while the record was disposed and disposed again had every Dispose
 * refused, for good. `first` is the caller's load, not a new one: a new load could show the next use of a block freed
 * meanwhile, which an attach without the check would take for the record it meant. */
static int COLD attach_wait(thread_state *state, otel_thread_ctx_record *record, uintptr_t expected, int check,
                            uint64_t first) {
    record_header *header = header_of(record);
    uint64_t word = first;
    while (state_of(word) == RECORD_DISPOSING) {
        drop_pending(state, record);
        do {
            sched_yield();
            word = load_word_acquire(header);
        } while (state_of(word) == RECORD_DISPOSING);
        if ((word >> STATE_BITS) != (first >> STATE_BITS) || state_of(word) != RECORD_LIVE) {
            return 0; /* freed (and maybe reused): nothing is protected any more */
        }
        store_hazard(&state->pending, record);
        FENCE();
        word = load_word_acquire(header);
    }
    if ((word >> STATE_BITS) == (first >> STATE_BITS) && state_of(word) == RECORD_LIVE
        && (!check || __atomic_load_n(&header->user, __ATOMIC_RELAXED) == expected)) {
        return 1;
    }
    drop_pending(state, record);
    return 0;
}

/* The counted hazard on `counted` (non-NULL) dropped (a plain store), then the orphan check; 0, the check's slow path by a
 * tail call, so that a caller returning this saves no register for it. */
static inline __attribute__((always_inline)) int drop_counted(thread_state *state, otel_thread_ctx_record *counted) {
    uint64_t seen = load_word(header_of(counted));
    store_hazard(&state->counted, NULL);
    if (release_needs_check(counted, seen)) {
        return release_orphan_then_ok(header_of(counted), seen);
    }
    return 0;
}

/* The thread published something else: the counted record it published before is released (plain stores); returns its
 * user value (0 if none). */
static inline __attribute__((always_inline)) uintptr_t release_counted(thread_state *state) {
    otel_thread_ctx_record *counted = state->counted;
    if (counted == NULL) {
        return 0;
    }
    uintptr_t user = __atomic_load_n(&header_of(counted)->user, __ATOMIC_RELAXED);
    drop_counted(state, counted);
    return user;
}

static void thread_state_free(void *pointer) {
    if (pointer == STATE_EXITED) {
        /* A later round of destructors: the mark stays for the rounds after it (glibc clears a value before it calls
         * the destructor). */
        pthread_setspecific(state_key, STATE_EXITED);
        return;
    }
    thread_state *state = pointer;
    /* The thread is exiting: nothing of it is published any more, and what it protected is released. */
    store_slot(state->slot, NULL);
    FENCE();
    /* Forgotten first: what is released from here on goes to the spare list, and a later call on this thread (another
     * destructor) gets no state instead of using this one. */
    *otel_thread_ctx_shim_state() = NULL;
    pthread_setspecific(state_key, STATE_EXITED);
    release_counted(state);
    pthread_mutex_lock(&registry_lock);
    if (state->previous_state != NULL) {
        state->previous_state->next_state = state->next_state;
    } else {
        states = state->next_state;
    }
    if (state->next_state != NULL) {
        state->next_state->previous_state = state->previous_state;
    }
    void *block = state->pool;
    while (block != NULL) {
        void *next = pool_next(block);
        pool_link(block, spare_blocks);
        spare_blocks = block;
        __atomic_store_n(&spare_count, spare_count + 1, __ATOMIC_RELAXED);
        block = next;
    }
    state->next_state = free_states;
    free_states = state;
    pthread_mutex_unlock(&registry_lock);
}

/* Writes the thread's unpublished record of its pair and publishes it; the counted record published before is released.
 * Written so that the common case saves no register and makes no call (the rare ones leave by tail calls). */
static inline __attribute__((always_inline)) int set_publish(thread_state *state, const uint8_t trace_id[16],
                                                             const uint8_t span_id[8], uint8_t trace_flags,
                                                             const uint8_t *attrs, size_t attrs_size) {
    uint32_t index = state->next & 1u;
    /* Not published: no reader can see these writes until the slot store below. */
    otel_thread_ctx_record *record = &state->records[index];
    otel_thread_ctx_record_set_ids(record, trace_id, span_id, trace_flags);
    copy_small(record->attrs_data, attrs, attrs_size);
    record->attrs_data_size = (uint16_t)attrs_size;
    FENCE();
    store_slot(state->slot, record);
    FENCE();
    state->next = index ^ 1u;
    otel_thread_ctx_record *counted = state->counted;
    return counted == NULL ? 0 : drop_counted(state, counted);
}

static inline __attribute__((always_inline)) int set_arguments_ok(const uint8_t *attrs, size_t attrs_size) {
    return attrs_size <= OTEL_THREAD_CTX_ATTRS_CAPACITY && (attrs != NULL || attrs_size == 0);
}

/* Every case of otel_thread_ctx_set: arguments refused, or a thread without its state yet. */
static int COLD set_general(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t trace_flags,
                            const uint8_t *attrs, size_t attrs_size) {
    if (!set_arguments_ok(attrs, attrs_size)) {
        return -1;
    }
    thread_state *state = thread_state_get();
    if (state == NULL) {
        return -1;
    }
    return set_publish(state, trace_id, span_id, trace_flags, attrs, attrs_size);
}

int otel_thread_ctx_set(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t trace_flags,
                        const uint8_t *attrs, size_t attrs_size) {
    thread_state *state = *otel_thread_ctx_shim_state();
    if (__builtin_expect(state == NULL || !set_arguments_ok(attrs, attrs_size), 0)) {
        return set_general(trace_id, span_id, trace_flags, attrs, attrs_size);
    }
    return set_publish(state, trace_id, span_id, trace_flags, attrs, attrs_size);
}

/* Attach, counted: no read-modify-write and no CPU barrier (the argument: docs/performance.md, "Shared records without
 * atomics"). check: refuse unless the record's user value is `expected` (a binding's guard against a block that was
 * disposed and reused meanwhile).
 *
 * Two parts: attach_counted_fast, the path of every attach that meets a live record on a thread that has its state,
 * written so that it saves no register and makes no call (each other case leaves it by a tail call before it has stored
 * anything, or, after the pending hazard, into attach_counted_contended); and attach_counted_general, every case. */

/* The record is protected by pending and was seen live (and, with check, still the expected one): publish it, protect it
 * with counted, and release the counted record published before. */
static inline __attribute__((always_inline)) int attach_counted_publish(thread_state *state, otel_thread_ctx_record *record,
                                                                        otel_thread_ctx_record *previous,
                                                                        uintptr_t *previous_user) {
    FENCE();
    store_slot(state->slot, record);
    FENCE();
    uint64_t seen = 0;
    uintptr_t user = 0;
    if (previous != NULL) {
        seen = load_word(header_of(previous));
        user = __atomic_load_n(&header_of(previous)->user, __ATOMIC_RELAXED);
    }
    /* The new record is protected by counted before pending lets it go (a release store: a scan that reads pending
     * cleared then reads counted set, on arm64 too; a plain `mov` on x86-64, `stlr` on arm64); the previous one is no
     * longer published. */
    store_hazard(&state->counted, record);
    __atomic_store_n(&state->pending, NULL, __ATOMIC_RELEASE);
    *previous_user = user;
    if (previous != NULL && release_needs_check(previous, seen)) {
        return release_orphan_then_ok(header_of(previous), seen);
    }
    return 0;
}

/* The pending hazard is published and the record was not live, or not the expected one: wait out a Dispose in progress,
 * then publish, or give up (-1). */
static int COLD attach_counted_contended(thread_state *state, otel_thread_ctx_record *record, uintptr_t expected, int check,
                                         uintptr_t *previous_user, uint64_t word) {
    if (!attach_wait(state, record, expected, check, word)) {
        return -1;
    }
    return attach_counted_publish(state, record, state->counted, previous_user);
}

static int COLD attach_counted_general(otel_thread_ctx_record *record, uintptr_t expected, int check,
                                       uintptr_t *previous_user) {
    if (record == NULL || previous_user == NULL) {
        return -1;
    }
    thread_state *state = thread_state_get();
    if (state == NULL) {
        return -2;
    }
    record_header *header = header_of(record);
    otel_thread_ctx_record *previous = state->counted;
    if (previous == record) {
        /* Already published and protected by this thread: live, and still the same record. */
        uintptr_t user = __atomic_load_n(&header->user, __ATOMIC_RELAXED);
        if (check && user != expected) {
            return -1;
        }
        FENCE();
        store_slot(state->slot, record);
        FENCE();
        *previous_user = user;
        return 0;
    }
    /* A binding's stale pointer to a block reused meanwhile is refused before it is even protected (so that it does not
     * make the new record's Dispose refuse); the check after the hazard below is the one that counts. */
    if (check && __atomic_load_n(&header->user, __ATOMIC_RELAXED) != expected) {
        return -1;
    }
    if (__atomic_load_n(&header->owner, __ATOMIC_RELAXED) != state && needs_mark(header) && !mark_shared(header)) {
        return -2;
    }
    /* The hazard first, then the check: a Dispose that marked the record before this load is seen by it, one that marks
     * it after scans after its barrier, which makes this store visible to the scan. */
    store_hazard(&state->pending, record);
    FENCE();
    uint64_t word = load_word_acquire(header);
    if (state_of(word) != RECORD_LIVE || (check && __atomic_load_n(&header->user, __ATOMIC_RELAXED) != expected)) {
        return attach_counted_contended(state, record, expected, check, previous_user, word);
    }
    return attach_counted_publish(state, record, previous, previous_user);
}

/* The same steps as attach_counted_general for the common case; anything else goes there (nothing stored yet) or to
 * attach_counted_contended (pending stored), by tail calls. */
static inline __attribute__((always_inline)) int attach_counted_fast(otel_thread_ctx_record *record, uintptr_t expected,
                                                                     int check, uintptr_t *previous_user) {
    thread_state *state = *otel_thread_ctx_shim_state();
    if (__builtin_expect(record == NULL || previous_user == NULL || state == NULL, 0)) {
        return attach_counted_general(record, expected, check, previous_user);
    }
    record_header *header = header_of(record);
    otel_thread_ctx_record *previous = state->counted;
    if (__builtin_expect(previous == record
                         || (check && __atomic_load_n(&header->user, __ATOMIC_RELAXED) != expected)
                         || (__atomic_load_n(&header->owner, __ATOMIC_RELAXED) != state && needs_mark(header)), 0)) {
        return attach_counted_general(record, expected, check, previous_user);
    }
    store_hazard(&state->pending, record);
    FENCE();
    uint64_t word = load_word_acquire(header);
    if (__builtin_expect(state_of(word) != RECORD_LIVE
                         || (check && __atomic_load_n(&header->user, __ATOMIC_RELAXED) != expected), 0)) {
        return attach_counted_contended(state, record, expected, check, previous_user, word);
    }
    return attach_counted_publish(state, record, previous, previous_user);
}

int otel_thread_ctx_attach_counted(otel_thread_ctx_record *record, uintptr_t *previous_user) {
    return attach_counted_fast(record, 0, 0, previous_user);
}

int otel_thread_ctx_attach_counted_checked(otel_thread_ctx_record *record, uintptr_t expected_user,
                                           uintptr_t *previous_user) {
    return attach_counted_fast(record, expected_user, 1, previous_user);
}

uintptr_t otel_thread_ctx_clear(void) {
    thread_state *state = *otel_thread_ctx_shim_state();
    if (state == NULL) {
        swap_slot(NULL);
        return 0;
    }
    /* One TLS access: the state knows the slot. */
    FENCE();
    store_slot(state->slot, NULL);
    FENCE();
    return release_counted(state);
}

uintptr_t otel_thread_ctx_current_user(void) {
    thread_state *state = *otel_thread_ctx_shim_state();
    if (state == NULL || state->counted == NULL || *state->slot != state->counted) {
        return 0;
    }
    return __atomic_load_n(&header_of(state->counted)->user, __ATOMIC_RELAXED);
}

int32_t otel_thread_ctx_record_attach_count(const otel_thread_ctx_record *record) {
    if (record == NULL) {
        return 0;
    }
    int32_t count = 0;
    pthread_mutex_lock(&registry_lock);
    for (const thread_state *state = states; state != NULL; state = state->next_state) {
        count += load_hazard(&state->counted) == record;
    }
    pthread_mutex_unlock(&registry_lock);
    return count;
}

int otel_thread_ctx_record_is_owner(const otel_thread_ctx_record *record) {
    return record != NULL && __atomic_load_n(&header_of(record)->owner, __ATOMIC_RELAXED) == *otel_thread_ctx_shim_state();
}

/* Whether the block still holds the use whose user value is `user` (0: any use, the unchecked dispose). A relaxed load,
 * after an acquire load of the word: on the creating thread's biased path (see dispose_use), and in mark_disposing,
 * before the compare-and-swap of that word, which fails if the block was released meanwhile. */
static inline int holds_user(const record_header *header, uintptr_t user) {
    return user == 0 || __atomic_load_n(&header->user, __ATOMIC_RELAXED) == user;
}

/* LIVE -> DISPOSING (the only transition two disposers could race for), for the use whose user value is `user` (0: the
 * one the block holds). The word is read with acquire semantics (as an attach reads it): a LIVE word of a block reused
 * since comes with its new user value, which the check then refuses. */
static inline int mark_disposing(record_header *header, uint64_t *word, uintptr_t user) {
    *word = load_word_acquire(header);
    return state_of(*word) == RECORD_LIVE && holds_user(header, user)
           && __atomic_compare_exchange_n(&header->word, word, with_state(*word, RECORD_DISPOSING), 0,
                                          __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* Marked DISPOSING by the caller: free it, or back to live when `publishers` threads still protect it. */
static inline int32_t dispose_finish(record_header *header, uint64_t word, int32_t publishers) {
    if (publishers > 0) {
        __atomic_store_n(&header->word, word, __ATOMIC_SEQ_CST);
        return publishers;
    }
    counted_free(header, word);
    return 0;
}

/* The barrier and the scan over every thread's hazards. */
static int32_t COLD dispose_scan(record_header *header, uint64_t word) {
    pthread_mutex_lock(&registry_lock);
    if (!process_barrier()) {
        /* No process-wide barrier here (membarrier refused): the scan could miss a thread's hazard, so the block is
         * never reused (leaked, left FREED of this generation: attaches refuse it, readers of a thread that still
         * publishes it see it whole). */
        __atomic_store_n(&header->word, with_state(word, RECORD_FREED), __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&registry_lock);
        return 0;
    }
    int32_t result = dispose_finish(header, word, hazard_count(record_of(header), NULL));
    pthread_mutex_unlock(&registry_lock);
    if (result == 0) {
        block_release(header);
    }
    return result;
}

/* The bias back on after a streak of own, unshared records disposed with it off: 64, 128, … up to 2^20 of them, doubling
 * each time, so that a thread whose records keep being shared pays a revocation (one barrier, on the other thread) at
 * most once per 2^20 of its Disposes. A compare-and-swap: a revocation under way wins. */
static void bias_streak(thread_state *state) {
    uint32_t rebiases = state->rebiases < 14u ? state->rebiases : 14u;
    if (++state->streak < (64u << rebiases) || !bias_usable()) {
        return;
    }
    state->streak = 0;
    if (bias_rearm(state)) {
        state->rebiases++;
    }
}

/* The creating thread, without the bias (or for a record another thread touched): the compare-and-swap, then the flag.
 * The mark is a sequentially consistent read-modify-write (a full barrier: lock cmpxchg, casal), and the flag is read
 * with a sequentially consistent load after it: no separate fence. Only the creator's own hazards can hold a record no
 * other thread ever tried to attach: no barrier, no lock. */
static int32_t COLD dispose_own_unbiased(thread_state *state, record_header *header, uintptr_t user) {
    uint64_t word;
    if (!mark_disposing(header, &word, user)) {
        return -1;
    }
    if (__atomic_load_n(&header->shared, __ATOMIC_SEQ_CST) != 0) {
        state->streak = 0;
        return dispose_scan(header, word);
    }
    int32_t result = dispose_finish(header, word, state->counted == record_of(header));
    if (result == 0) {
        block_release_to(state, header);
        if (__atomic_load_n(&state->bias, __ATOMIC_RELAXED) == BIAS_OFF) {
            bias_streak(state);
        }
    }
    return result;
}

/* Another thread's record (or a thread without a state): marked shared, the creator's bias revoked, then the mark, the
 * barrier and the scan. A checked dispose of a use the block no longer holds is refused before it marks anything, unless
 * its relaxed first look was stale (then the block's next record is marked shared, which costs its Dispose the slow path,
 * and mark_disposing refuses). */
static int32_t COLD dispose_other(record_header *header, uintptr_t user) {
    uint64_t word;
    if (!holds_user(header, user) || !mark_shared(header) || !mark_disposing(header, &word, user)) {
        return -1;
    }
    return dispose_scan(header, word);
}

/* The creating thread with its bias on, for a record no other thread touched: plain stores (docs/performance.md, "Fifth
 * step"). It names the record in `disposing`, then reads the bias and the flag: a thread that marks the record and
 * revokes the bias either is seen here (the flag, or the bias no longer on: the unbiased path), or sees `disposing`
 * after its barrier and waits until this call is done. With the bias on and the flag clear, no other thread writes the
 * word or holds the record (each would have marked it first), so only this thread's own `counted` can: a plain check. */
static inline int32_t dispose_use(otel_thread_ctx_record *record, uintptr_t user) {
    if (record == NULL) {
        return -1;
    }
    record_header *header = header_of(record);
    thread_state *state = *otel_thread_ctx_shim_state();
    if (state == NULL || __atomic_load_n(&header->owner, __ATOMIC_RELAXED) != state) {
        return dispose_other(header, user);
    }
    __atomic_store_n(&state->disposing, record, __ATOMIC_RELAXED);
    FENCE();
    /* The flag and then the word with acquire semantics (a plain `mov` on x86-64, `ldar` on arm64): a late Dispose whose
     * owner load was stale, on a block that another thread disposed and took for its next record meanwhile, reads the
     * flag that record_init cleared with a release store, then a word no older than that init's (FREED, or its LIVE,
     * released after its user value), and the check refuses it. Relaxed, arm64 could read the old user value after the
     * new flag or word (found by an independent review). */
    if (__builtin_expect(__atomic_load_n(&state->bias, __ATOMIC_RELAXED) != BIAS_ON
                         || __atomic_load_n(&header->shared, __ATOMIC_ACQUIRE) != 0, 0)) {
        __atomic_store_n(&state->disposing, NULL, __ATOMIC_RELAXED);
        return dispose_own_unbiased(state, header, user);
    }
    uint64_t word = load_word_acquire(header);
    int32_t result = state_of(word) != RECORD_LIVE || !holds_user(header, user) ? -1 : state->counted == record;
    if (result == 0) {
        counted_free(header, word);
    }
    /* Release: a revoking thread that reads NULL sees the word above. */
    __atomic_store_n(&state->disposing, NULL, __ATOMIC_RELEASE);
    if (result == 0) {
        block_release_to(state, header);
    }
    return result;
}

int32_t otel_thread_ctx_record_dispose(otel_thread_ctx_record *record) {
    return dispose_use(record, 0);
}

int32_t otel_thread_ctx_record_dispose_checked(otel_thread_ctx_record *record, uintptr_t user) {
    return user == 0 ? -1 : dispose_use(record, user);
}

int32_t otel_thread_ctx_record_dispose_begin(otel_thread_ctx_record *record) {
    record_header *header = header_of(record);
    uint64_t word;
    thread_state *state = *otel_thread_ctx_shim_state();
    if ((state == NULL || __atomic_load_n(&header->owner, __ATOMIC_RELAXED) != state) && !mark_shared(header)) {
        return -1;
    }
    if (!mark_disposing(header, &word, 0)) {
        return -1;
    }
    pthread_mutex_lock(&registry_lock);
    /* Without a barrier (membarrier refused) the scan is not to be trusted: refused, as if another thread published it. */
    int32_t others = process_barrier() ? hazard_count(record, *otel_thread_ctx_shim_state()) : 1;
    if (others > 0) {
        __atomic_store_n(&header->word, word, __ATOMIC_SEQ_CST);
    }
    pthread_mutex_unlock(&registry_lock);
    return others;
}

int32_t otel_thread_ctx_record_dispose_end(otel_thread_ctx_record *record) {
    record_header *header = header_of(record);
    uint64_t word = with_state(load_word(header), RECORD_LIVE);
    thread_state *state = *otel_thread_ctx_shim_state();
    int32_t result = dispose_finish(header, word, state != NULL && state->counted == record);
    if (result == 0) {
        block_release(header);
    }
    return result != 0;
}

void otel_thread_ctx_record_orphan_begin(otel_thread_ctx_record *record) {
    record_header *header = header_of(record);
    uint64_t word = load_word(header);
    /* Only a live record: one that is disposed, freed or being disposed is not this call's (orphaning takes the place of
     * Dispose, and a binding that broke that contract must not get the block freed twice). A compare-and-swap, the rare
     * side: a Dispose racing it (the same broken contract) wins or loses whole. */
    if (state_of(word) != RECORD_LIVE) {
        return;
    }
    __atomic_store_n(&header->user, 0, __ATOMIC_SEQ_CST);
    __atomic_compare_exchange_n(&header->word, &word, with_state(word, RECORD_ORPHANING), 0, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
}

void otel_thread_ctx_record_orphan_end(otel_thread_ctx_record *record) {
    /* The caller ran a process-wide barrier since orphan_begin: the scan sees every hazard that could still hold it, and
     * every thread that drops one from here on sees the mark and comes through release_orphan. */
    record_header *header = header_of(record);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    pthread_mutex_lock(&registry_lock);
    uint64_t word = load_word(header);
    int freed = 0;
    if (state_of(word) == RECORD_ORPHANING) {
        freed = hazard_count(record, NULL) == 0;
        if (freed) {
            counted_free(header, word);
        } else {
            __atomic_store_n(&header->word, with_state(word, RECORD_ORPHANED), __ATOMIC_SEQ_CST);
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (freed) {
        block_release(header);
    }
}

void otel_thread_ctx_records_orphan(otel_thread_ctx_record *const *records, size_t count) {
    if (records == NULL) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        otel_thread_ctx_record_orphan_begin(records[i]);
    }
    if (!process_barrier()) {
        /* No barrier: the scan could miss a thread, so none of them is ever reused (leaked, FREED of this generation);
         * threads waiting for the scan stop waiting. */
        for (size_t i = 0; i < count; i++) {
            record_header *header = header_of(records[i]);
            uint64_t word = load_word(header);
            if (state_of(word) == RECORD_ORPHANING) {
                __atomic_store_n(&header->word, with_state(word, RECORD_FREED), __ATOMIC_SEQ_CST);
            }
        }
        return;
    }
    for (size_t i = 0; i < count; i++) {
        otel_thread_ctx_record_orphan_end(records[i]);
    }
}
