using System.Diagnostics;
using System.Text.Unicode;

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
    private int attachCount;

    /// <summary>Creates an empty, valid record (or a no-op one where the API is unsupported).</summary>
    public ThreadContextRecord()
    {
        if (ThreadContext.IsSupported)
        {
            handle = NativeMethods.RecordNew();
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
    public int AttachCount => Math.Max(0, Volatile.Read(ref attachCount));

    /// <summary>Whether the record was disposed.</summary>
    public bool IsDisposed => handle == 0 && ThreadContext.IsSupported;

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
            NativeMethods.RecordSetIds(handle, t, s, traceFlags);
        }
    }

    /// <summary>Removes every attribute.</summary>
    public void ClearAttributes()
    {
        if (handle != 0)
        {
            NativeMethods.RecordClearAttrs(handle);
        }
    }

    /// <summary>Appends an attribute; a value over 255 UTF-8 bytes is cut at a character boundary.</summary>
    public AttributeResult AddAttribute(ThreadContextKey key, ReadOnlySpan<char> value)
    {
        Span<byte> utf8 = stackalloc byte[MaxValueLength];
        var status = Utf8.FromUtf16(value, utf8, out _, out var written, replaceInvalidSequences: true, isFinalBlock: true);
        var result = AddAttributeUtf8(key.Index, utf8[..written]);
        return result == AttributeResult.Written && status == System.Buffers.OperationStatus.DestinationTooSmall ? AttributeResult.Truncated : result;
    }

    /// <summary>Appends an attribute from UTF-8 bytes; over 255 bytes it is cut (at a UTF-8 boundary).</summary>
    public AttributeResult AddAttribute(ThreadContextKey key, ReadOnlySpan<byte> utf8Value) => AddAttributeUtf8(key.Index, utf8Value);

    private AttributeResult AddAttributeUtf8(byte keyIndex, ReadOnlySpan<byte> utf8Value)
    {
        if (handle == 0)
        {
            return AttributeResult.Unsupported;
        }

        var truncated = false;
        if (utf8Value.Length > MaxValueLength)
        {
            var cut = MaxValueLength;
            // Step back over continuation bytes (10xxxxxx) so a character is never split.
            while (cut > 0 && (utf8Value[cut] & 0xC0) == 0x80)
            {
                cut--;
            }

            utf8Value = utf8Value[..cut];
            truncated = true;
        }

        fixed (byte* v = utf8Value)
        {
            var status = NativeMethods.RecordAddAttr(handle, keyIndex, v, (nuint)utf8Value.Length);
            return status switch
            {
                0 => truncated ? AttributeResult.Truncated : AttributeResult.Written,
                1 => AttributeResult.Truncated,
                _ => AttributeResult.Dropped,
            };
        }
    }

    /// <summary>Counts one more thread publishing the record, unless it is disposed (count -1). One
    /// compare-and-swap: a concurrent Dispose either sees this attach and refuses, or wins and this fails.</summary>
    internal bool TryAddAttach()
    {
        var count = Volatile.Read(ref attachCount);
        while (count >= 0)
        {
            var seen = Interlocked.CompareExchange(ref attachCount, count + 1, count);
            if (seen == count)
            {
                return handle != 0;
            }

            count = seen;
        }

        return false;
    }

    internal void ReleaseAttach() => Interlocked.Decrement(ref attachCount);

    /// <summary>Frees the native record.</summary>
    /// <exception cref="InvalidOperationException">The record is still attached to a thread.</exception>
    public void Dispose()
    {
        // 0 → -1 marks it disposed; any other count means some thread still publishes it.
        var count = Interlocked.CompareExchange(ref attachCount, -1, 0);
        if (count > 0)
        {
            throw new InvalidOperationException(
                $"This thread-context record is still attached to {count} thread(s); readers may be reading it. Detach it on each thread (ThreadContext.Detach) before disposing.");
        }

        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        var h = Interlocked.Exchange(ref handle, 0);
        if (h != 0)
        {
            NativeMethods.RecordFree(h);
        }
    }
}
