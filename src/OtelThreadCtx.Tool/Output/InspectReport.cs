namespace OtelThreadCtx.Tool.Output;

/// <summary>`inspect --json`.</summary>
internal sealed record InspectReport(
    string Tool,
    int SchemaVersion,
    string Command,
    int Pid,
    bool Ok,
    ProcessContextReport ProcessContext,
    VariableReport Variable,
    IReadOnlyList<ThreadReport> Threads,
    StopStatistics Stops,
    IReadOnlyList<string> Problems);

/// <summary>The OTEP 4719 process context as read.</summary>
internal sealed record ProcessContextReport(
    bool Found,
    bool Decoded,
    string? Mapping,
    uint Version,
    uint PayloadSize,
    ulong MonotonicPublishedAtNs,
    IReadOnlyDictionary<string, string> Resource,
    IReadOnlyDictionary<string, string> Attributes,
    string? ThreadlocalSchemaVersion,
    IReadOnlyList<string>? AttributeKeyMap,
    IReadOnlyList<string> Problems,
    string? Error)
{
    public static ProcessContextReport Missing(string why) => new(false, false, null, 0, 0, 0, Empty, Empty, null, null, [], why);

    public static ProcessContextReport Failed(string mapping, string why) => new(true, false, mapping, 0, 0, 0, Empty, Empty, null, null, [], why);

    private static readonly Dictionary<string, string> Empty = [];
}

/// <summary>Where otel_thread_ctx_v1 lives in the process and how the tool reaches it.</summary>
internal sealed record VariableReport(
    bool Found,
    string? Module,
    string? Model,
    string? Tls,
    string? Libc,
    string? Detail,
    long? ThreadPointerOffset,
    ulong? ModuleId,
    ulong? OffsetInBlock,
    string? Error);

/// <summary>One thread: how long it was stopped, where its slot is and what record it points at.</summary>
internal sealed record ThreadReport(
    int Tid,
    string Name,
    double StoppedMicroseconds,
    string? ThreadPointer,
    string? SlotAddress,
    string? RecordAddress,
    RecordReport? Record,
    string? Error,
    string? Note);

/// <summary>A record as OTEP 4947 lays it out (attributes named through threadlocal.attribute_key_map).</summary>
internal sealed record RecordReport(
    string TraceId,
    string SpanId,
    int TraceFlags,
    int Valid,
    int AttrsDataSize,
    IReadOnlyList<AttributeReport> Attributes,
    IReadOnlyList<string> Problems);

internal sealed record AttributeReport(int KeyIndex, string? Key, string Value);

/// <summary>How long the reader kept target threads stopped (PTRACE_INTERRUPT to PTRACE_DETACH).</summary>
internal sealed record StopStatistics(int Threads, double MeanMicroseconds, double MedianMicroseconds, double MaxMicroseconds);
