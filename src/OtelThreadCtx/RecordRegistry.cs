using System.Runtime.InteropServices;

namespace OtelThreadCtx;

/// <summary>Maps the value a native record carries (<c>user</c>) back to its <see cref="ThreadContextRecord"/>, so that
/// <see cref="ThreadContext.Attach"/> can return the record it replaced without any per-thread managed state.</summary>
/// <remarks>The value is a weak <see cref="GCHandle"/>'s address with a 16-bit generation in the top bits (x64 and arm64
/// user-space addresses use the low 48). Handles are never freed: a released one is retargeted to null and reused with
/// the next generation, so a value another thread read just before the release still points at a live handle, and the
/// generation check (against the record's own copy) refuses it. Resolving is two dependent loads: the handle, then the
/// record.</remarks>
internal static class RecordRegistry
{
    private const int GenerationShift = 48;
    private const ulong AddressMask = (1UL << GenerationShift) - 1;

    private static readonly object Gate = new();
    private static readonly Stack<(GCHandle Handle, ushort Generation)> Free = new();

    /// <summary>A value for <paramref name="record"/>; the record keeps its generation.</summary>
    public static nuint Register(ThreadContextRecord record)
    {
        GCHandle handle;
        ushort generation;
        lock (Gate)
        {
            if (Free.Count > 0)
            {
                (handle, generation) = Free.Pop();
                generation++;
            }
            else
            {
                handle = GCHandle.Alloc(null, GCHandleType.Weak);
                generation = 1;
            }
        }

        record.RegistrationGeneration = generation;
        handle.Target = record;
        return (nuint)(((ulong)generation << GenerationShift) | ((ulong)GCHandle.ToIntPtr(handle) & AddressMask));
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

    public static void Release(nuint value)
    {
        var address = (nint)(long)((ulong)value & AddressMask);
        if (address == 0)
        {
            return;
        }

        var handle = GCHandle.FromIntPtr(address);
        handle.Target = null;
        lock (Gate)
        {
            Free.Push((handle, (ushort)((ulong)value >> GenerationShift)));
        }
    }
}
