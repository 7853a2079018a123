namespace OtelThreadCtx.Tool.Output;

/// <summary>`watch --json`: the summary at the end of the run.</summary>
internal sealed record WatchReport(
    string Tool,
    int SchemaVersion,
    string Command,
    int Pid,
    bool Ok,
    double Hz,
    double ElapsedSeconds,
    int Rounds,
    int Samples,
    int SamplesWithRecord,
    int ValidSamples,
    double ValidShare,
    IReadOnlyList<TraceCount> Traces,
    IReadOnlyList<AttributeCount> Attributes,
    StopStatistics Stops,
    double ReaderCpuShare,
    VariableReport Variable,
    IReadOnlyList<string> Problems);

internal sealed record TraceCount(string TraceId, int Samples);

internal sealed record AttributeCount(string Key, string Value, int Samples);
