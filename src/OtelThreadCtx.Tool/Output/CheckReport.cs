namespace OtelThreadCtx.Tool.Output;

/// <summary>`check --json`: one entry per file.</summary>
internal sealed record CheckReport(string Tool, int SchemaVersion, string Command, bool Ok, IReadOnlyList<FileReport> Files);

internal sealed record FileReport(
    string Path,
    bool Ok,
    string? Error,
    string? Machine,
    string? Kind,
    SymbolReport? Symbol,
    IReadOnlyList<AccessReport> AccessModels,
    HardeningReport? Hardening,
    VerificationReport? Verification,
    IReadOnlyList<string> Problems,
    IReadOnlyList<string> Warnings);

internal sealed record SymbolReport(string Name, bool Found, string? Type, string? Bind, string? Visibility, ulong Size, ulong Value);

internal sealed record AccessReport(string Model, string Verdict, bool Acceptable, int Relocations);

internal sealed record HardeningReport(bool Relro, bool BindNow, bool NonExecutableStack);

/// <summary>The `.verification.json` written beside a library this project built, compared by sha256.</summary>
internal sealed record VerificationReport(string Path, string? Expected, string Actual, bool Matches, bool? Passed);
