namespace OtelThreadCtx.Build.Tasks.Verification;

/// <summary>What nm and readelf said about one library, parsed.</summary>
public sealed record LibraryInspection(
    IReadOnlyList<NmSymbol> Symbols,
    IReadOnlyList<NmSymbol> DynamicSymbolsNm,
    IReadOnlyList<ElfSymbol> DynamicSymbols,
    IReadOnlyList<ElfRelocation> Relocations,
    IReadOnlyList<ElfProgramHeader> ProgramHeaders,
    IReadOnlyList<ElfDynamicEntry> DynamicEntries);

/// <summary>What the verification expects of the library.</summary>
public sealed record VerificationExpectations(NativeBuildMode Mode, TargetArchitecture Architecture, string ShimSymbol, string TlsSymbol = "otel_thread_ctx_v1")
{
    /// <summary>The C library the library was built for; musl adds the check that it needs nothing else.</summary>
    public TargetLibc Libc { get; init; } = TargetLibc.Gnu;
}

/// <summary>The result of one check, with the tool output lines that decided it.</summary>
public sealed record CheckResult(string Id, bool Passed, string? Code, string Message, IReadOnlyList<string> Evidence);
