using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace OtelThreadCtx;

/// <summary>The calling thread's published context (OTEP 4947 <c>otel_thread_ctx_v1</c>).
/// On platforms other than Linux x64/arm64, or without a usable native library, every call is a cheap no-op that
/// never throws for that reason.</summary>
/// <remarks>Two ways to publish:
/// <list type="bullet">
/// <item><see cref="Set(ActivityTraceId, ActivitySpanId, ActivityTraceFlags, ThreadContextAttributes?)"/> /
/// <see cref="Clear"/>: the fast path. Each thread owns two native records; the one not published is written and then
/// published with one pointer swap, so a reader never sees a half-written record. No allocation, no atomic
/// operation.</item>
/// <item><see cref="Attach"/> / <see cref="Detach"/> of a <see cref="ThreadContextRecord"/>: one record built once and
/// shared by any number of threads.</item>
/// </list>
/// The last call wins: <c>Set</c> replaces an attached record (and releases it), <c>Attach</c> replaces what <c>Set</c> published.</remarks>
public static unsafe class ThreadContext
{
    /// <summary>True on Linux x64/arm64 with libotel_thread_ctx.so loaded.</summary>
    public static bool IsSupported => NativeApi.IsAvailable;

    /// <summary>Why <see cref="IsSupported"/> is false, or null when it is true: the platform, a library that is missing,
    /// cut short, built for another architecture or against the other libc (glibc, musl), not the one the application shipped (its sha256 differs from the one
    /// the build recorded), or lacking an entry point. Such a library is never loaded; every call is then a no-op.</summary>
    public static string? UnavailableReason => NativeApi.UnavailableReason;

    /// <summary>The shared record this thread publishes, or null (nothing, or what <c>Set</c> published).</summary>
    public static ThreadContextRecord? Current => NativeApi.IsAvailable ? RecordRegistry.Resolve(NativeApi.CurrentUser()) : null;

    /// <summary>Publishes trace id, span id, flags and <paramref name="attributes"/> on this thread, replacing whatever
    /// it published before.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(ActivityTraceId traceId, ActivitySpanId spanId, ActivityTraceFlags flags, ThreadContextAttributes? attributes = null)
    {
        if (NativeApi.IsAvailable)
        {
            Publish(HexIds.TraceId(traceId), HexIds.SpanId(spanId), (byte)flags, attributes);
        }
    }

    /// <summary>Publishes <paramref name="context"/> (trace id, span id, flags) and <paramref name="attributes"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Set(in ActivityContext context, ThreadContextAttributes? attributes = null) =>
        Set(context.TraceId, context.SpanId, context.TraceFlags, attributes);

    /// <summary>Publishes raw ids: 16 bytes of trace id, 8 of span id, the W3C flags byte.</summary>
    /// <exception cref="ArgumentException">An id has the wrong length.</exception>
    public static void Set(ReadOnlySpan<byte> traceId, ReadOnlySpan<byte> spanId, byte traceFlags, ThreadContextAttributes? attributes = null)
    {
        if (traceId.Length != 16)
        {
            throw new ArgumentException("A trace id is 16 bytes.", nameof(traceId));
        }

        if (spanId.Length != 8)
        {
            throw new ArgumentException("A span id is 8 bytes.", nameof(spanId));
        }

        if (NativeApi.IsAvailable)
        {
            Publish(Vector128.Create(traceId), System.Runtime.InteropServices.MemoryMarshal.Read<ulong>(spanId), traceFlags, attributes);
        }
    }

    /// <summary>Stops publishing on this thread (whatever <c>Set</c> or <c>Attach</c> published).</summary>
    public static void Clear()
    {
        if (NativeApi.IsAvailable)
        {
            NativeApi.Clear();
        }
    }

    /// <summary>One native call writes the thread's unpublished record and publishes it: the library finds the thread's
    /// pair through its own TLS (TLSDESC), which costs far less than a managed thread-static would here.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Publish(Vector128<byte> traceId, ulong spanId, byte flags, ThreadContextAttributes? attributes) =>
        Publish((byte*)&traceId, (byte*)&spanId, flags, attributes);

