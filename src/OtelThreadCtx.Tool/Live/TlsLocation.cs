namespace OtelThreadCtx.Tool.Live;

/// <summary>How the DTV is laid out in this process's C library (glibc from its _thread_db_* symbols; musl by its ABI).</summary>
internal sealed record DtvLayout(string Libc, long DtvPointerOffset, int EntrySize, int ValueOffset, bool HasLengthEntry);

/// <summary>
/// Where a thread's otel_thread_ctx_v1 is, given its thread pointer: either at a fixed offset from it (static TLS) or
/// through the thread's DTV (dynamic TLS: module id and offset in the module's block).
/// </summary>
internal sealed class TlsLocation
{
    private TlsLocation(long? tpOffset, ulong moduleId, ulong blockOffset, DtvLayout? dtv)
    {
        ThreadPointerOffset = tpOffset;
        ModuleId = moduleId;
        BlockOffset = blockOffset;
        Dtv = dtv;
    }

    public long? ThreadPointerOffset { get; }

    public ulong ModuleId { get; }

    public ulong BlockOffset { get; }

    public DtvLayout? Dtv { get; }

    public bool IsStatic => ThreadPointerOffset is not null;

    public static TlsLocation Static(long offset) => new(offset, 0, 0, null);

    public static TlsLocation Dynamic(ulong moduleId, ulong offset, DtvLayout dtv) => new(null, moduleId, offset, dtv);

    /// <summary>The slot's address for the thread whose thread pointer is <paramref name="tp"/>; null with a reason when
    /// the thread has no TLS block for the module yet (it never touched the variable: no record).</summary>
    public ulong? SlotAddress(ulong tp, RemoteMemory memory, out string? why, out bool notAllocated)
    {
        why = null;
        notAllocated = false;
        if (ThreadPointerOffset is { } offset)
        {
            return unchecked(tp + (ulong)offset);
        }

        var dtv = Dtv!;
        if (!memory.TryReadU64(unchecked(tp + (ulong)dtv.DtvPointerOffset), out var vector) || vector == 0)
        {
            why = "cannot read the thread's DTV pointer";
            return null;
        }

        if (dtv.HasLengthEntry && memory.TryReadU64(vector - (ulong)dtv.EntrySize, out var length) && ModuleId > length)
        {
            why = $"the thread's DTV has {length} entries, not yet module {ModuleId}: the thread never touched the variable (no record)";
            notAllocated = true;
            return null;
        }

        if (!memory.TryReadU64(vector + (ModuleId * (ulong)dtv.EntrySize) + (ulong)dtv.ValueOffset, out var block))
        {
            why = $"cannot read DTV entry {ModuleId}";
            return null;
        }

        if (block == 0 || block == ulong.MaxValue)
        {
            why = "the module's TLS block is not allocated in this thread: the thread never touched the variable (no record)";
            notAllocated = true;
            return null;
        }

        return block + BlockOffset;
    }
}
