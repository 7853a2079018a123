using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>Maps the value a native record carries (<c>user</c>) back to its <see cref="ThreadContextRecord"/>, so that
/// <see cref="ThreadContext.Attach"/> can return the record it replaced without any per-thread managed state; and frees
/// the native record of a <see cref="ThreadContextRecord"/> nobody disposed, without a finalizer per record.</summary>
/// <remarks>
/// <para>The library chooses the value (<c>otel_thread_ctx_record_new_bound</c>): the record's block id in the low 32 bits,
/// a generation that changes at every reuse of the block in the top 32. Blocks are never freed, only reused, so each block
/// id has one <see cref="Slot"/> here for good, at that index of the table: creating a record finds its slot with one
/// lookup, disposing it touches only the slot (no per-thread cache, no lock, no atomic operation). A value read just
/// before a release still names the block's slot, and the generation check (against the slot's copy, which a release
/// sets to 0) refuses it. The generation lives in the slot, not in the record: the record object is 32 bytes, the smallest
/// it can be with its handle and value (docs/performance.md, "Eighth step").</para>
/// <para>A slot holds its record strongly from <see cref="Register"/> until the first collection after it (or its release),
/// then through a weak <see cref="GCHandle"/>. Retargeting a weak handle is a runtime call that costs about as much as
/// allocating the record, and most records are disposed before any collection: they never pay it.</para>
/// <para>After every gen0 collection one finalizable sentinel (not one per record: a finalizable object costs several
/// times a plain one to allocate) walks the slots in use. A slot that still holds its record strongly gets its weak
/// handle pointed at the record and lets the strong reference go (the record was alive at that collection); a slot whose
/// weak handle the collector cleared lost its record without Dispose, and the sweep orphans its native record: the library
/// frees it at once, or when the last thread that publishes it stops. So a record nobody disposed is found by the second
/// collection after it became unreachable. The sweep moves a slot's state with compare-and-swap, <c>Dispose</c> with
/// release stores (no atomic operation on the hot path), and the two never both release it (see <see cref="Sweep"/> and
/// <see cref="Release"/>).</para>
/// </remarks>
internal static unsafe class RecordRegistry
{
    private const int GenerationShift = 32;
    private const ulong BlockIdMask = 0xFFFF_FFFF;

    private const int Free = 0;
    private const int Live = 1;
    private const int Sweeping = 2;

    /// <summary>Slot of each block id, at index id − 1: null until the first record, then grown under
    /// <see cref="Sync.Gate"/> by copying (a reader holding an older copy finds the slots it knows at the same places; an
    /// entry, once set, never changes).</summary>
    /// <remarks>No static field of this class has an initializer, so it has no static constructor: a NativeAOT executable
    /// checks a class's static constructor at each access to its statics, which the lookups of the constructor,
    /// <c>Attach</c> and <c>Dispose</c> paid for (docs/performance.md, "Ninth step").</remarks>
    private static Slot?[]? table;

    /// <summary>Slots in <see cref="table"/> (under <see cref="Sync.Gate"/>), and whether the sweeper runs.</summary>
    private static int count;

    /// <summary>The lock that grows <see cref="table"/> (only the slow paths touch it: a class of its own, so that its
    /// initializer does not give <see cref="RecordRegistry"/> a static constructor).</summary>
    private static class Sync
    {
        public static readonly object Gate = new();
    }

    /// <summary>One native record block, record after record.</summary>
    internal sealed class Slot(nint native)
    {
        /// <summary>The block's record (the same address for every record the block holds).</summary>
        public readonly nint Native = native;

        /// <summary>Targets the record once a sweep saw it alive (until then, <see cref="Strong"/> holds it). A long weak
        /// handle: a short one is cleared while the record is still reachable from an object waiting for finalization,
        /// whose finalizer may yet call <c>Dispose</c> (after the sweep orphaned the block and another record took it).</summary>
        public GCHandle Handle = GCHandle.Alloc(null, GCHandleType.WeakTrackResurrection);

        /// <summary>The record, from its registration until the first sweep after it, or its release.</summary>
        public ThreadContextRecord? Strong;

        /// <summary><see cref="Free"/>, <see cref="Live"/> or <see cref="Sweeping"/>.</summary>
        public int State;

        /// <summary>The generation (top half of the value) of the record registered here, 0 when none: a value resolves
        /// only while it matches. Cleared last by a release (or a sweep), and a registration waits for it.</summary>
        public uint Generation;

