//! A Rust FFI layer over the OTEP 4947 TLS shim, with the whole C ABI of `native/include/otel_thread_ctx.h`: records,
//! attach/detach, in-place update, the thread's own double-buffered records (`otel_thread_ctx_set`) and counted shared
//! records — so the managed wrapper (OtelThreadCtx) loads it in place of the C layer.
//!
//! Stable rustc cannot choose the TLS dialect of a `#[thread_local]`, so the variable `otel_thread_ctx_v1` lives in
//! the C shim (`tls_shim.c`, TLSDESC) and this crate reaches it through the shim's accessor. Built with
//! `-Clinker-plugin-lto` and linked by an LLD that reads both rustc's and clang's bitcode, the accessor is inlined
//! into every function below: each holds the TLSDESC sequence itself, and the shim's symbol is gone.
//!
//! Writes follow the OTEP's signal-safety rules: only the owning thread writes its slot and the record attached to
//! it; readers run while the thread is stopped, so compiler fences (`compiler_fence`) order the writes and no CPU
//! barrier is needed.
#![no_std]

use core::ptr;
use core::sync::atomic::{compiler_fence, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

/// Whole record: 640 bytes, the eBPF profiler's read limit.
pub const RECORD_SIZE: usize = 640;
/// trace id, span id, valid, flags, attrs_data_size.
pub const HEADER_SIZE: usize = 28;
/// Bytes left for attribute entries.
pub const ATTRS_CAPACITY: usize = RECORD_SIZE - HEADER_SIZE;
/// Longest attribute value (the length is one byte).
pub const MAX_VALUE_LEN: usize = 255;

/// The byte layout a reader sees (host endianness, byte-packed, 8-byte aligned).
#[repr(C, align(8))]
pub struct Record {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub valid: u8,
    pub trace_flags: u8,
    pub attrs_data_size: u16,
    pub attrs_data: [u8; ATTRS_CAPACITY],
}

const _: () = assert!(core::mem::size_of::<Record>() == RECORD_SIZE);

/// Result of adding an attribute (`otel_thread_ctx_status`).
pub const OK: i32 = 0;
pub const TRUNCATED: i32 = 1;
pub const DROPPED: i32 = 2;
pub const INVALID: i32 = 3;

extern "C" {
    /// The shim's accessors (tls_shim.c): the calling thread's `otel_thread_ctx_v1`, and its private state pointer
    /// (same TLS dialect).
    fn otel_thread_ctx_shim_slot() -> *mut *mut Record;
    fn otel_thread_ctx_shim_state() -> *mut *mut core::ffi::c_void;
    fn aligned_alloc(alignment: usize, size: usize) -> *mut core::ffi::c_void;
    fn free(pointer: *mut core::ffi::c_void);
    fn pthread_once(once: *mut i32, init: extern "C" fn()) -> i32;
    fn pthread_key_create(key: *mut u32, destructor: Option<unsafe extern "C" fn(*mut core::ffi::c_void)>) -> i32;
    fn pthread_setspecific(key: u32, value: *const core::ffi::c_void) -> i32;
    fn pthread_getspecific(key: u32) -> *mut core::ffi::c_void;
}

#[inline(always)]
fn fence() {
    compiler_fence(Ordering::SeqCst);
}

#[inline(always)]
fn slot() -> *mut *mut Record {
    // SAFETY: the shim returns the calling thread's own TLS slot; it is valid for the thread's lifetime.
    unsafe { otel_thread_ctx_shim_slot() }
}

/// One whole pointer store into a slot (readers stop the thread; the store must not be torn or split).
#[inline(always)]
unsafe fn store_slot(slot: *mut *mut Record, value: *mut Record) {
    AtomicPtr::from_ptr(slot).store(value, Ordering::Relaxed);
}

#[inline(always)]
unsafe fn store_valid(record: *mut Record, value: u8) {
    AtomicU8::from_ptr(ptr::addr_of_mut!((*record).valid)).store(value, Ordering::Relaxed);
}

// ---- Records: a header out of the readers' sight before each one (who publishes it, for counted attach) ----

/// A block's word: its generation (bumped each time it is freed) above two bits of state. A thread that read a word
/// and acts on it later (a compare-and-swap) acts only on that use of the block, never on the next record it holds.
const LIVE: u64 = 0;
const DISPOSING: u64 = 1;
const ORPHANED: u64 = 2;
const FREED: u64 = 3;
const STATE_MASK: u64 = 3;

#[inline(always)]
fn state_of(word: u64) -> u64 {
    word & STATE_MASK
}

#[inline(always)]
fn with_state(word: u64, state: u64) -> u64 {
    (word & !STATE_MASK) | state
}

/// The word of a block freed from `word`'s use: the next generation.
#[inline(always)]
fn freed(word: u64) -> u64 {
    ((word >> 2).wrapping_add(1) << 2) | FREED
}

#[repr(C)]
struct Header {
    /// Slot address of the creating thread (`otel_thread_ctx_record_is_owner`); stored when the block is (re)used.
    owner: AtomicPtr<*mut Record>,
    /// Counted attaches not yet released, by every thread, a stale attach's passing +1 included: atomic
    /// read-modify-write only, and never reset when the block is reused. A thread holding a stale pointer may count on
    /// the block and take its count back after another thread reused it; a reset in between would let that -1 cancel a
    /// real attach of the next record, and a plain counter written by two threads loses updates the same way.
    attaches: AtomicI32,
    padding: u32,
    /// Generation and state (see `LIVE`).
    word: AtomicU64,
    /// The binding's value.
    user: AtomicUsize,
    /// This block's number, unique in the process and kept for the block's life (1, 2, …).
    id: u32,
    /// Counts the uses of the block by `otel_thread_ctx_record_new_bound` (its values differ from one use to the next).
    uses: u32,
}

const HEADER_SIZE_BYTES: usize = core::mem::size_of::<Header>();
const _: () = assert!(HEADER_SIZE_BYTES % 8 == 0);
const BLOCK_SIZE: usize = (HEADER_SIZE_BYTES + RECORD_SIZE + 63) & !63;

#[inline(always)]
unsafe fn header_of(record: *const Record) -> *mut Header {
    (record as *mut u8).sub(HEADER_SIZE_BYTES).cast()
}

/// A new zeroed, valid record carrying `user` (the binding's value), owned by the calling thread; NULL when memory is
/// exhausted.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_record_new_user(user: usize) -> *mut Record {
    // SAFETY: a released block (nobody publishes it) or a fresh one of BLOCK_SIZE bytes, 64-byte aligned; the header's
    // owner, user and state are stored atomically (a thread with a stale pointer may still read them), its count is left
    // as it is (such a thread takes back what it added), the record zeroed.
    unsafe {
        let mut block = spare_take();
        if block.is_null() {
            block = aligned_alloc(64, BLOCK_SIZE).cast::<u8>();
            if block.is_null() {
                return ptr::null_mut();
            }
            ptr::write_bytes(block, 0, HEADER_SIZE_BYTES);
            // Once per block ever made (blocks are reused, never freed): rare enough for an atomic operation.
            (*block.cast::<Header>()).id = LAST_BLOCK_ID.fetch_add(1, Ordering::Relaxed) + 1;
        }
        let header = block.cast::<Header>();
        let record = block.add(HEADER_SIZE_BYTES).cast::<Record>();
        ptr::write_bytes(record.cast::<u8>(), 0, RECORD_SIZE);
        (*header).owner.store(slot(), Ordering::Relaxed);
        (*header).user.store(user, Ordering::Relaxed);
        // A release: a stale attach that reads this LIVE reads this user value or a later one, never the last use's.
        // The generation was bumped when the block was freed (a fresh block's is 0).
        let word = (*header).word.load(Ordering::Relaxed);
        (*header).word.store(with_state(word, LIVE), Ordering::SeqCst);
        (*record).valid = 1;
        record
    }
}

