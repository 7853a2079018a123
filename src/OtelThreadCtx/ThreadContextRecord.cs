using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OtelThreadCtx;

/// <summary>One OTEP 4947 record in native memory: trace id, span id, trace flags and attributes. Build it once,
/// attach it to as many threads as needed (<see cref="ThreadContext.Attach"/>). It cannot be disposed while
/// attached to any thread.</summary>
public sealed unsafe class ThreadContextRecord : IDisposable
{
    /// <summary>Size of the record a reader reads (OTEP 4947 recommends at most 640 bytes).</summary>
    public const int Size = 640;

    /// <summary>Bytes before the attributes: trace_id[16], span_id[8], valid, trace_flags, attrs_data_size (u16).</summary>
    public const int HeaderSize = 28;

    /// <summary>Bytes available for attribute entries (key, length, value).</summary>
    public const int AttributeCapacity = Size - HeaderSize;

    /// <summary>Longest attribute value; longer ones are cut at a UTF-8 boundary.</summary>
    public const int MaxValueLength = 255;

    private nint handle;

    /// <summary>The value the native record carries while this record owns it (never changed: an attach checks it, so a
    /// native block that was disposed and reused for another record meanwhile is refused). A no-op record has none: 0,
    /// then <see cref="NoOpDisposed"/>.</summary>
    private nuint user;

    /// <summary>Creates an empty, valid record (or a no-op one where the API is unsupported).</summary>
    /// <remarks>No finalizer: a record nobody disposed is found by <see cref="RecordRegistry"/> after a collection, and
    /// the library frees its native record then, or, if threads still publish it, when the last of them stops.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ThreadContextRecord()
    {
        if (NativeApi.IsAvailable)
        {
            nuint value;
            var h = NativeApi.RecordNewBound(&value);
            if (h == 0)
            {
                ThrowOutOfMemory();
            }

            handle = h;
            user = value;
            RecordRegistry.Register(this, h, value);
        }
    }

    /// <summary>Creates a record holding the ids of <paramref name="activity"/>.</summary>
    public ThreadContextRecord(Activity activity)
        : this()
    {
        ArgumentNullException.ThrowIfNull(activity);
        SetIds(activity.TraceId, activity.SpanId, activity.ActivityTraceFlags);
    }

    /// <summary>The value the native record carries (what <see cref="RecordRegistry.Resolve"/> takes), 0 when none.</summary>
    internal nuint Registration => handle != 0 ? user : 0;

    internal nint Handle => handle;

    /// <summary>The value the native record carries (see <see cref="user"/>).</summary>
    internal nuint UserValue => user;

    /// <summary>How many threads publish this record now.</summary>
    public int AttachCount => handle is var h and not 0 ? NativeApi.RecordAttachCount(h) : 0;

    /// <summary>Whether the record was disposed (where the API is a no-op too: <see cref="Dispose"/> marks it).</summary>
    public bool IsDisposed => handle == 0 && (NativeApi.IsAvailable || user == NoOpDisposed);

    /// <summary>The value a no-op record (no native record, <see cref="user"/> otherwise 0) carries once disposed.</summary>
    private const nuint NoOpDisposed = 1;

    /// <summary>Sets trace id, span id and W3C trace flags.</summary>
    /// <remarks>Ids, flags and attributes are written from here straight into the native record (its layout is the
    /// OTEP's): no native call. As with the C API, edit a record that is published only inside
    /// <see cref="ThreadContext.BeginUpdate"/>.</remarks>
    public void SetIds(ActivityTraceId traceId, ActivitySpanId spanId, ActivityTraceFlags flags)
    {
        var h = handle;
        if (h != 0)
        {
            Write((byte*)h, HexIds.TraceId(traceId), HexIds.SpanId(spanId), (byte)flags);
        }

        GC.KeepAlive(this); // see Commit
    }

