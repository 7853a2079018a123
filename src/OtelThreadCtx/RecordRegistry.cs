using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>Maps the value a native record carries (<c>user</c>) back to its <see cref="ThreadContextRecord"/>, so that
/// <see cref="ThreadContext.Attach"/> can return the record it replaced without any per-thread managed state; and frees
/// the native record of a <see cref="ThreadContextRecord"/> nobody disposed, without a finalizer per record.</summary>
/// <remarks>
/// <para>The value is a weak <see cref="GCHandle"/>'s address with a 16-bit generation in the top bits (x64 and arm64
/// user-space addresses use the low 48). Handles are never freed: a released one is reused with the next generation, so
/// a value another thread read just before the release still points at a live handle, and the generation check (against
/// the record's own copy, which a release sets to 0) refuses it. Resolving is two dependent loads: the handle, then the
/// record.</para>
/// <para>Each handle lives in a <see cref="Slot"/> that also holds the native record while it is in use. A released slot
/// goes to the releasing thread's cache (no lock, no atomic operation on the way in or out; the cache's owner returns
/// it to the shared list when the thread dies), past that to the shared list.</para>
/// <para>A record that became unreachable without <c>Dispose</c> has its weak handle cleared by the GC. After every
/// gen0 collection one finalizable sentinel (not one per record: a finalizable object costs several times a plain one
/// to allocate) walks the slots in use and orphans the native records of cleared ones: the library frees each at once,
/// or when the last thread that publishes it stops. The sweep moves a slot's state with compare-and-swap, <c>Dispose</c>
/// with a plain store (no atomic operation on the hot path), and the two never both release it (see <see cref="Sweep"/>).</para>
/// </remarks>
internal static unsafe class RecordRegistry
{
    private const int GenerationShift = 48;
    private const ulong AddressMask = (1UL << GenerationShift) - 1;
    private const int ThreadCacheCapacity = 16;

    private const int Free = 0;
    private const int Live = 1;
    private const int Sweeping = 2;

    private static readonly object Gate = new();
    private static readonly Stack<Slot> Shared = new();
    private static readonly List<Slot> All = [];

    [ThreadStatic]
    private static SlotCache? cache;

    /// <summary>One weak handle, reused record after record.</summary>
    internal sealed class Slot
    {
        public GCHandle Handle = GCHandle.Alloc(null, GCHandleType.Weak);
        public ushort Generation;

        /// <summary>The native record while <see cref="State"/> is live (read by the sweep).</summary>
        public nint Native;

        /// <summary><see cref="Free"/>, <see cref="Live"/> or <see cref="Sweeping"/>.</summary>
        public int State;

        /// <summary>The value the native record carries.</summary>
        public nuint Value => (nuint)(((ulong)Generation << GenerationShift) | ((ulong)GCHandle.ToIntPtr(Handle) & AddressMask));
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

    /// <summary>An object unique to the calling thread while it lives (its slot cache): a record created here keeps it,
    /// so that Dispose knows without a native call whether it runs on the creating thread.</summary>
    public static SlotCache ThreadToken => cache ??= new SlotCache();

    /// <summary>A slot for <paramref name="record"/> (its handle now targets the record); the record keeps its generation.
    /// <see cref="Track"/> it once the native record exists.</summary>
    public static Slot Register(ThreadContextRecord record, out SlotCache thread)
    {
        thread = ThreadToken;
        var slot = Take(thread);
        var generation = (ushort)(slot.Generation + 1);
        slot.Generation = generation == 0 ? (ushort)1 : generation;
        record.RegistrationGeneration = slot.Generation;
        slot.Handle.Target = record;
        return slot;
    }

    /// <summary>The native record of a registered record: from here on the sweep frees it if the record is lost.</summary>
    public static void Track(Slot slot, nint native)
    {
        slot.Native = native;
        Volatile.Write(ref slot.State, Live);
    }

    /// <summary>The record behind <paramref name="value"/>, or null (none, released, or collected).</summary>
    public static ThreadContextRecord? Resolve(nuint value)
    {
        var address = (nint)(long)((ulong)value & AddressMask);
        if (address == 0)
        {
            return null;
        }

        return GCHandle.FromIntPtr(address).Target is ThreadContextRecord record
               && record.RegistrationGeneration == (ushort)((ulong)value >> GenerationShift)
            ? record
            : null;
    }

    /// <summary>The record was disposed (or never got its native record): its values stop resolving and the slot is
    /// reused.</summary>
    public static void Release(Slot slot, ThreadContextRecord record) => Release(slot, record, ThreadToken);

    /// <summary>As above, with the calling thread's <see cref="ThreadToken"/> already in hand (one thread-static read
    /// per Dispose: they cost several nanoseconds each).</summary>
    public static void Release(Slot slot, ThreadContextRecord record, SlotCache thread)
    {
        // A plain store, made while the record is surely reachable (it is used below): a sweep that took the slot meanwhile
        // finds it free when it tries to move it on (see Sweep).
        Volatile.Write(ref slot.State, Free);
        slot.Native = 0;
        record.RegistrationGeneration = 0;
        GC.KeepAlive(record);
        var local = thread;
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

            var slot = new Slot();
            if (All.Count == 0)
            {
                Sweeper.Start();
            }

            All.Add(slot);
            return slot;
        }
    }

    /// <summary>Orphans the native records whose managed record was collected without Dispose; returns how many.</summary>
    internal static int Sweep()
    {
        List<(Slot Slot, nint Native)>? lost = null;
        lock (Gate)
        {
            foreach (var slot in All)
            {
                if (Volatile.Read(ref slot.State) != Live || slot.Handle.Target is not null
                    || Interlocked.CompareExchange(ref slot.State, Sweeping, Live) != Live)
                {
                    continue;
                }

                // Release stores Free without an atomic operation, so each move from Sweeping is a compare-and-swap that
                // fails if a release came in between. A record seen alive here goes back (unless it was released).
                if (slot.Handle.Target is not null)
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
