using System.Diagnostics;

namespace OtelThreadCtx;

/// <summary>The calling thread's published context (OTEP 4947 <c>otel_thread_ctx_v1</c>).
/// On platforms other than Linux x64/arm64, or without the native library, every call is a cheap no-op.</summary>
public static unsafe class ThreadContext
{
    /// <summary>The thread's attached record; its finalizer runs after the thread exits and releases the attach.</summary>
    [ThreadStatic]
    private static ThreadSlot? slot;

    /// <summary>True on Linux x64/arm64 with libotel_thread_ctx.so loaded.</summary>
    public static bool IsSupported => NativeLibraryLoader.IsAvailable;

    /// <summary>The record this thread publishes, or null.</summary>
    public static ThreadContextRecord? Current => slot?.Record;

    /// <summary>Publishes <paramref name="record"/> on this thread (null detaches) and returns the record published before.</summary>
    /// <exception cref="ObjectDisposedException">The record was disposed.</exception>
    public static ThreadContextRecord? Attach(ThreadContextRecord? record)
    {
        if (record is null)
        {
            return Detach();
        }

        if (!IsSupported)
        {
            return null;
        }

        if (!record.TryAddAttach())
        {
            throw new ObjectDisposedException(nameof(ThreadContextRecord));
        }

        var s = slot ??= new ThreadSlot();
        var previous = s.Record;
        NativeMethods.Attach(record.Handle);
        s.Record = record;
        previous?.ReleaseAttach();
        return previous;
    }

    /// <summary>Stops publishing on this thread; returns the record published before.</summary>
    public static ThreadContextRecord? Detach()
    {
        var s = slot;
        if (s?.Record is not { } previous)
        {
            return null;
        }

        NativeMethods.Detach();
        s.Record = null;
        previous.ReleaseAttach();
        return previous;
    }

    /// <summary>Updates the ids of the attached record in place, inside the <c>valid</c> bracket.
    /// Returns false when no record is attached.</summary>
    public static bool UpdateIds(ActivityTraceId traceId, ActivitySpanId spanId, ActivityTraceFlags flags)
    {
        if (slot?.Record is null)
        {
            return false;
        }

        Span<byte> trace = stackalloc byte[16];
        Span<byte> span = stackalloc byte[8];
        traceId.CopyTo(trace);
        spanId.CopyTo(span);
        fixed (byte* t = trace)
        fixed (byte* s = span)
        {
            return NativeMethods.UpdateIds(t, s, (byte)flags) == 0;
        }
    }

    /// <summary>Starts an in-place update of the attached record: readers ignore it until the scope is disposed.</summary>
    public static InPlaceUpdate BeginUpdate()
    {
        var record = slot?.Record;
        if (record is null)
        {
            return default;
        }

        NativeMethods.UpdateBegin();
        return new InPlaceUpdate(record);
    }

    /// <summary>Copies what a reader would see on this thread now (header + used attribute bytes).
    /// Returns the number of bytes written, 0 when nothing is published.</summary>
    public static int ReadCurrent(Span<byte> destination)
    {
        if (!IsSupported || slot?.Record is null)
        {
            return 0;
        }

        fixed (byte* d = destination)
        {
            return (int)NativeMethods.ReadCurrent(d, (nuint)destination.Length);
        }
    }

    /// <summary>An in-place edit of the attached record, between <c>valid = 0</c> and <c>valid = 1</c>.</summary>
    public readonly ref struct InPlaceUpdate
    {
        private readonly ThreadContextRecord? record;

        internal InPlaceUpdate(ThreadContextRecord record) => this.record = record;

        /// <summary>False when nothing was attached (every call is then a no-op).</summary>
        public bool IsActive => record is not null;

        /// <summary>The record being edited.</summary>
        public ThreadContextRecord? Record => record;

        /// <summary>Marks the record valid again.</summary>
        public void Dispose()
        {
            if (record is not null)
            {
                NativeMethods.UpdateEnd();
            }
        }
    }

    private sealed class ThreadSlot
    {
        public ThreadContextRecord? Record;

        ~ThreadSlot()
        {
            // The thread has exited: its TLS slot is gone, so the record is no longer published by it.
            Record?.ReleaseAttach();
        }
    }
}