/// Released record blocks, never returned to malloc: a thread holding a stale pointer (a binding racing Dispose) reads
/// or counts on a block that stays a record block, and sees it not live or not its user value. Linked through the
/// record's trace id bytes, under a spin lock (rare: every release and every creation, a few instructions inside).
static SPARE: AtomicUsize = AtomicUsize::new(0);
static SPARE_LOCK: AtomicI32 = AtomicI32::new(0);

fn spare_lock() {
    while SPARE_LOCK.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        core::hint::spin_loop();
    }
}

fn spare_unlock() {
    SPARE_LOCK.store(0, Ordering::Release);
}

/// Hands a block nobody publishes to the spare list.
unsafe fn block_release(header: *mut Header) {
    (*header).user.store(0, Ordering::Relaxed);
    let link = header.cast::<u8>().add(HEADER_SIZE_BYTES).cast::<usize>();
    spare_lock();
    link.write_unaligned(SPARE.load(Ordering::Relaxed));
    SPARE.store(header as usize, Ordering::Relaxed);
    spare_unlock();
}

unsafe fn spare_take() -> *mut u8 {
    if SPARE.load(Ordering::Relaxed) == 0 {
        return ptr::null_mut();
    }
    spare_lock();
    let block = SPARE.load(Ordering::Relaxed) as *mut u8;
    if !block.is_null() {
        SPARE.store(block.add(HEADER_SIZE_BYTES).cast::<usize>().read_unaligned(), Ordering::Relaxed);
    }
    spare_unlock();
    block
}

