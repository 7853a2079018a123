using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace OtelThreadCtx;

/// <summary>W3C ids from their hex form to the bytes a record holds, without a per-call parse loop.</summary>
/// <remarks><see cref="ActivityTraceId"/> and <see cref="ActivitySpanId"/> keep lowercase hex strings, and their own
/// <c>CopyTo(Span&lt;byte&gt;)</c> parses them character by character on every call. Here the 32 (16) characters are
/// loaded as vectors and turned into 16 (8) bytes with a handful of SIMD operations, on x64 and arm64 alike.
/// The strings are the ids' own (<c>ToHexString()</c> returns the stored string; no allocation).</remarks>
internal static class HexIds
{
    private const int TraceIdChars = 32;
    private const int SpanIdChars = 16;

    /// <summary>The 16 bytes of <paramref name="traceId"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> TraceId(ActivityTraceId traceId)
    {
        var hex = traceId.ToHexString();
        if (hex.Length != TraceIdChars)
        {
            return Slow(traceId);
        }

        ref var chars = ref Unsafe.As<char, ushort>(ref MemoryMarshal.GetReference(hex.AsSpan()));
        var first = Nibbles(Vector128.Narrow(Vector128.LoadUnsafe(ref chars), Vector128.LoadUnsafe(ref chars, 8)));
        var second = Nibbles(Vector128.Narrow(Vector128.LoadUnsafe(ref chars, 16), Vector128.LoadUnsafe(ref chars, 24)));
        return Pairs(first, second);
    }

    /// <summary>The 8 bytes of <paramref name="spanId"/>, in memory order (little-endian load of the bytes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SpanId(ActivitySpanId spanId)
    {
        var hex = spanId.ToHexString();
        if (hex.Length != SpanIdChars)
        {
            return Slow(spanId);
        }

        ref var chars = ref Unsafe.As<char, ushort>(ref MemoryMarshal.GetReference(hex.AsSpan()));
        var nibbles = Nibbles(Vector128.Narrow(Vector128.LoadUnsafe(ref chars), Vector128.LoadUnsafe(ref chars, 8)));
        return Pairs(nibbles, nibbles).AsUInt64().ToScalar();
    }

    /// <summary>One hex character per byte in, its value (0-15) out: '0'-'9' (0x30-0x39) keep their low nibble,
    /// 'a'-'f' (0x61-0x66; and 'A'-'F') add 9 to theirs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Nibbles(Vector128<byte> characters) =>
        (characters & Vector128.Create((byte)0x0F))
        + (Vector128.GreaterThan(characters.AsSByte(), Vector128.Create((sbyte)0x40)).AsByte() & Vector128.Create((byte)9));

    /// <summary>Two vectors of 16 nibbles (high nibble first) in, 16 bytes out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Pairs(Vector128<byte> first, Vector128<byte> second)
    {
        if (Ssse3.IsSupported)
        {
            // pmaddubsw: high * 16 + low per byte pair, then one pack.
            var weights = Vector128.Create((ushort)0x0110).AsSByte();
            return Sse2.PackUnsignedSaturate(Ssse3.MultiplyAddAdjacent(first, weights), Ssse3.MultiplyAddAdjacent(second, weights));
        }

        // Each 16-bit lane holds (low << 8) | high; the narrowing keeps the low byte of (high << 4) | low.
        var a = first.AsUInt16();
        var b = second.AsUInt16();
        return Vector128.Narrow((a << 4) | (a >> 8), (b << 4) | (b >> 8));
    }

    private static Vector128<byte> Slow(ActivityTraceId traceId)
    {
        Span<byte> bytes = stackalloc byte[16];
        traceId.CopyTo(bytes);
        return Vector128.Create((ReadOnlySpan<byte>)bytes);
    }

    private static ulong Slow(ActivitySpanId spanId)
    {
        Span<byte> bytes = stackalloc byte[8];
        spanId.CopyTo(bytes);
        return MemoryMarshal.Read<ulong>(bytes);
    }
}
