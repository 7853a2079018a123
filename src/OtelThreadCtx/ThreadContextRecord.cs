using System.Diagnostics;
using System.Runtime.CompilerServices;

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

    /// <summary>This record's entry in <see cref="RecordRegistry"/>; the native record carries its value.</summary>
    private RecordRegistry.Slot? slot;

    /// <summary>The creating thread's <see cref="RecordRegistry.ThreadToken"/>: the native library counts that thread's
    /// attaches with plain writes.</summary>
    private RecordRegistry.SlotCache? creator;

    /// <summary>The registry generation of this record's handle (checked when the handle is resolved; 0 once released).</summary>
    internal ushort RegistrationGeneration;

    /// <summary>Creates an empty, valid record (or a no-op one where the API is unsupported).</summary>
    /// <remarks>No finalizer: a record nobody disposed is found by <see cref="RecordRegistry"/> after a collection, and
    /// the library frees its native record then, or, if threads still publish it, when the last of them stops.</remarks>
    public ThreadContextRecord()
    {
        if (NativeApi.IsAvailable)
        {
            var s = RecordRegistry.Register(this, out var thread);
            var h = NativeApi.RecordNewUser(s.Value);
            if (h == 0)
            {
                RecordRegistry.Release(s, this);
                throw new OutOfMemoryException("The native thread-context record could not be allocated.");
            }

            handle = h;
            slot = s;
            creator = thread;
            RecordRegistry.Track(s, h);
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
    internal nuint Registration => slot is { } s && handle != 0 ? s.Value : 0;

    internal nint Handle => handle;

    /// <summary>How many threads publish this record now.</summary>
    public int AttachCount => handle is var h and not 0 ? NativeApi.RecordAttachCount(h) : 0;

    /// <summary>Whether the record was disposed.</summary>
    public bool IsDisposed => handle == 0 && NativeApi.IsAvailable;

    /// <summary>Sets trace id, span id and W3C trace flags.</summary>
    public void SetIds(ActivityTraceId traceId, ActivitySpanId spanId, ActivityTraceFlags flags)
    {
        Span<byte> trace = stackalloc byte[16];
        Span<byte> span = stackalloc byte[8];
        traceId.CopyTo(trace);
        spanId.CopyTo(span);
        SetIds(trace, span, (byte)flags);
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

        if (handle == 0)
        {
            return;
        }

        fixed (byte* t = traceId)
        fixed (byte* s = spanId)
        {
            NativeApi.RecordSetIds(handle, t, s, traceFlags);
        }
    }

    /// <summary>Removes every attribute.</summary>
    public void ClearAttributes()
    {
        if (handle != 0)
        {
            NativeApi.RecordClearAttrs(handle);
        }
    }

    /// <summary>Appends an attribute; a value over 255 UTF-8 bytes is cut at a character boundary.</summary>
    [SkipLocalsInit] // the entry buffer: only the bytes the encoder writes are passed on
    public AttributeResult AddAttribute(ThreadContextKey key, ReadOnlySpan<char> value)
    {
        Span<byte> entry = stackalloc byte[2 + MaxValueLength];
        var used = 0;
        var result = AttributeEncoding.Append(entry, ref used, key.Index, value);
        return AppendEntry(entry[..used], result);
    }

    /// <summary>Appends an attribute from UTF-8 bytes; over 255 bytes it is cut (at a UTF-8 boundary).</summary>
    [SkipLocalsInit] // the entry buffer: only the bytes the encoder writes are passed on
    public AttributeResult AddAttribute(ThreadContextKey key, ReadOnlySpan<byte> utf8Value)
    {
        Span<byte> entry = stackalloc byte[2 + MaxValueLength];
        var used = 0;
        var result = AttributeEncoding.Append(entry, ref used, key.Index, utf8Value);
        return AppendEntry(entry[..used], result);
    }

    /// <summary>Hands one encoded entry to the library, which appends it (entry first, then the size that shows it).</summary>
    private AttributeResult AppendEntry(ReadOnlySpan<byte> entry, AttributeResult encoded)
    {
        if (handle == 0)
        {
            return AttributeResult.Unsupported;
        }

        fixed (byte* v = entry)
        {
            var status = NativeApi.RecordAddAttr(handle, v[0], v + 2, v[1]);
            return status == 0 ? encoded : AttributeResult.Dropped;
        }
    }

    /// <summary>Frees the native record.</summary>
    /// <exception cref="InvalidOperationException">The record is still attached to a thread.</exception>
    public void Dispose()
    {
        var h = Volatile.Read(ref handle);
        if (h == 0)
        {
            return;
        }

        // Marks the record disposing unless another thread publishes it; a concurrent Dispose (-1) has it in hand.
        var others = NativeApi.RecordDisposeBegin(h);
        if (others != 0)
        {
            if (others > 0)
            {
                throw StillAttached(others);
            }

            return;
        }

        // Another thread than the creator (the token is this thread's own object, kept alive by the record, so it is
        // never another thread's): the creator's plain-write counts need a barrier before they are read.
        var thread = RecordRegistry.ThreadToken;
        if (!ReferenceEquals(creator, thread))
        {
            // The creating thread counts its attaches with plain writes: make them visible here before they are read.
            Interlocked.MemoryBarrierProcessWide();
        }

        if (NativeApi.RecordDisposeEnd(h) != 0)
        {
            throw StillAttached(1);
        }

        Volatile.Write(ref handle, 0);
        RecordRegistry.Release(slot!, this, thread);
    }

    private static InvalidOperationException StillAttached(int count) => new(
        $"This thread-context record is still attached to {count} thread(s); readers may be reading it. Detach it on each thread (ThreadContext.Detach) before disposing.");
}