static LAST_BLOCK_ID: AtomicU32 = AtomicU32::new(0);

/// As `otel_thread_ctx_record_new_user`, with the value the library chooses stored in `*user`: the block id in the low
/// 32 bits, a use count from 1 to 2^32 - 1 in bits 32-63 (the C layer's contract, otel_thread_ctx.h). NULL and `*user = 0`
/// when memory is exhausted or `user` is NULL.
///
/// # Safety
/// `user` is NULL or points at a writable `usize`.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_new_bound(user: *mut usize) -> *mut Record {
    if user.is_null() {
        return ptr::null_mut();
    }
    let record = otel_thread_ctx_record_new_user(0);
    if record.is_null() {
        *user = 0;
        return record;
    }
    let header = header_of(record);
    // Only the creating thread touches `uses` (the block is not shared yet).
    (*header).uses = (*header).uses % 0xFFFF_FFFF + 1;
    let value = ((*header).uses as usize) << 32 | (*header).id as usize;
    (*header).user.store(value, Ordering::Relaxed);
    *user = value;
    record
}

/// A new zeroed record with `valid = 1`, or NULL when memory is exhausted.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_record_new() -> *mut Record {
    otel_thread_ctx_record_new_user(0)
}

/// Frees a record no thread publishes (plain attach only). NULL is ignored.
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new` and is attached nowhere.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_free(record: *mut Record) {
    if !record.is_null() {
        let header = header_of(record);
        (*header).word.store(freed((*header).word.load(Ordering::Relaxed)), Ordering::SeqCst);
        block_release(header_of(record));
    }
}

/// Writes the ids (NULL: zeros) and flags of a record that is not published (or inside an update bracket).
///
/// # Safety
/// `record` is a record or NULL; `trace_id` points at 16 bytes or is NULL, `span_id` at 8 or NULL.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_set_ids(record: *mut Record, trace_id: *const u8, span_id: *const u8, trace_flags: u8) {
    if record.is_null() {
        return;
    }
    if trace_id.is_null() {
        (*record).trace_id = [0; 16];
    } else {
        ptr::copy_nonoverlapping(trace_id, (*record).trace_id.as_mut_ptr(), 16);
    }
    if span_id.is_null() {
        (*record).span_id = [0; 8];
    } else {
        ptr::copy_nonoverlapping(span_id, (*record).span_id.as_mut_ptr(), 8);
    }
    (*record).trace_flags = trace_flags;
}

/// Empties a record's attributes.
///
/// # Safety
/// `record` is a record that is not published (or inside an update bracket), or NULL.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_clear_attrs(record: *mut Record) {
    if !record.is_null() {
        (*record).attrs_data_size = 0;
    }
}

/// Appends `key_index, length, value`; a value over 255 bytes is cut (TRUNCATED); an entry that no longer fits is
/// not written (DROPPED).
///
/// # Safety
/// `record` is a record that is not published (or inside an update bracket); `value` points at `length` bytes.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_add_attr(record: *mut Record, key_index: u8, value: *const u8, length: usize) -> i32 {
    if record.is_null() || (value.is_null() && length != 0) {
        return INVALID;
    }
    let (length, status) = if length > MAX_VALUE_LEN { (MAX_VALUE_LEN, TRUNCATED) } else { (length, OK) };
    let used = (*record).attrs_data_size as usize;
    if used > ATTRS_CAPACITY || 2 + length > ATTRS_CAPACITY - used {
        return DROPPED;
    }
    let entry = (*record).attrs_data.as_mut_ptr().add(used);
    *entry = key_index;
    *entry.add(1) = length as u8;
    if length != 0 {
        ptr::copy_nonoverlapping(value, entry.add(2), length);
    }
    // The entry is complete before the size that makes it visible grows.
    fence();
    (*record).attrs_data_size = (used + 2 + length) as u16;
    status
}

/// Publishes `record` (NULL: nothing) in the calling thread's slot; returns what was there.
#[inline(always)]
unsafe fn swap_slot(record: *mut Record) -> *mut Record {
    let slot = slot();
    let previous = *slot;
    // Every write to the record happens before the pointer that publishes it.
    fence();
    store_slot(slot, record);
    fence();
    previous
}

/// Publishes `record` (complete, `valid = 1`) on the calling thread; returns the record published before.
///
/// # Safety
/// `record` is a complete record, or NULL to publish nothing.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_attach(record: *mut Record) -> *mut Record {
    swap_slot(record)
}

/// Publishes nothing on the calling thread; returns the record published before.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_detach() -> *mut Record {
    // SAFETY: the calling thread's own slot.
    unsafe { swap_slot(ptr::null_mut()) }
}

/// The record the calling thread publishes, or NULL.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_current() -> *mut Record {
    // SAFETY: the calling thread's own slot.
    unsafe { *slot() }
}

/// Marks the attached record invalid for an in-place edit and returns it (NULL when none is attached).
#[no_mangle]
pub extern "C" fn otel_thread_ctx_update_begin() -> *mut Record {
    // SAFETY: the calling thread's own slot and record.
    unsafe {
        let record = *slot();
        if !record.is_null() {
            store_valid(record, 0);
            fence();
        }
        record
    }
}

/// Marks the attached record valid again after an in-place edit.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_update_end() {
    // SAFETY: the calling thread's own slot and record.
    unsafe {
        let record = *slot();
        if !record.is_null() {
            fence();
            store_valid(record, 1);
            fence();
        }
    }
}

/// New ids on the attached record, inside the valid bracket. Returns 0, or -1 when no record is attached.
///
/// # Safety
/// `trace_id` points at 16 bytes and `span_id` at 8 (or NULL: zeros).
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_update_ids(trace_id: *const u8, span_id: *const u8, trace_flags: u8) -> i32 {
    let record = *slot();
    if record.is_null() {
        return -1;
    }
    store_valid(record, 0);
    fence();
    otel_thread_ctx_record_set_ids(record, trace_id, span_id, trace_flags);
    fence();
    store_valid(record, 1);
    fence();
    0
}

/// Copies what a reader would see now (header + used attribute bytes); returns the bytes copied, 0 when nothing is
/// attached or `capacity` is below the header.
///
/// # Safety
/// `buffer` points at `capacity` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_read_current(buffer: *mut u8, capacity: usize) -> usize {
    let record = *slot();
    if record.is_null() || buffer.is_null() || capacity < HEADER_SIZE {
        return 0;
    }
    let used = ((*record).attrs_data_size as usize).min(ATTRS_CAPACITY);
    let length = (HEADER_SIZE + used).min(capacity);
    ptr::copy_nonoverlapping(record.cast::<u8>(), buffer, length);
    length
}

// ---- The calling thread's state: its own pair of records and the counted record it publishes ----

#[repr(C, align(64))]
struct ThreadState {
    records: [Record; 2],
    /// This thread's `otel_thread_ctx_v1`.
    slot: *mut *mut Record,
    /// The counted record this thread published last, or NULL.
    counted: *mut Record,
    /// Index of the own record that is not published.
    next: u32,
}

static mut STATE_ONCE: i32 = 0; // pthread_once_t (glibc: int)
static STATE_KEY: AtomicU32 = AtomicU32::new(0);
static STATE_KEY_READY: AtomicI32 = AtomicI32::new(0); // 1 once the key exists, -1 when it could not be made

/// Frees the orphan whose word read `seen` (ORPHANED) if no thread counts on it: the compare-and-swap fails if that use
/// of the block ended meanwhile (freed by another thread, then maybe reused and published), so the count read before
/// it was that use's.
unsafe fn try_free(header: *mut Header, seen: u64) {
    if (*header).attaches.load(Ordering::SeqCst) == 0
        && (*header).word.compare_exchange(seen, freed(seen), Ordering::SeqCst, Ordering::SeqCst).is_ok()
    {
        block_release(header);
    }
}

/// One attach of `record`; false when the record is not live. Counted first, then the state read, both sequentially
/// consistent: a Dispose or an orphaning marks the state, then reads the count, so either it sees this attach or this
/// load sees its mark.
#[inline(always)]
unsafe fn count_attach(record: *mut Record) -> bool {
    let header = header_of(record);
    (*header).attaches.fetch_add(1, Ordering::SeqCst);
    if state_of((*header).word.load(Ordering::SeqCst)) != LIVE {
        // Taken back the way every count is, so that an orphan that this passing count kept from being freed is freed.
        release_attach(record);
        return false;
    }
    true
}

/// A count on `record` taken back (the thread stopped publishing it, or was refused); frees an orphan at the last one.
#[inline(always)]
unsafe fn release_attach(record: *mut Record) {
    let header = header_of(record);
    (*header).attaches.fetch_sub(1, Ordering::SeqCst);
    let word = (*header).word.load(Ordering::SeqCst);
    if state_of(word) == ORPHANED {
        try_free(header, word);
    }
}

/// The thread published something else: the counted record it published before is released; returns its user value.
#[inline(always)]
unsafe fn release_counted(state: *mut ThreadState) -> usize {
    let counted = (*state).counted;
    if counted.is_null() {
        return 0;
    }
    (*state).counted = ptr::null_mut();
    let user = (*header_of(counted)).user.load(Ordering::Relaxed);
    release_attach(counted);
    user
}

/// The key's value on a thread whose state was freed at its exit: no state is made for it again (as in the C layer). A
/// destructor that runs after this one (another key's, in a later round) would otherwise make a state that glibc, which
/// stops after PTHREAD_DESTRUCTOR_ITERATIONS rounds, might never free, and a record it counted could never be disposed.
static STATE_EXITED_MARK: u8 = 0;

fn state_exited() -> *mut core::ffi::c_void {
    ptr::addr_of!(STATE_EXITED_MARK).cast_mut().cast()
}

unsafe extern "C" fn thread_state_free(pointer: *mut core::ffi::c_void) {
    let key = STATE_KEY.load(Ordering::SeqCst);
    if pointer == state_exited() {
        // A later round of destructors: the mark stays for the rounds after it (glibc clears a value before the call).
        pthread_setspecific(key, state_exited());
        return;
    }
    let state = pointer.cast::<ThreadState>();
    // The thread is exiting: nothing of it is published any more, and what it counted is released.
    store_slot((*state).slot, ptr::null_mut());
    fence();
    // Forgotten before it is freed: a later call on this thread (another destructor) gets no state, not the freed one.
    *otel_thread_ctx_shim_state() = ptr::null_mut();
    pthread_setspecific(key, state_exited());
    release_counted(state);
    free(pointer);
}

extern "C" fn thread_state_key_create() {
    let mut key = 0u32;
    // SAFETY: pthread_key_create writes the key; the destructor takes what pthread_setspecific stored.
    let ok = unsafe { pthread_key_create(&mut key, Some(thread_state_free)) } == 0;
    STATE_KEY.store(key, Ordering::SeqCst);
    STATE_KEY_READY.store(if ok { 1 } else { -1 }, Ordering::SeqCst);
}

#[cold]
#[inline(never)]
unsafe fn thread_state_create(location: *mut *mut core::ffi::c_void) -> *mut ThreadState {
    pthread_once(ptr::addr_of_mut!(STATE_ONCE), thread_state_key_create);
    if STATE_KEY_READY.load(Ordering::SeqCst) != 1 || pthread_getspecific(STATE_KEY.load(Ordering::SeqCst)) == state_exited() {
        return ptr::null_mut();
    }
    let size = (core::mem::size_of::<ThreadState>() + 63) & !63;
    let state = aligned_alloc(64, size).cast::<ThreadState>();
    if state.is_null() {
        return ptr::null_mut();
    }
    ptr::write_bytes(state.cast::<u8>(), 0, core::mem::size_of::<ThreadState>());
    (*state).records[0].valid = 1;
    (*state).records[1].valid = 1;
    (*state).slot = slot();
    if pthread_setspecific(STATE_KEY.load(Ordering::SeqCst), state.cast()) != 0 {
        free(state.cast());
        return ptr::null_mut();
    }
    *location = state.cast();
    state
}

#[inline(always)]
unsafe fn thread_state_get() -> *mut ThreadState {
    let location = otel_thread_ctx_shim_state();
    let state = (*location).cast::<ThreadState>();
    if state.is_null() {
        thread_state_create(location)
    } else {
        state
    }
}

/// The fast path: writes the thread's unpublished own record (ids, flags, a pre-encoded attribute block) and publishes
/// it with one slot store; releases a counted record published before. Returns 0, or -1 (nothing changed) when the
/// block is too large or memory is exhausted.
///
/// # Safety
/// `trace_id` points at 16 bytes, `span_id` at 8 (or NULL: zeros); `attrs` at `attrs_size` bytes (NULL when 0).
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_set(trace_id: *const u8, span_id: *const u8, trace_flags: u8, attrs: *const u8, attrs_size: usize) -> i32 {
    if attrs_size > ATTRS_CAPACITY || (attrs.is_null() && attrs_size != 0) {
        return -1;
    }
    let state = thread_state_get();
    if state.is_null() {
        return -1;
    }
    let index = ((*state).next & 1) as usize;
    // Not published: no reader can see these writes until the slot store below.
    let record = ptr::addr_of_mut!((*state).records[index]);
    otel_thread_ctx_record_set_ids(record, trace_id, span_id, trace_flags);
    if attrs_size != 0 {
        ptr::copy_nonoverlapping(attrs, (*record).attrs_data.as_mut_ptr(), attrs_size);
    }
    (*record).attrs_data_size = attrs_size as u16;
    fence();
    store_slot((*state).slot, record);
    fence();
    (*state).next = (index ^ 1) as u32;
    release_counted(state);
    0
}

/// Publishes a counted record: counted before the previous one is released (attaching the record already published
/// keeps it counted once). Returns 0 (and the previous counted record's user value), -1 when the record is not live
/// (or NULL), -2 when memory is exhausted.
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new_user`; `previous_user` points at a writable word.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_attach_counted(record: *mut Record, previous_user: *mut usize) -> i32 {
    if record.is_null() || previous_user.is_null() {
        return -1;
    }
    let state = thread_state_get();
    if state.is_null() {
        return -2;
    }
    if !count_attach(record) {
        return -1;
    }
    fence();
    store_slot((*state).slot, record);
    fence();
    *previous_user = release_counted(state);
    (*state).counted = record;
    0
}

