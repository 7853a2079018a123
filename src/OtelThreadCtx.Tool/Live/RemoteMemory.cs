using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace OtelThreadCtx.Tool.Live;

/// <summary>Reads another process's memory with process_vm_readv: an unmapped address is a failed read, never a fault.</summary>
internal sealed class RemoteMemory(int pid)
{
    public int Pid { get; } = pid;

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes; false (with errno) when any of them is unreadable.</summary>
    public unsafe bool TryRead(ulong address, Span<byte> destination, out int errno)
    {
        errno = 0;
        if (destination.IsEmpty)
        {
            return true;
        }

        fixed (byte* p = destination)
        {
            var local = new Native.IoVec { Base = (nint)p, Length = (nuint)destination.Length };
            var remote = new Native.IoVec { Base = (nint)address, Length = (nuint)destination.Length };
            var n = Native.ProcessVmReadv(Pid, &local, 1, &remote, 1, 0);
            if (n == destination.Length)
            {
                return true;
            }

            errno = n < 0 ? Marshal.GetLastPInvokeError() : Native.EFault;
            return false;
        }
    }

    public bool TryReadU64(ulong address, out ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        if (TryRead(address, b, out _))
        {
            value = BinaryPrimitives.ReadUInt64LittleEndian(b);
            return true;
        }

        value = 0;
        return false;
    }

    public byte[]? TryRead(ulong address, int length)
    {
        var b = new byte[length];
        return TryRead(address, b, out _) ? b : null;
    }

    public string? TryReadCString(ulong address, int max = 4096)
    {
        var chunk = new byte[256];
        var result = new List<byte>();
        while (result.Count < max)
        {
            // Read byte by byte near the end of a page boundary would be slow; read a chunk, fall back to smaller ones.
            var n = chunk.Length;
            while (n > 0 && !TryRead(address + (ulong)result.Count, chunk.AsSpan(0, n), out _))
            {
                n /= 2;
            }

            if (n == 0)
            {
                return null;
            }

            var zero = Array.IndexOf(chunk, (byte)0, 0, n);
            if (zero >= 0)
            {
                result.AddRange(chunk.AsSpan(0, zero));
                return System.Text.Encoding.UTF8.GetString(result.ToArray());
            }

            result.AddRange(chunk.AsSpan(0, n));
        }

        return null;
    }
}
