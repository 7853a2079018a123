using System.Runtime.InteropServices;

namespace OtelThreadCtx.ProcessContext;

/// <summary>Writes the OTEP 4719 process context: a mapping whose 32-byte header points at a protobuf payload.
/// Header: <c>signature[8] = "OTEL_CTX"</c>, <c>version u32 = 2</c>, <c>payload_size u32</c>,
/// <c>monotonic_published_at_ns u64</c> (CLOCK_BOOTTIME; 0 while an update is under way; a new value on every
/// update), <c>payload u64</c> (an address in this process). The steps follow the OTEP's Publication and Updating
/// Protocols (docs/process-context.md numbers them). One writer at a time: every call takes the lock.</summary>
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

    /// <summary>Publishes <paramref name="encodedPayload"/> (an encoded <c>ProcessContext</c>) on the first call, or
    /// replaces the published one with the update protocol.</summary>
    public ProcessContextStatus Publish(ReadOnlySpan<byte> encodedPayload)
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

            var newPayload = (nint)NativeMemory.Alloc((nuint)Math.Max(1, encodedPayload.Length));
            encodedPayload.CopyTo(new Span<byte>((void*)newPayload, encodedPayload.Length));
            var header = (byte*)mapping;

            if (first)
            {
                // Publication 7-9: every header field but the timestamp, a full barrier, the timestamp last (a reader
                // that sees it non-zero sees a complete header).
                for (var i = 0; i < Signature.Length; i++)
                {
                    header[i] = Signature[i];
                }

                WriteU32(header + 8, Version);
                WriteU32(header + 12, (uint)encodedPayload.Length);
                WriteU64(header + 24, (ulong)newPayload);
                Interlocked.MemoryBarrier();
                WriteU64(header + 16, NextTimestamp());
            }
            else
            {
                // Updating 2-6: timestamp 0, barrier, the new payload's pointer and size, barrier, a new timestamp.
                WriteU64(header + 16, 0);
                Interlocked.MemoryBarrier();
                WriteU64(header + 24, (ulong)newPayload);
                WriteU32(header + 12, (uint)encodedPayload.Length);
                Interlocked.MemoryBarrier();
                WriteU64(header + 16, NextTimestamp());
            }

            Interlocked.MemoryBarrier();
            // Publication 10 / Updating 7: named after every publish, unconditionally, as the protocol asks (eBPF
            // readers may hook prctl). A memfd is found by its own name when naming is refused; an anonymous mapping
            // is not, so without a name the context is not available (Publication, last paragraph).
            if (!system.Name(mapping, length, MappingName) && Status == ProcessContextStatus.AnonymousMapping)
            {
                WriteU64(header + 16, 0);
                system.Unmap(mapping, length);
                mapping = 0;
                NativeMemory.Free((void*)newPayload);
                Status = ProcessContextStatus.NotAvailable;
                return Status;
            }

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

    /// <summary>Publication 2-5: a memfd mapping (or, refused, an anonymous one) that a fork()ed child does not inherit.
    /// Any failure but the memfd's is a failed publication.</summary>
    private bool CreateMapping()
    {
        mapping = system.MapMemfd(MappingName, length);
        Status = ProcessContextStatus.Memfd;
        if (mapping == 0)
        {
            mapping = system.MapAnonymous(length);
            Status = ProcessContextStatus.AnonymousMapping;
        }

        if (mapping == 0)
        {
            return false;
        }

        if (!system.DontFork(mapping, length))
        {
            system.Unmap(mapping, length);
            mapping = 0;
            return false;
        }

        new Span<byte>((void*)mapping, HeaderSize).Clear();
        return true;
    }

    /// <summary>CLOCK_BOOTTIME in nanoseconds, strictly increasing across publishes (two in the same nanosecond, or a
    /// clock that failed, still give different, non-zero values), so that a reader always sees an update.</summary>
    private ulong NextTimestamp()
    {
        lastTimestamp = Math.Max(system.BootTimeNanoseconds(), lastTimestamp + 1);
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