    /// <summary>As above, with the ids already in memory (16 + 8 bytes, as the record holds them); the Activity publisher
    /// passes the ids it computed once per Activity this way, without copying them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Publish(byte* traceId, byte* spanId, byte flags, ThreadContextAttributes? attributes)
    {
        if (attributes is null)
        {
            NativeApi.Set(traceId, spanId, flags, null, 0);
            return;
        }

        fixed (byte* block = attributes.Encoded)
        {
            NativeApi.Set(traceId, spanId, flags, block, (nuint)attributes.Length);
        }
    }

    /// <summary>Publishes <paramref name="record"/> on this thread (null detaches) and returns the shared record published
    /// before (null when there was none, or when <c>Set</c> had published). No atomic operation on any thread: the thread
    /// protects the record in its own native state with plain stores, and <c>Dispose</c> pays for the check instead
    /// (docs/performance.md).</summary>
    /// <exception cref="ObjectDisposedException">The record was disposed.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ThreadContextRecord? Attach(ThreadContextRecord? record)
    {
        if (record is null)
        {
            return Detach();
        }

        if (!NativeApi.IsAvailable)
        {
            return null;
        }

        nuint previous;
        var attached = NativeApi.AttachCounted(record.Handle, record.UserValue, &previous);

        // Alive until the attach is done: the JIT ends the argument's lifetime at its last use, the field loads above, and
        // a record the GC finds unreachable before it is published would be orphaned by the registry's sweep and refused
        // here (caller's `Attach(new ThreadContextRecord(...))` in one statement). Once published, losing it is safe.
        GC.KeepAlive(record);
        if (attached == -1)
        {
            throw new ObjectDisposedException(nameof(ThreadContextRecord));
        }

        return previous == 0 ? null : RecordRegistry.Resolve(previous);
    }

    /// <summary>Stops publishing on this thread; returns the shared record published before, if any.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ThreadContextRecord? Detach()
    {
        if (!NativeApi.IsAvailable)
        {
            return null;
        }

        var previous = NativeApi.Clear();
        return previous == 0 ? null : RecordRegistry.Resolve(previous);
    }

    /// <summary>Updates the ids of the published record in place, inside the <c>valid</c> bracket.
    /// Returns false when nothing is published.</summary>
    public static bool UpdateIds(ActivityTraceId traceId, ActivitySpanId spanId, ActivityTraceFlags flags)
    {
        if (!NativeApi.IsAvailable)
        {
            return false;
        }

        var trace = HexIds.TraceId(traceId);
        var span = HexIds.SpanId(spanId);
        return NativeApi.UpdateIds((byte*)&trace, (byte*)&span, (byte)flags) == 0;
    }

    /// <summary>Starts an in-place update of the published record: readers ignore it until the scope is disposed.</summary>
    public static InPlaceUpdate BeginUpdate()
    {
        if (!NativeApi.IsAvailable || NativeApi.UpdateBegin() == 0)
        {
            return default;
        }

        return new InPlaceUpdate(Current);
    }

    /// <summary>Copies what a reader would see on this thread now (header + used attribute bytes).
    /// Returns the number of bytes written, 0 when nothing is published.</summary>
    /// <remarks>A destination shorter than <see cref="ThreadContextRecord.HeaderSize"/> gets nothing (0); one shorter than
    /// the header and the attributes gets their first bytes; <see cref="ThreadContextRecord.Size"/> bytes always hold the
    /// whole record.</remarks>
    public static int ReadCurrent(Span<byte> destination)
    {
        if (!NativeApi.IsAvailable)
        {
            return 0;
        }

        fixed (byte* d = destination)
        {
            return (int)NativeApi.ReadCurrent(d, (nuint)destination.Length);
        }
    }

    /// <summary>An in-place edit of the published record, between <c>valid = 0</c> and <c>valid = 1</c>.</summary>
    public readonly ref struct InPlaceUpdate
    {
        private readonly bool active;
        private readonly ThreadContextRecord? record;

        internal InPlaceUpdate(ThreadContextRecord? record)
        {
            active = true;
            this.record = record;
        }

        /// <summary>False when nothing was published (every call is then a no-op).</summary>
        public bool IsActive => active;

        /// <summary>The shared record being edited (null when the thread's own record, from <c>Set</c>, is).</summary>
        public ThreadContextRecord? Record => record;

        /// <summary>Marks the record valid again.</summary>
        public void Dispose()
        {
            if (active)
            {
                NativeApi.UpdateEnd();
            }
        }
    }
}