/// As `otel_thread_ctx_attach_counted`, and -1 (nothing changed) unless the record's user value is `expected_user`.
///
/// # Safety
/// As `otel_thread_ctx_attach_counted`.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_attach_counted_checked(record: *mut Record, expected_user: usize, previous_user: *mut usize) -> i32 {
    if record.is_null() || previous_user.is_null() {
        return -1;
    }
    let state = thread_state_get();
    if state.is_null() {
        return -2;
    }
    // A stale pointer to a block reused meanwhile: refused before it is counted.
    if (*header_of(record)).user.load(Ordering::Relaxed) != expected_user {
        return -1;
    }
    if !count_attach(record) {
        return -1;
    }
    // Counted first, so that a Dispose racing this sees the attach; then the record must still be the expected one.
    if (*header_of(record)).user.load(Ordering::SeqCst) != expected_user {
        release_attach(record);
        return -1;
    }
    fence();
    store_slot((*state).slot, record);
    fence();
    *previous_user = release_counted(state);
    (*state).counted = record;
    0
}

/// Publishes nothing; releases the counted record published before and returns its user value (0 if none).
#[no_mangle]
pub extern "C" fn otel_thread_ctx_clear() -> usize {
    // SAFETY: the calling thread's own state and slot.
    unsafe {
        let state = (*otel_thread_ctx_shim_state()).cast::<ThreadState>();
        if state.is_null() {
            swap_slot(ptr::null_mut());
            return 0;
        }
        // One TLS access: the state knows the slot.
        fence();
        store_slot((*state).slot, ptr::null_mut());
        fence();
        release_counted(state)
    }
}

