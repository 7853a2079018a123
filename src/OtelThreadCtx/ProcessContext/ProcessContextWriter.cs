using System.Runtime.InteropServices;

namespace OtelThreadCtx.ProcessContext;

/// <summary>Writes the OTEP 4719 process context: a mapping whose 32-byte header points at a protobuf payload.
/// Header: <c>signature[8] = "OTEL_CTX"</c>, <c>version u32 = 2</c>, <c>payload_size u32</c>,
/// <c>published_at_ns u64</c> (0 while an update is under way), <c>payload u64</c> (an address in this process).
/// One writer at a time: every call takes the lock.</summary>
internal sealed unsafe class ProcessContextWriter : IDisposable
{
    public const string MappingName = "OTEL_CTX";
    public const int HeaderSize = 32;
    public const uint Version = 2;

    private static readonly byte[] Signature = "OTEL_CTX"u8.ToArray();

    private readonly IProcessContextSystem system;
    private readonly object gate = new();
    private readonly nuint length = (nuint)Environment.SystemPageSize;
    private nint mapping;
    private nint payload;
    private nint previousPayload;
    private ulong lastTimestamp;

    public ProcessContextWriter(IProcessContextSystem system) => this.system = system;

    public ProcessContextStatus Status { get; private set; } = ProcessContextStatus.NotPublished;

    /// <summary>The mapping's address (for tests and diagnostics).</summary>
    public nint Address => mapping;

    /// <summary>Publishes <paramref name="encodedResource"/> (first call) or replaces it with the update protocol.</summary>
    public ProcessContextStatus Publish(ReadOnlySpan<byte> encodedResource)
    {
        lock (gate)
        {
            if (Status == ProcessContextStatus.NotAvailable)
            {
                return Status;
            }

            var first = mapping == 0;
            if (first && !CreateMapping())
            {
                Status = ProcessContextStatus.NotAvailable;
                return Status;
            }

            var newPayload = (nint)NativeMemory.Alloc((nuint)Math.Max(1, encodedResource.Length));
            encodedResource.CopyTo(new Span<byte>((void*)newPayload, encodedResource.Length));
            var header = (byte*)mapping;

            if (first)
            {
                WriteU32(header + 8, Version);
                WriteU32(header + 12, (uint)encodedResource.Length);
                WriteU64(header + 24, (ulong)newPayload);
                WriteU64(header + 16, NextTimestamp());
                Interlocked.MemoryBarrier();
                // The signature goes last: a reader that sees it sees a complete header.
                for (var i = 0; i < Signature.Length; i++)
                {
                    Volatile.Write(ref header[i], Signature[i]);
                }
            }
            else
            {
                WriteU64(header + 16, 0);
                Interlocked.MemoryBarrier();
                WriteU64(header + 24, (ulong)newPayload);
                WriteU32(header + 12, (uint)encodedResource.Length);
                Interlocked.MemoryBarrier();
                WriteU64(header + 16, NextTimestamp());
            }

            Interlocked.MemoryBarrier();
            // Named again after every publish, as the protocol asks; a refusal is ignored (a memfd is already
            // identified by its own name, and an anonymous mapping was only kept if naming it worked).
            system.Name(mapping, length, MappingName);

            // Keep the payload a reader may still be copying for one more generation.
            if (previousPayload != 0)
            {
                NativeMemory.Free((void*)previousPayload);
            }

            previousPayload = payload;
            payload = newPayload;
            return Status;
        }
    }

    private bool CreateMapping()
    {
        mapping = system.MapMemfd(MappingName, length);
        if (mapping != 0)
        {
            Status = ProcessContextStatus.Memfd;
        }
        else
        {
            mapping = system.MapAnonymous(length);
            if (mapping == 0)
            {
                return false;
            }

            // An anonymous mapping is only found by its name: without one, readers cannot use it.
            if (!system.Name(mapping, length, MappingName))
            {
                system.Unmap(mapping, length);
                mapping = 0;
                return false;
            }

            Status = ProcessContextStatus.AnonymousMapping;
        }

        system.DontFork(mapping, length);
        new Span<byte>((void*)mapping, HeaderSize).Clear();
        return true;
    }

    /// <summary>Nanoseconds since the Unix epoch, strictly increasing, so that a reader always sees an update.</summary>
    private ulong NextTimestamp()
    {
        var now = (ulong)(DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        lastTimestamp = Math.Max(now, lastTimestamp + 1);
        return lastTimestamp;
    }

    /// <summary>Host byte order, as readers expect; each field written whole.</summary>
    private static void WriteU32(byte* at, uint value) => Volatile.Write(ref *(uint*)at, value);

    private static void WriteU64(byte* at, ulong value) => Volatile.Write(ref *(ulong*)at, value);

    public void Dispose()
    {
        lock (gate)
        {
            if (mapping != 0)
            {
                system.Unmap(mapping, length);
                mapping = 0;
            }

            if (payload != 0)
            {
                NativeMemory.Free((void*)payload);
                payload = 0;
            }

            if (previousPayload != 0)
            {
                NativeMemory.Free((void*)previousPayload);
                previousPayload = 0;
            }

            Status = ProcessContextStatus.NotPublished;
        }
    }
}
