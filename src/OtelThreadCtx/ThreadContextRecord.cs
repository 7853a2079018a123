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

    /// <summary>The creating thread's <see cref="ThreadState.OwnerToken"/>: on that thread attaches are counted in
    /// <see cref="ownerAttaches"/> with plain writes; any other thread counts in <see cref="sharedAttaches"/> with
    /// a compare-and-swap.</summary>
    private readonly object? owner;

    /// <summary>Attaches on the owner thread. Written only by that thread (or, once it exited, its state's finalizer).</summary>
    private int ownerAttaches;

    /// <summary>Attaches on other threads; -1 once disposed.</summary>
    private int sharedAttaches;

    /// <summary>Creates an empty, valid record (or a no-op one where the API is unsupported).</summary>
    public ThreadContextRecord()
    {
        if (NativeApi.IsAvailable)
        {
            owner = ThreadState.Current.OwnerToken;
            handle = NativeApi.RecordNew();
            if (handle == 0)
            {
                throw new OutOfMemoryException("The native thread-context record could not be allocated.");
            }
        }
    }

    /// <summary>Creates a record holding the ids of <paramref name="activity"/>.</summary>
    public ThreadContextRecord(Activity activity)
        : this()
    {
        ArgumentNullException.ThrowIfNull(activity);
        SetIds(activity.TraceId, activity.SpanId, activity.ActivityTraceFlags);
    }

    /// <summary>Frees the native record of a record nobody disposed.</summary>
    ~ThreadContextRecord()
    {
        // Unreachable means no thread holds it any more (attached records are referenced by their thread).
        Free();
    }

    internal nint Handle => handle;

    /// <summary>How many threads publish this record now.</summary>
    public int AttachCount => Volatile.Read(ref ownerAttaches) + Math.Max(0, Volatile.Read(ref sharedAttaches));

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
    public AttributeResult AddAttribute(ThreadContextKey key, ReadOnlySpan<char> value)
    {
        Span<byte> entry = stackalloc byte[2 + MaxValueLength];
        var used = 0;
        var result = AttributeEncoding.Append(entry, ref used, key.Index, value);
        return AppendEntry(entry[..used], result);
    }

    /// <summary>Appends an attribute from UTF-8 bytes; over 255 bytes it is cut (at a UTF-8 boundary).</summary>
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

    /// <summary>Counts one more thread publishing the record, unless it is disposed.</summary>
    /// <remarks>On the creating thread: a plain increment, then a look at the disposed mark. A <see cref="Dispose"/> on
    /// another thread sets the mark, then runs a process-wide memory barrier before it reads <see cref="ownerAttaches"/>:
    /// either it sees this attach and refuses, or this attach sees the mark and fails (asymmetric Dekker). On any other
    /// thread: one compare-and-swap that a concurrent Dispose either sees or beats.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryAddAttach(object ownerToken)
    {
        if (ReferenceEquals(ownerToken, owner))
        {
            Volatile.Write(ref ownerAttaches, ownerAttaches + 1);
            if (Volatile.Read(ref sharedAttaches) >= 0 && handle != 0)
            {
                return true;
            }

            Volatile.Write(ref ownerAttaches, ownerAttaches - 1);
            return false;
        }

        return TryAddSharedAttach();
    }

    private bool TryAddSharedAttach()
    {
        var count = Volatile.Read(ref sharedAttaches);
        while (count >= 0)
        {
            var seen = Interlocked.CompareExchange(ref sharedAttaches, count + 1, count);
            if (seen == count)
            {
                return handle != 0;
            }

            count = seen;
        }

        return false;
    }

    /// <summary>One thread stopped publishing the record (the thread that counted the attach, or its state's finalizer).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ReleaseAttach(object ownerToken)
    {
        if (ReferenceEquals(ownerToken, owner))
        {
            Volatile.Write(ref ownerAttaches, ownerAttaches - 1);
        }
        else
        {
            Interlocked.Decrement(ref sharedAttaches);
        }
    }

    /// <summary>Frees the native record.</summary>
    /// <exception cref="InvalidOperationException">The record is still attached to a thread.</exception>
    public void Dispose()
    {
        // 0 → -1 marks it disposed; a positive count means another thread still publishes it.
        var shared = Interlocked.CompareExchange(ref sharedAttaches, -1, 0);
        if (shared > 0)
        {
            throw StillAttached(shared);
        }

        if (shared == 0 && owner is not null)
        {
            if (!ReferenceEquals(ThreadState.CurrentOrNull?.OwnerToken, owner))
            {
                // The owner thread counts with plain writes: make them visible here before reading them.
                Interlocked.MemoryBarrierProcessWide();
            }

            if (Volatile.Read(ref ownerAttaches) is var own and > 0)
            {
                Volatile.Write(ref sharedAttaches, 0);
                throw StillAttached(own);
            }
        }

        Free();
        GC.SuppressFinalize(this);
    }

    private static InvalidOperationException StillAttached(int count) => new(
        $"This thread-context record is still attached to {count} thread(s); readers may be reading it. Detach it on each thread (ThreadContext.Detach) before disposing.");

    private void Free()
    {
        var h = Interlocked.Exchange(ref handle, 0);
        if (h != 0)
        {
            NativeApi.RecordFree(h);
        }
    }
}