/// The user value of the counted record the calling thread publishes now, or 0.
#[no_mangle]
pub extern "C" fn otel_thread_ctx_current_user() -> usize {
    // SAFETY: the calling thread's own state and slot.
    unsafe {
        let state = (*otel_thread_ctx_shim_state()).cast::<ThreadState>();
        if state.is_null() || (*state).counted.is_null() || *(*state).slot != (*state).counted {
            return 0;
        }
        (*header_of((*state).counted)).user.load(Ordering::Relaxed)
    }
}

/// How many threads publish the counted record now (a stale attach being refused may add one for an instant).
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new_user`, or is NULL.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_attach_count(record: *const Record) -> i32 {
    if record.is_null() {
        return 0;
    }
    (*header_of(record)).attaches.load(Ordering::SeqCst)
}

/// 1 when the calling thread created the record.
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new_user`, or is NULL.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_is_owner(record: *const Record) -> i32 {
    (!record.is_null() && (*header_of(record)).owner.load(Ordering::Relaxed) == slot()) as i32
}

/// Whether the calling thread publishes `record` as its counted record (one of the record's counts is then its own).
unsafe fn publishes_it(record: *const Record) -> bool {
    let state = (*otel_thread_ctx_shim_state()).cast::<ThreadState>();
    !state.is_null() && ptr::eq((*state).counted, record)
}