        /// <summary>The record now: held strongly, else through the weak handle (null once collected). The strong reference
        /// is read first, with acquire semantics: a sweep sets the handle before it drops the reference.</summary>
        /// <remarks>Inlined: ILC left it a call in <c>Attach</c> and <c>Detach</c> of a NativeAOT executable.</remarks>
        public ThreadContextRecord? Record
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => Volatile.Read(ref Strong) ?? Unsafe.As<ThreadContextRecord?>(Handle.Target);
        }
    }

    /// <summary>Registers <paramref name="record"/> as the user of the native record <paramref name="native"/>, which
    /// carries <paramref name="value"/> (from <c>otel_thread_ctx_record_new_bound</c>): from here on it resolves, and the
    /// sweep frees the native record if the record is lost. The state is stored last (a release store): a sweep that sees
    /// it live sees the record too.</summary>
    /// <remarks>The record does not keep its slot: the value finds it again (one table lookup costs less than the write
    /// barrier of a reference field, and the record stays at 32 bytes). The generation is stored after the reference and
    /// read before it (<see cref="RecordOf"/>): a value that matches it finds this record, or none once collected.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Register(ThreadContextRecord record, nint native, nuint value)
    {
        var slot = SlotOf(native, value);
        if (Volatile.Read(ref slot.Generation) != 0)
        {
            AwaitRelease(slot);
        }

        slot.Strong = record;
        Volatile.Write(ref slot.Generation, GenerationOf(value));
        Volatile.Write(ref slot.State, Live);
    }

    /// <summary>The block came back through another thread (the library's spare list: the disposing thread's pool was
    /// full, or the layer has no pools) whose Dispose freed it and has not released the slot yet (<see cref="Release"/>
    /// runs right after the native call, with nothing that can fail in between): wait for its last store, however long
    /// that thread stays preempted, sleeping when it is long. Bounded only at one second, so that a contract broken
    /// elsewhere (a block freed with no release) costs a stall, never a hang.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AwaitRelease(Slot slot)
    {
        var spin = new SpinWait();
        var until = Environment.TickCount64 + 1000;
        while (Volatile.Read(ref slot.Generation) != 0 && (spin.Count < 100 || Environment.TickCount64 < until))
        {
            spin.SpinOnce();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint GenerationOf(nuint value) => (uint)((ulong)value >> GenerationShift);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Slot SlotOf(nint native, nuint value)
    {
        var index = (long)((ulong)value & BlockIdMask) - 1;
        var slots = Volatile.Read(ref table);
        return slots is not null && (ulong)index < (ulong)slots.Length && slots[index] is { } slot && slot.Native == native
            ? slot
            : SlotOfLocked(native, index);
    }

    /// <summary>A block this registry has not seen (or a table this thread has not seen yet): made or found under the lock.</summary>
    private static Slot SlotOfLocked(nint native, long index)
    {
        if (index < 0 || index >= int.MaxValue)
        {
            throw new InvalidOperationException($"The native library gave a record block id out of range ({index + 1}).");
        }

        lock (Sync.Gate)
        {
            var slots = table ?? [];
            if (index < slots.Length && slots[index] is { } existing)
            {
                // One block per id, for good: another address means another library answered (a foreign build).
                return existing.Native == native
                    ? existing
                    : throw new InvalidOperationException("The native library reused a record block id for another block.");
            }

            if (count == 0)
            {
                Sweeper.Start();
            }

            if (index >= slots.Length)
            {
                var grown = new Slot?[Math.Max(Math.Max(64, slots.Length * 2), (int)Math.Min(int.MaxValue, index + 1))];
                Array.Copy(slots, grown, slots.Length);
                slots = grown;
            }

            var slot = new Slot(native);
            slots[index] = slot;
            count++;
            Volatile.Write(ref table, slots);
            return slot;
        }
    }

    /// <summary>The record behind <paramref name="value"/>, or null (none, released, or collected). Inlined into
    /// <c>Attach</c> and <c>Detach</c>: a call and its frame cost about as much as the lookup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ThreadContextRecord? Resolve(nuint value)
    {
        var index = (long)((ulong)value & BlockIdMask) - 1;
        var slots = Volatile.Read(ref table);
        if (slots is null || (ulong)index >= (ulong)slots.Length || slots[index] is not { } slot)
        {
            return index < 0 ? null : ResolveLocked(value, index);
        }

        return RecordOf(slot, value);
    }

    /// <summary>A slot made after the table this thread last saw: read under the lock that grew it.</summary>
    private static ThreadContextRecord? ResolveLocked(nuint value, long index)
    {
        Slot? slot;
        lock (Sync.Gate)
        {
            slot = table is { } slots && index < slots.Length ? slots[index] : null;
        }

        return slot is null ? null : RecordOf(slot, value);
    }

    /// <summary>The slot's record if <paramref name="value"/> is its current registration (same generation), else null.
    /// The record's own value is checked too: a slot read between a release and the next registration may still show the
    /// previous reference.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ThreadContextRecord? RecordOf(Slot slot, nuint value) =>
        Volatile.Read(ref slot.Generation) == GenerationOf(value) && slot.Record is { } record && record.UserValue == value ? record : null;

    /// <summary>The record (registered for <paramref name="native"/> with <paramref name="value"/>) was disposed: its values
    /// stop resolving; the slot waits for the block's next record. Called by the one Dispose the library let free the
    /// native record (<c>otel_thread_ctx_record_dispose_checked</c> refuses any other, and a late one), after it freed it:
    /// no other Dispose writes the slot, so plain release stores do, with no atomic operation.</summary>
    /// <remarks>The library returns a record's value only while a thread publishes it, or as the previous record of that
    /// thread's attach or clear, and a published record is not freed: so only a thread that got the value that way just
    /// before this Dispose can resolve it in between, and it then finds the record being disposed, as it could have a
    /// moment later (its own Dispose of it does nothing). The block may already be in another thread's hands (from the
    /// process's spare list); its registration waits for the generation stored last here (see <see cref="Register"/>).
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Release(ThreadContextRecord record, nint native, nuint value)
    {
        var slot = SlotOf(native, value);

        // Made while the record is surely reachable (it is used below): a sweep that took the slot meanwhile finds it
        // free when it tries to move it on (see Sweep). Release stores, in this order: a sweep that reads the reference
        // cleared (and the handle empty, as a slot's first record leaves it) then sees the state Free, and does not
        // orphan a record being disposed (with a plain store of the reference, the JIT or an arm64 core could make it
        // visible before the state: found by an independent review); the generation last, for the next registration.
        Volatile.Write(ref slot.State, Free);
        Volatile.Write(ref slot.Strong, null);
        Volatile.Write(ref slot.Generation, 0u);
        GC.KeepAlive(record);
    }

    /// <summary>Orphans the native records whose managed record was collected without Dispose; returns how many.</summary>
    internal static int Sweep()
    {
        List<nint>? lost = null;
        lock (Sync.Gate)
        {
            foreach (var slot in table ?? [])
            {
                if (slot is null || Volatile.Read(ref slot.State) != Live)
                {
                    continue;
                }

                // Alive at this collection and still held strongly: from now on through the weak handle. The handle first,
                // then the reference, unless the slot moved on to another record meanwhile (a release and a registration
                // store it without an atomic operation; a record is registered once, so its reference never comes back).
                if (Volatile.Read(ref slot.Strong) is { } strong)
                {
                    slot.Handle.Target = strong;
                    Interlocked.CompareExchange(ref slot.Strong, null, strong);
                    continue;
                }

                if (slot.Handle.Target is not null || Interlocked.CompareExchange(ref slot.State, Sweeping, Live) != Live)
                {
                    continue;
                }

                // Release stores Free without an atomic operation, so each move from Sweeping is a compare-and-swap that
                // fails if a release came in between. A record seen alive here goes back (unless it was released); so does
                // a slot that a release and a new registration moved on to another record since the first look (the new
                // record's reference was stored before its state, which the compare-and-swap above read).
                if (slot.Record is not null)
                {
                    Interlocked.CompareExchange(ref slot.State, Live, Sweeping);
                    continue;
                }

                // Unreachable now, so no release can come after this (a release stores Free while its record is still
                // reachable); one that came since the first look left Free, and then the slot is not this sweep's.
                if (Interlocked.CompareExchange(ref slot.State, Free, Sweeping) != Sweeping)
                {
                    continue;
                }

                slot.Generation = 0; // nothing can register here before the library has the block back (below)
                (lost ??= []).Add(slot.Native);
            }
        }

        if (lost is null)
        {
            return 0;
        }

        // One native call: orphaning marks, runs the process-wide barrier (creating threads' plain-store hazards become
        // visible) and scans, with nothing in between that a collection could stop. The slots are free already: the block
        // comes back to one of them when the library hands it out again.
        var natives = lost.ToArray();
        fixed (nint* records = natives)
        {
            NativeApi.RecordsOrphan(records, (nuint)natives.Length);
        }

        return natives.Length;
    }

    /// <summary>Finalized after the collection that finds it unreachable; each one sweeps and leaves a new one (gen0)
    /// for the next collection.</summary>
    private sealed class Sweeper
    {
        public static void Start() => _ = new Sweeper();

        ~Sweeper()
        {
            if (Environment.HasShutdownStarted)
            {
                return;
            }

            Sweep();
            Start();
        }
    }
}
