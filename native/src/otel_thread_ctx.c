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

otel_thread_ctx_record *otel_thread_ctx_record_new(void) {
    otel_thread_ctx_record *record = aligned_alloc(8, sizeof *record);
    if (record == NULL) {
        return NULL;
    }
    memset(record, 0, sizeof *record);
    record->valid = 1;
    return record;
}

void otel_thread_ctx_record_free(otel_thread_ctx_record *record) {
    free(record);
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

/* Thread-owned records: one pthread key whose destructor clears the slot and frees the pair. */
static pthread_key_t thread_records_key;
static int thread_records_key_ready; /* 1 once the key exists, -1 when it could not be made */
static pthread_once_t thread_records_once = PTHREAD_ONCE_INIT;

static void thread_records_free(void *pair) {
    /* The thread is exiting: nothing of it is published any more, whichever record was. */
    store_slot(otel_thread_ctx_shim_slot(), NULL);
    FENCE();
    free(pair);
}

static void thread_records_key_create(void) {
    thread_records_key_ready = pthread_key_create(&thread_records_key, thread_records_free) == 0 ? 1 : -1;
}

otel_thread_ctx_thread_records *otel_thread_ctx_thread_records_get(void) {
    pthread_once(&thread_records_once, thread_records_key_create);
    if (thread_records_key_ready != 1) {
        return NULL;
    }
    otel_thread_ctx_thread_records *own = pthread_getspecific(thread_records_key);
    if (own != NULL) {
        return own;
    }
    own = aligned_alloc(_Alignof(otel_thread_ctx_thread_records), sizeof *own);
    if (own == NULL) {
        return NULL;
    }
    memset(own, 0, sizeof *own);
    own->records[0].valid = 1;
    own->records[1].valid = 1;
    if (pthread_setspecific(thread_records_key, own) != 0) {
        free(own);
        return NULL;
    }
    return own;
}

int otel_thread_ctx_set(otel_thread_ctx_thread_records *own, const uint8_t trace_id[16],
                        const uint8_t span_id[8], uint8_t trace_flags, const uint8_t *attrs,
                        size_t attrs_size) {
    if (own == NULL || attrs_size > OTEL_THREAD_CTX_ATTRS_CAPACITY || (attrs == NULL && attrs_size != 0)) {
        return -1;
    }
    uint32_t index = own->next & 1u;
    /* Not published: no reader can see these writes until the attach below. */
    otel_thread_ctx_record *record = &own->records[index];
    otel_thread_ctx_record_set_ids(record, trace_id, span_id, trace_flags);
    if (attrs_size != 0) {
        memcpy(record->attrs_data, attrs, attrs_size);
    }
    record->attrs_data_size = (uint16_t)attrs_size;
    swap_slot(record);
    own->next = index ^ 1u;
    return 0;
}
