using System.Diagnostics;

namespace OtelThreadCtx;

/// <summary>An immutable, pre-encoded block of thread-context attributes (OTEP 4947 <c>attrs_data</c>): build it once
/// with <see cref="ThreadContextAttributesBuilder"/> and pass it to <see cref="ThreadContext.Set(ActivityTraceId, ActivitySpanId, ActivityTraceFlags, ThreadContextAttributes?)"/>
/// on any thread, as often as needed. Publishing it copies its bytes; nothing is encoded per call.</summary>
public sealed class ThreadContextAttributes
{
    /// <summary>No attributes.</summary>
    public static ThreadContextAttributes Empty { get; } = new([]);

    private readonly byte[] encoded;

    internal ThreadContextAttributes(byte[] encoded) => this.encoded = encoded;

    /// <summary>Encoded size in bytes (at most <see cref="ThreadContextRecord.AttributeCapacity"/>).</summary>
    public int Length => encoded.Length;

    /// <summary>The encoded entries, as a reader finds them in the record.</summary>
    public ReadOnlySpan<byte> Encoded => encoded;

    /// <summary>One attribute.</summary>
    public static ThreadContextAttributes Create(ThreadContextKey key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var builder = new ThreadContextAttributesBuilder();
        builder.Add(key, value);
        return builder.Build();
    }

    internal ref byte First => ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(encoded);

    /// <summary><paramref name="own"/>'s entries, then each entry of <paramref name="inherited"/> whose key
    /// <paramref name="own"/> lacks (as far as the record has room).</summary>
    internal static ThreadContextAttributes? Merge(ThreadContextAttributes? own, ThreadContextAttributes inherited)
    {
        if (inherited.Length == 0)
        {
            return own;
        }

        if (own is null || own.Length == 0)
        {
            return inherited; // nothing of its own (a client or database span): the parent's block, shared, no copy
        }

        Span<bool> present = stackalloc bool[256];
        Span<byte> block = stackalloc byte[ThreadContextRecord.AttributeCapacity];
        own.Encoded.CopyTo(block);
        var used = own.Length;
        for (var rest = own.Encoded; rest.Length >= 2 && rest.Length >= 2 + rest[1]; rest = rest[(2 + rest[1])..])
        {
            present[rest[0]] = true;
        }

        var added = false;
        for (var rest = inherited.Encoded; rest.Length >= 2 && rest.Length >= 2 + rest[1]; rest = rest[(2 + rest[1])..])
        {
            if (!present[rest[0]] && AttributeEncoding.Append(block, ref used, rest[0], rest.Slice(2, rest[1])) != AttributeResult.Dropped)
            {
                present[rest[0]] = true;
                added = true;
            }
        }

        return added ? new ThreadContextAttributes(block[..used].ToArray()) : own;
    }
}

/// <summary>Collects attribute entries for one <see cref="ThreadContextAttributes"/> block. Not thread-safe; the block
/// it builds is.</summary>
public sealed class ThreadContextAttributesBuilder
{
    private readonly byte[] buffer = new byte[ThreadContextRecord.AttributeCapacity];
    private int used;

    /// <summary>Bytes used so far.</summary>
    public int Length => used;

    /// <summary>Appends an attribute; a value over 255 UTF-8 bytes is cut at a character boundary.</summary>
    /// <returns><see cref="AttributeResult.Written"/>, <see cref="AttributeResult.Truncated"/>, or
    /// <see cref="AttributeResult.Dropped"/> when the entry no longer fits in the record's attribute bytes.</returns>
    public AttributeResult Add(ThreadContextKey key, ReadOnlySpan<char> value) => AttributeEncoding.Append(buffer, ref used, key.Index, value);

    /// <summary>Appends an attribute from UTF-8 bytes; over 255 bytes it is cut at a UTF-8 boundary.</summary>
    public AttributeResult AddUtf8(ThreadContextKey key, ReadOnlySpan<byte> utf8Value) => AttributeEncoding.Append(buffer, ref used, key.Index, utf8Value);

    /// <summary>The block built so far (the builder can go on adding to a new one).</summary>
    public ThreadContextAttributes Build() => used == 0 ? ThreadContextAttributes.Empty : new(buffer.AsSpan(0, used).ToArray());
}