/// Starts disposing: -1 when not live, the count of other threads publishing it (and it stays live) when any, else 0
/// (marked disposing: every attach from here on is refused; `dispose_end` frees it).
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new_user`.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_dispose_begin(record: *mut Record) -> i32 {
    dispose_begin_use(record, 0)
}

/// `dispose_begin` for the use whose user value is `user` (0: the one the block holds): -1 when the block holds another.
/// The user value is read between the load of the word and the compare-and-swap of that word, which fails if the block
/// was released (and maybe reused) meanwhile.
unsafe fn dispose_begin_use(record: *mut Record, user: usize) -> i32 {
    let header = header_of(record);
    let word = (*header).word.load(Ordering::SeqCst);
    if state_of(word) != LIVE
        || (user != 0 && (*header).user.load(Ordering::SeqCst) != user)
        || (*header).word.compare_exchange(word, with_state(word, DISPOSING), Ordering::SeqCst, Ordering::SeqCst).is_err()
    {
        return -1;
    }
    // After the mark, sequentially consistent (see count_attach): every attach that this count misses sees the mark.
    let others = (*header).attaches.load(Ordering::SeqCst) - publishes_it(record) as i32;
    if others > 0 {
        (*header).word.store(word, Ordering::SeqCst);
        return others;
    }
    0
}

/// Ends disposing: 1 (live again) when the calling thread still publishes it, else 0 (freed).
///
/// # Safety
/// `record` is being disposed (`dispose_begin` returned 0 on this thread).
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_dispose_end(record: *mut Record) -> i32 {
    let header = header_of(record);
    let word = (*header).word.load(Ordering::SeqCst);
    if publishes_it(record) {
        (*header).word.store(with_state(word, LIVE), Ordering::SeqCst);
        return 1;
    }
    (*header).word.store(freed(word), Ordering::SeqCst);
    block_release(header);
    0
}

/// Disposes in one call: 0 freed, the number of threads publishing it when refused, -1 when not live. Every count is
/// atomic, so no process-wide barrier is needed (the C layer's attach makes no atomic operation and pays one here).
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new_user`.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_dispose(record: *mut Record) -> i32 {
    if record.is_null() {
        return -1;
    }
    let others = otel_thread_ctx_record_dispose_begin(record);
    if others != 0 {
        return others;
    }
    otel_thread_ctx_record_dispose_end(record)
}

