using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>Maps the value a native record carries (<c>user</c>) back to its <see cref="ThreadContextRecord"/>, so that
/// <see cref="ThreadContext.Attach"/> can return the record it replaced without any per-thread managed state.</summary>
/// <remarks>The value is (generation &lt;&lt; 32 | slot). Each slot owns one weak <see cref="GCHandle"/> for the life of the
/// process: a released slot is retargeted to null and its generation bumped, never freed, so a value read by another
/// thread just before the release resolves to null (or is refused by the generation check), never to freed memory.
/// Slots live in fixed 1,024-entry chunks that never move.</remarks>
internal static class RecordRegistry
{
    private const int ChunkBits = 10;
    private const int ChunkSize = 1 << ChunkBits;
    private const int MaxChunks = 4096;

    private static readonly object Gate = new();
    private static readonly Entry[]?[] Chunks = new Entry[MaxChunks][];
    private static readonly Stack<int> Free = new();
    private static int next = 1;

    private struct Entry
    {
        public GCHandle Handle;
        public uint Generation;
    }

    /// <summary>A value for <paramref name="record"/>, or 0 when 4 million records are registered at once.</summary>
    public static nuint Register(ThreadContextRecord record)
    {
        lock (Gate)
        {
            var index = Free.Count > 0 ? Free.Pop() : next < MaxChunks * ChunkSize ? next++ : 0;
            if (index == 0)
            {
                return 0;
            }

            var chunk = Chunks[index >> ChunkBits] ??= new Entry[ChunkSize];
            ref var entry = ref chunk[index & (ChunkSize - 1)];
            if (!entry.Handle.IsAllocated)
            {
                entry.Handle = GCHandle.Alloc(record, GCHandleType.Weak);
            }
            else
            {
                entry.Handle.Target = record;
            }

            return ((nuint)entry.Generation << 32) | (uint)index;
        }
    }

    /// <summary>The record behind <paramref name="value"/>, or null (none, released, or collected).</summary>
    public static ThreadContextRecord? Resolve(nuint value)
    {
        var index = (int)(uint)value;
        var generation = (uint)(value >> 32);
        if (index <= 0 || Volatile.Read(ref Chunks[index >> ChunkBits]) is not { } chunk)
        {
            return null;
        }

        ref var entry = ref chunk[index & (ChunkSize - 1)];
        if (Volatile.Read(ref entry.Generation) != generation || !entry.Handle.IsAllocated)
        {
            return null;
        }

        var record = entry.Handle.Target as ThreadContextRecord;
        return Volatile.Read(ref entry.Generation) == generation ? record : null;
    }

    public static void Release(nuint value)
    {
        var index = (int)(uint)value;
        if (index <= 0)
        {
            return;
        }

        lock (Gate)
        {
            ref var entry = ref Chunks[index >> ChunkBits]![index & (ChunkSize - 1)];
            Volatile.Write(ref entry.Generation, entry.Generation + 1);
            entry.Handle.Target = null;
            Free.Push(index);
        }
    }
}
