/*
 * otel_thread_ctx.c - the FFI layer: records and the calling thread's slot.
 *
 * Readers stop the thread and read memory, so ordering only has to hold against the
 * thread itself (signal-handler semantics): atomic_signal_fence keeps the compiler from
 * moving the writes, and relaxed atomic stores keep each pointer/flag write whole.
 */
#define _POSIX_C_SOURCE 200809L

#include "otel_thread_ctx.h"
#include "tls_shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

static inline void store_slot(otel_thread_ctx_record **slot, otel_thread_ctx_record *value) {
    __atomic_store_n(slot, value, __ATOMIC_RELAXED);
}

static inline void store_valid(otel_thread_ctx_record *record, uint8_t value) {
    __atomic_store_n(&record->valid, value, __ATOMIC_RELAXED);
}

/* Out of the readers' sight, before each record from record_new: who publishes it (counted attach). */
enum { RECORD_LIVE = 0, RECORD_DISPOSING = 1, RECORD_ORPHANED = 2, RECORD_FREED = 3 };

typedef struct record_header {
    otel_thread_ctx_record **owner; /* slot address of the creating thread: its identity while it lives */
    int32_t owner_attaches;         /* written by the owner thread only (relaxed atomic stores) */
    int32_t shared_attaches;        /* other threads: atomic read-modify-write */
    uint32_t state;                 /* RECORD_* */
    uint32_t reserved;
    uintptr_t user;                 /* the binding's value (relaxed atomic) */
} record_header;

_Static_assert(sizeof(record_header) % 8 == 0, "records stay 8-byte aligned after the header");

static inline record_header *header_of(const otel_thread_ctx_record *record) {
    return (record_header *)((uintptr_t)record - sizeof(record_header));
}

/* ---- Record blocks: a record_header, then the record; each thread keeps a few released blocks ---- */

#define BLOCK_SIZE (sizeof(record_header) + sizeof(otel_thread_ctx_record))
/* Released blocks a thread keeps for its next records (past that, free()). single/swap needs one. */
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

/* ---- The calling thread's state: its own pair of records and the counted record it publishes ---- */

typedef struct thread_state {
    otel_thread_ctx_record records[2];
    otel_thread_ctx_record **slot;    /* this thread's otel_thread_ctx_v1 */
    otel_thread_ctx_record *counted;  /* the counted record this thread published last, or NULL */
    uint32_t next;                    /* index of the own record that is not published */
    uint32_t pooled;                  /* blocks in pool */
    void *pool;                       /* released record blocks, never published: the next records of this thread */
} thread_state;

static pthread_key_t state_key;
static int state_key_ready; /* 1 once the key exists, -1 when it could not be made */
static pthread_once_t state_once = PTHREAD_ONCE_INIT;

static void thread_state_free(void *pointer);

static void thread_state_key_create(void) {
    state_key_ready = pthread_key_create(&state_key, thread_state_free) == 0 ? 1 : -1;
}

static thread_state *__attribute__((noinline)) thread_state_create(void **location) {
    pthread_once(&state_once, thread_state_key_create);
    if (state_key_ready != 1) {
        return NULL;
    }
    thread_state *state = aligned_alloc(64, (sizeof *state + 63) & ~(size_t)63);
    if (state == NULL) {
        return NULL;
    }
    memset(state, 0, sizeof *state);
    state->records[0].valid = 1;
    state->records[1].valid = 1;
    state->slot = otel_thread_ctx_shim_slot();
    if (pthread_setspecific(state_key, state) != 0) {
        free(state);
        return NULL;
    }
    *location = state;
    return state;
}

static inline thread_state *thread_state_get(void) {
    void **location = otel_thread_ctx_shim_state();
    thread_state *state = *location;
    return state != NULL ? state : thread_state_create(location);
}

/* A block nobody publishes or will touch again: kept for this thread's next record, or freed. Never creates the state
 * (a thread that is exiting, or never made one, frees at once). */
