using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>Maps the value a native record carries (<c>user</c>) back to its <see cref="ThreadContextRecord"/>, so that
/// <see cref="ThreadContext.Attach"/> can return the record it replaced without any per-thread managed state; and frees
/// the native record of a <see cref="ThreadContextRecord"/> nobody disposed, without a finalizer per record.</summary>
/// <remarks>
/// <para>The value is a <see cref="Slot"/>'s index (plus one) in the slot table, with a 16-bit generation in the top bits.
/// Slots are never removed: a released one is reused with the next generation, so a value another thread read just before
/// the release still names a live slot, and the generation check (against the record's own copy, which a release sets to
/// 0) refuses it. Resolving is a few dependent loads: the table, the slot, the record.</para>
/// <para>A slot holds its record strongly from <see cref="Register"/> until the first collection after it (or its release),
/// then through a weak <see cref="GCHandle"/>. Retargeting a weak handle is a runtime call that costs about as much as
/// allocating the record, and most records are disposed before any collection: they never pay it. A released slot goes
/// to the releasing thread's cache (no lock, no atomic operation on the way in or out; the cache's owner returns it to the
/// shared list when the thread dies), past that to the shared list.</para>
/// <para>After every gen0 collection one finalizable sentinel (not one per record: a finalizable object costs several
/// times a plain one to allocate) walks the slots in use. A slot that still holds its record strongly gets its weak
/// handle pointed at the record and lets the strong reference go (the record was alive at that collection); a slot whose
/// weak handle the collector cleared lost its record without Dispose, and the sweep orphans its native record: the library
/// frees it at once, or when the last thread that publishes it stops. So a record nobody disposed is found by the second
/// collection after it became unreachable. The sweep moves a slot's state with compare-and-swap, <c>Dispose</c> with a
/// plain store (no atomic operation on the hot path), and the two never both release it (see <see cref="Sweep"/>).</para>
/// </remarks>
internal static unsafe class RecordRegistry
{
    private const int GenerationShift = 48;
    private const ulong IndexMask = (1UL << GenerationShift) - 1;
    private const int ThreadCacheCapacity = 16;

    private const int Free = 0;
    private const int Live = 1;
    private const int Sweeping = 2;

    private static readonly object Gate = new();
    private static readonly Stack<Slot> Shared = new();

    /// <summary>Every slot, by index (grown under <see cref="Gate"/> by copying; a reader holding an older copy finds the
    /// slots it knows at the same places).</summary>
    private static Slot[] table = new Slot[64];

    /// <summary>Slots in <see cref="table"/> (under <see cref="Gate"/>).</summary>
    private static int count;

    [ThreadStatic]
    private static SlotCache? cache;

    /// <summary>One entry of the table, reused record after record.</summary>
    internal sealed class Slot(int index)
    {
        public readonly int Index = index;

        /// <summary>Targets the record once a sweep saw it alive (until then, <see cref="Strong"/> holds it).</summary>
        public GCHandle Handle = GCHandle.Alloc(null, GCHandleType.Weak);

        /// <summary>The record, from its registration until the first sweep after it, or its release.</summary>
        public ThreadContextRecord? Strong;

        public ushort Generation;

        /// <summary>The native record while <see cref="State"/> is live (read by the sweep).</summary>
        public nint Native;

        /// <summary><see cref="Free"/>, <see cref="Live"/> or <see cref="Sweeping"/>.</summary>
        public int State;

        /// <summary>The value the native record carries.</summary>
        public nuint Value => (nuint)(((ulong)Generation << GenerationShift) | (uint)(Index + 1));

        /// <summary>The record now: held strongly, else through the weak handle (null once collected). The strong reference
        /// is read first, with acquire semantics: a sweep sets the handle before it drops the reference.</summary>
        public ThreadContextRecord? Record => Volatile.Read(ref Strong) ?? Unsafe.As<ThreadContextRecord?>(Handle.Target);
    }

    /// <summary>A thread's released slots; when the thread is gone, its finalizer hands them to the shared list.</summary>
    internal sealed class SlotCache
    {
        public readonly Slot[] Items = new Slot[ThreadCacheCapacity];
        public int Count;

        ~SlotCache()
        {
            lock (Gate)
            {
                for (var i = 0; i < Count; i++)
                {
                    Shared.Push(Items[i]);
                }
            }
        }
    }

    /// <summary>The calling thread's cache of released slots.</summary>
    private static SlotCache ThreadCache => cache ??= new SlotCache();