/// As `otel_thread_ctx_record_dispose`, for the use whose user value is `user` (not 0): also -1, with nothing changed,
/// when the block no longer holds that use (disposed, and maybe reused for another record).
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new_user` or `_new_bound`.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_dispose_checked(record: *mut Record, user: usize) -> i32 {
    if record.is_null() || user == 0 {
        return -1;
    }
    let others = dispose_begin_use(record, user);
    if others != 0 {
        return others;
    }
    otel_thread_ctx_record_dispose_end(record)
}

/// Orphans a record whose binding is gone: the last thread to stop publishing it frees it.
///
/// # Safety
/// `record` comes from `otel_thread_ctx_record_new_user`.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_orphan_begin(record: *mut Record) {
    let header = header_of(record);
    // Only a live record: one disposed, freed or being disposed is left as it is (orphaning takes the place of
    // Dispose; a binding that broke that must not get the block freed twice).
    let word = (*header).word.load(Ordering::SeqCst);
    if state_of(word) != LIVE {
        return;
    }
    (*header).user.store(0, Ordering::SeqCst);
    let _ = (*header).word.compare_exchange(word, with_state(word, ORPHANED), Ordering::SeqCst, Ordering::SeqCst);
}

/// Frees the orphan if no thread publishes it (the counts are atomic: the caller's barrier is not needed here).
///
/// # Safety
/// `record` was orphaned by `orphan_begin`.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_record_orphan_end(record: *mut Record) {
    // The word as it is now: an orphan of a later use (freed by its last publisher, reused, orphaned again) that nobody
    // counts on is freed too, which is what its own end would do.
    let header = header_of(record);
    let word = (*header).word.load(Ordering::SeqCst);
    if state_of(word) == ORPHANED {
        try_free(header, word);
    }
}

/// Orphans many records in one call (see the header).
///
/// # Safety
/// `records` points at `count` records from `otel_thread_ctx_record_new_user`, or is NULL.
#[no_mangle]
pub unsafe extern "C" fn otel_thread_ctx_records_orphan(records: *const *mut Record, count: usize) {
    if records.is_null() {
        return;
    }
    for i in 0..count {
        otel_thread_ctx_record_orphan_begin(*records.add(i));
        otel_thread_ctx_record_orphan_end(*records.add(i));
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Nothing here can panic (no indexing, no arithmetic overflow checks in release); abort if it ever does.
    extern "C" {
        fn abort() -> !;
    }
    // SAFETY: libc's abort never returns.
    unsafe { abort() }
}