static void block_release(record_header *header) {
    __atomic_store_n(&header->user, 0, __ATOMIC_RELAXED);
    thread_state *state = *otel_thread_ctx_shim_state();
    if (state != NULL && state->pooled < POOL_CAPACITY) {
        memcpy(record_of(header)->trace_id, &state->pool, sizeof state->pool);
        state->pool = header;
        state->pooled++;
        return;
    }
    free(header);
}

otel_thread_ctx_record *otel_thread_ctx_record_new_user(uintptr_t user) {
    thread_state *state = thread_state_get();
    unsigned char *block;
    if (state != NULL && state->pool != NULL) {
        block = state->pool;
        state->pool = pool_next(block);
        state->pooled--;
    } else {
        block = malloc(BLOCK_SIZE);
        if (block == NULL) {
            return NULL;
        }
    }
    /* Only the header is cleared: attribute bytes past attrs_data_size are never read. The bookkeeping fields are
     * stored atomically because a late release on another thread may still look at a reused block (see try_free). */
    record_header *header = (record_header *)block;
    header->owner = state != NULL ? state->slot : otel_thread_ctx_shim_slot();
    __atomic_store_n(&header->owner_attaches, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&header->shared_attaches, 0, __ATOMIC_RELAXED);
    header->reserved = 0;
    __atomic_store_n(&header->user, user, __ATOMIC_RELAXED);
    __atomic_store_n(&header->state, RECORD_LIVE, __ATOMIC_RELAXED);
    otel_thread_ctx_record *record = record_of(block);
    memset(record, 0, OTEL_THREAD_CTX_HEADER_SIZE);
    record->valid = 1;
    return record;
}

otel_thread_ctx_record *otel_thread_ctx_record_new(void) {
    return otel_thread_ctx_record_new_user(0);
}

void otel_thread_ctx_record_free(otel_thread_ctx_record *record) {
    if (record != NULL) {
        record_header *header = header_of(record);
        __atomic_store_n(&header->state, RECORD_FREED, __ATOMIC_RELAXED);
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
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        memcpy(&word, source + i, 8);
        memcpy(destination + i, &word, 8);
    }
    for (; i < size; i++) {
        destination[i] = source[i];
    }
}

static void try_free(record_header *header) {
    if (__atomic_load_n(&header->shared_attaches, __ATOMIC_SEQ_CST) == 0
        && __atomic_load_n(&header->owner_attaches, __ATOMIC_SEQ_CST) == 0) {
        uint32_t expected = RECORD_ORPHANED;
        if (__atomic_compare_exchange_n(&header->state, &expected, RECORD_FREED, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            block_release(header);
        }
    }
}

/* One attach of `record` on the thread whose slot is `slot`. 0 when the record is not live. */
static inline int count_attach(otel_thread_ctx_record *record, otel_thread_ctx_record **slot) {
    record_header *header = header_of(record);
    if (header->owner == slot) {
        int32_t count = header->owner_attaches;
        __atomic_store_n(&header->owner_attaches, count + 1, __ATOMIC_RELAXED);
        /* A disposer on another thread marks first, then runs a process-wide barrier, then reads the
         * count: it sees this attach, or this load sees its mark. */
        FENCE();
        if (__atomic_load_n(&header->state, __ATOMIC_RELAXED) != RECORD_LIVE) {
            __atomic_store_n(&header->owner_attaches, count, __ATOMIC_RELAXED);
            return 0;
        }
        return 1;
    }
    __atomic_fetch_add(&header->shared_attaches, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&header->state, __ATOMIC_SEQ_CST) != RECORD_LIVE) {
        __atomic_fetch_sub(&header->shared_attaches, 1, __ATOMIC_SEQ_CST);
        return 0;
    }
    return 1;
}

/* The thread whose slot is `slot` stopped publishing `record`; frees an orphan at its last release. */
static inline void release_attach(otel_thread_ctx_record *record, otel_thread_ctx_record **slot) {
    record_header *header = header_of(record);
    if (header->owner == slot) {
        __atomic_store_n(&header->owner_attaches, header->owner_attaches - 1, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_sub(&header->shared_attaches, 1, __ATOMIC_SEQ_CST);
    }
    if (__atomic_load_n(&header->state, __ATOMIC_RELAXED) == RECORD_ORPHANED) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        try_free(header);
    }
}