    /// <summary>A slot for <paramref name="record"/> (it now holds the record); the record keeps its generation.
    /// <see cref="Track"/> it once the native record exists.</summary>
    public static Slot Register(ThreadContextRecord record)
    {
        var slot = Take(ThreadCache);
        var generation = (ushort)(slot.Generation + 1);
        slot.Generation = generation == 0 ? (ushort)1 : generation;
        record.RegistrationGeneration = slot.Generation;
        slot.Strong = record;
        return slot;
    }

    /// <summary>The native record of a registered record: from here on the sweep frees it if the record is lost. The state
    /// is stored last (a release store): a sweep that sees it live sees the record and the native record too.</summary>
    public static void Track(Slot slot, nint native)
    {
        slot.Native = native;
        Volatile.Write(ref slot.State, Live);
    }

    /// <summary>The record behind <paramref name="value"/>, or null (none, released, or collected).</summary>
    public static ThreadContextRecord? Resolve(nuint value)
    {
        var index = (long)((ulong)value & IndexMask) - 1;
        var slots = Volatile.Read(ref table);
        if ((ulong)index >= (ulong)slots.Length || slots[index] is not { } slot)
        {
            return index < 0 ? null : ResolveLocked(value, index);
        }

        return slot.Record is { } record && record.RegistrationGeneration == (ushort)((ulong)value >> GenerationShift) ? record : null;
    }

    /// <summary>A slot made after the table this thread last saw: read under the lock that grew it.</summary>
    private static ThreadContextRecord? ResolveLocked(nuint value, long index)
    {
        Slot? slot;
        lock (Gate)
        {
            slot = index < count ? table[index] : null;
        }

        return slot?.Record is { } record && record.RegistrationGeneration == (ushort)((ulong)value >> GenerationShift) ? record : null;
    }

    /// <summary>The record was disposed (or never got its native record): its values stop resolving and the slot is
    /// reused.</summary>
    public static void Release(Slot slot, ThreadContextRecord record)
    {
        // A plain store, made while the record is surely reachable (it is used below): a sweep that took the slot meanwhile
        // finds it free when it tries to move it on (see Sweep).
        Volatile.Write(ref slot.State, Free);
        slot.Native = 0;
        slot.Strong = null;
        record.RegistrationGeneration = 0;
        GC.KeepAlive(record);
        var local = ThreadCache;
        if (local.Count < ThreadCacheCapacity)
        {
            local.Items[local.Count++] = slot;
            return;
        }

        lock (Gate)
        {
            Shared.Push(slot);
        }
    }

    private static Slot Take(SlotCache local)
    {
        if (local.Count > 0)
        {
            var slot = local.Items[--local.Count];
            local.Items[local.Count] = null!;
            return slot;
        }

        return TakeShared();
    }

    private static Slot TakeShared()
    {
        lock (Gate)
        {
            if (Shared.Count > 0)
            {
                return Shared.Pop();
            }

            if (count == 0)
            {
                Sweeper.Start();
            }

            var slot = new Slot(count);
            var slots = table;
            if (count == slots.Length)
            {
                slots = new Slot[count * 2];
                Array.Copy(table, slots, count);
            }

            slots[count++] = slot;
            Volatile.Write(ref table, slots);
            return slot;
        }
    }

    /// <summary>Orphans the native records whose managed record was collected without Dispose; returns how many.</summary>
    internal static int Sweep()
    {
        List<(Slot Slot, nint Native)>? lost = null;
        lock (Gate)
        {
            for (var i = 0; i < count; i++)
            {
                var slot = table[i];
                if (Volatile.Read(ref slot.State) != Live)
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

                (lost ??= []).Add((slot, slot.Native));
            }
        }

        if (lost is null)
        {
            return 0;
        }

        // One native call: orphaning marks, runs the process-wide barrier (creating threads' plain-store hazards become
        // visible) and scans, with nothing in between that a collection could stop.
        var natives = new nint[lost.Count];
        for (var i = 0; i < natives.Length; i++)
        {
            natives[i] = lost[i].Native;
        }

        fixed (nint* records = natives)
        {
            NativeApi.RecordsOrphan(records, (nuint)natives.Length);
        }

        foreach (var (slot, _) in lost)
        {
            slot.Native = 0;
        }

        lock (Gate)
        {
            foreach (var (slot, _) in lost)
            {
                Shared.Push(slot);
            }
        }

        return lost.Count;
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