    /// <summary>Sets raw ids: 16 bytes of trace id, 8 of span id.</summary>
    public void SetIds(ReadOnlySpan<byte> traceId, ReadOnlySpan<byte> spanId, byte traceFlags)
    {
        if (traceId.Length != 16)
        {
            throw new ArgumentException("A trace id is 16 bytes.", nameof(traceId));
        }

        if (spanId.Length != 8)
        {
            throw new ArgumentException("A span id is 8 bytes.", nameof(spanId));
        }

        var h = handle;
        if (h != 0)
        {
            Write((byte*)h, Vector128.Create(traceId), MemoryMarshal.Read<ulong>(spanId), traceFlags);
        }

        GC.KeepAlive(this); // see Commit
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Write(byte* record, Vector128<byte> traceId, ulong spanId, byte flags)
    {
        Unsafe.WriteUnaligned(record + RecordLayout.TraceIdOffset, traceId);
        Unsafe.WriteUnaligned(record + RecordLayout.SpanIdOffset, spanId);
        record[RecordLayout.TraceFlagsOffset] = flags;
    }

    /// <summary>Removes every attribute.</summary>
    public void ClearAttributes()
    {
        var h = handle;
        if (h != 0)
        {
            Volatile.Write(ref *(ushort*)((byte*)h + RecordLayout.AttrsSizeOffset), 0);
        }

        GC.KeepAlive(this); // see Commit
    }

    /// <summary>Appends an attribute; a value over 255 UTF-8 bytes is cut at a character boundary.</summary>
    public AttributeResult AddAttribute(ThreadContextKey key, ReadOnlySpan<char> value)
    {
        var h = handle;
        if (h == 0)
        {
            return AttributeResult.Unsupported;
        }

        var used = (int)*AttrsSize(h);
        var result = Commit(h, AttributeEncoding.Append(Attributes(h), ref used, key.Index, value), used);
        GC.KeepAlive(this); // see Commit
        return result;
    }

    /// <summary>Appends an attribute from UTF-8 bytes; over 255 bytes it is cut (at a UTF-8 boundary).</summary>
    public AttributeResult AddAttribute(ThreadContextKey key, ReadOnlySpan<byte> utf8Value)
    {
        var h = handle;
        if (h == 0)
        {
            return AttributeResult.Unsupported;
        }

        var used = (int)*AttrsSize(h);
        var appended = AttributeEncoding.TryAppendShort((byte*)h + RecordLayout.HeaderSize, RecordLayout.AttrsCapacity, ref used, key.Index, utf8Value)
            ? AttributeResult.Written
            : AttributeEncoding.Append(Attributes(h), ref used, key.Index, utf8Value);
        var result = Commit(h, appended, used);
        GC.KeepAlive(this); // see Commit
        return result;
    }

    private static ushort* AttrsSize(nint record) => (ushort*)((byte*)record + RecordLayout.AttrsSizeOffset);

    private static Span<byte> Attributes(nint record) => new((byte*)record + RecordLayout.HeaderSize, RecordLayout.AttrsCapacity);

    /// <summary>The entry is written in place: the size that makes it visible grows after it (a release store, so neither
    /// the JIT nor the CPU moves the entry's bytes past it).</summary>
    /// <remarks>Every method that writes through the handle keeps the object alive until it is done (<c>GC.KeepAlive</c>):
    /// a record whose object the GC finds unreachable is freed by the registry's sweep, and the JIT ends <c>this</c>'s
    /// lifetime at its last use, which is the handle's load, so a caller that drops its last reference in the same
    /// statement would otherwise let the sweep free (and another thread reuse) the block while it is being written.</remarks>
    private static AttributeResult Commit(nint record, AttributeResult result, int used)
    {
        if (result is AttributeResult.Written or AttributeResult.Truncated)
        {
            Volatile.Write(ref *AttrsSize(record), (ushort)used);
        }

        return result;
    }

    /// <summary>Frees the native record. Calling it again does nothing, also from another thread at the same time: at most
    /// one call frees it and the others return; while it is attached, each call throws.</summary>
    /// <exception cref="InvalidOperationException">The record is still attached to a thread.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Dispose()
    {
        var h = Volatile.Read(ref handle);
        if (h == 0)
        {
            // Disposed already, or a no-op record (which has no native record and nothing else to free).
            if (!NativeApi.IsAvailable)
            {
                user = NoOpDisposed;
            }

            return;
        }

        // The library decides: one native call, checked against this record's value, so that of two Disposes on two
        // threads at once one frees it and the other is refused (-1), as is a late one after the block was reused for
        // another record. On the creating thread, for a record no other thread ever attached, a few stores; otherwise a
        // process-wide barrier and a scan of the threads that publish it (docs/performance.md). Refused while attached
        // (> 0): nothing changed, the record still resolves.
        var result = NativeApi.RecordDispose(h, user);
        if (result != 0)
        {
            if (result > 0)
            {
                throw StillAttached(result);
            }

            return;
        }

        // Then the registry, by the one Dispose that freed it: no atomic operation (see RecordRegistry.Release).
        RecordRegistry.Release(this, h, user);
        Volatile.Write(ref handle, 0);
    }

    [DoesNotReturn]
    private static void ThrowOutOfMemory() => throw new OutOfMemoryException("The native thread-context record could not be allocated.");

    private static InvalidOperationException StillAttached(int count) => new(
        $"This thread-context record is still attached to {count} thread(s); readers may be reading it. Detach it on each thread (ThreadContext.Detach) before disposing.");
}