/* The thread published something else: the counted record it published before is released. */
static inline uintptr_t release_counted(thread_state *state) {
    otel_thread_ctx_record *counted = state->counted;
    if (counted == NULL) {
        return 0;
    }
    state->counted = NULL;
    uintptr_t user = __atomic_load_n(&header_of(counted)->user, __ATOMIC_RELAXED);
    release_attach(counted, state->slot);
    return user;
}

static void thread_state_free(void *pointer) {
    thread_state *state = pointer;
    /* The thread is exiting: nothing of it is published any more, and what it counted is released. */
    store_slot(state->slot, NULL);
    FENCE();
    /* Forgotten first: what is released from here on is freed at once, and a later call on this thread (another
     * destructor) starts a fresh state instead of using this one. */
    *otel_thread_ctx_shim_state() = NULL;
    release_counted(state);
    void *block = state->pool;
    while (block != NULL) {
        void *next = pool_next(block);
        free(block);
        block = next;
    }
    free(state);
}

int otel_thread_ctx_set(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t trace_flags,
                        const uint8_t *attrs, size_t attrs_size) {
    if (attrs_size > OTEL_THREAD_CTX_ATTRS_CAPACITY || (attrs == NULL && attrs_size != 0)) {
        return -1;
    }
    thread_state *state = thread_state_get();
    if (state == NULL) {
        return -1;
    }
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
    release_counted(state);
    return 0;
}

int otel_thread_ctx_attach_counted(otel_thread_ctx_record *record, uintptr_t *previous_user) {
    if (record == NULL || previous_user == NULL) {
        return -1;
    }
    thread_state *state = thread_state_get();
    if (state == NULL) {
        return -2;
    }
    if (!count_attach(record, state->slot)) {
        return -1;
    }
    FENCE();
    store_slot(state->slot, record);
    FENCE();
    /* Counted before the previous one is released: attaching the record already published keeps it
     * counted once. */
    *previous_user = release_counted(state);
    state->counted = record;
    return 0;
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
    record_header *header = header_of(record);
    return __atomic_load_n(&header->owner_attaches, __ATOMIC_SEQ_CST)
           + __atomic_load_n(&header->shared_attaches, __ATOMIC_SEQ_CST);
}

int otel_thread_ctx_record_is_owner(const otel_thread_ctx_record *record) {
    return record != NULL && header_of(record)->owner == otel_thread_ctx_shim_slot();
}

int32_t otel_thread_ctx_record_dispose_begin(otel_thread_ctx_record *record) {
    record_header *header = header_of(record);
    uint32_t expected = RECORD_LIVE;
    if (!__atomic_compare_exchange_n(&header->state, &expected, RECORD_DISPOSING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        return -1;
    }
    int32_t shared = __atomic_load_n(&header->shared_attaches, __ATOMIC_SEQ_CST);
    if (shared > 0) {
        __atomic_store_n(&header->state, RECORD_LIVE, __ATOMIC_SEQ_CST);
        return shared;
    }
    return 0;
}

int32_t otel_thread_ctx_record_dispose_end(otel_thread_ctx_record *record) {
    record_header *header = header_of(record);
    if (__atomic_load_n(&header->owner_attaches, __ATOMIC_SEQ_CST) > 0) {
        __atomic_store_n(&header->state, RECORD_LIVE, __ATOMIC_SEQ_CST);
        return 1;
    }
    __atomic_store_n(&header->state, RECORD_FREED, __ATOMIC_SEQ_CST);
    block_release(header);
    return 0;
}

void otel_thread_ctx_record_orphan_begin(otel_thread_ctx_record *record) {
    record_header *header = header_of(record);
    __atomic_store_n(&header->user, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&header->state, RECORD_ORPHANED, __ATOMIC_SEQ_CST);
}

void otel_thread_ctx_record_orphan_end(otel_thread_ctx_record *record) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    try_free(header_of(record));
}
