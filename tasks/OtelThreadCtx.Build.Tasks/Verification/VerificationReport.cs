using System.Text.Json;
using System.Text.Json.Serialization;

namespace OtelThreadCtx.Build.Tasks.Verification;

public sealed record ToolReport(string Path, string Flavor, string? Version, string Vendor, string Origin, string Banner);

public sealed record CompileCommandEntry(string Directory, string File, string Output, IReadOnlyList<string> Arguments, string Command);

public sealed record LinkCommandEntry(string Output, IReadOnlyList<string> Arguments, string Command);

public sealed record CheckReport(string Id, bool Passed, string? Code, string Message, IReadOnlyList<string> Evidence);

/// <summary><c>libotel_thread_ctx.so.verification.json</c>: what was built, with which tools and commands,
/// and each check with the tool output that decided it. Read by CI pipelines and by the build's own tests.</summary>
public sealed record VerificationReport(
    int SchemaVersion,
    string Library,
    string? Sha256,
    string Mode,
    string Target,
    bool Passed,
    IReadOnlyDictionary<string, ToolReport> Tools,
    IReadOnlyList<CompileCommandEntry> Compile,
    LinkCommandEntry? Link,
    IReadOnlyList<string> InspectionCommands,
    IReadOnlyList<CheckReport> Checks,
    IReadOnlyList<string> Errors,
    IReadOnlyDictionary<string, string>? SourceSha256 = null,
    string? DebugFile = null,
    string? DebugSha256 = null,
    RustBuildRecord? Rust = null,
    long? Size = null)
{
    /// <summary>2: adds sourceSha256 (each compiled source's SHA-256) and the debug file with its SHA-256.
    /// 3: adds rust (cargo and rustc with rustc's LLVM, and each crate's exact cargo command) for builds with a Rust layer.
    /// 4: adds size (the library's length in bytes): with sha256, what the up-to-date gate compares the published library to.</summary>
    public const int CurrentSchemaVersion = 4;

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static VerificationReport? FromJson(string json) => JsonSerializer.Deserialize<VerificationReport>(json, JsonOptions);

    /// <summary>One line for the build output.</summary>
    public string Summary()
    {
        var passed = Checks.Count(c => c.Passed);
        var verdict = Passed ? "verified" : "FAILED verification";
        return $"OtelThreadCtx: {Mode} {System.IO.Path.GetFileName(Library)} ({Target}) {verdict}: {passed}/{Checks.Count} checks passed [{string.Join(", ", Checks.Select(c => (c.Passed ? "ok " : "FAIL ") + c.Id))}]";
    }
}

/// <summary>The command records that the compile and link steps leave in the intermediate folder.</summary>
public static class CommandRecords
{
    public static void WriteCompile(string path, IReadOnlyList<CompileCommandEntry> entries) =>
        File.WriteAllText(path, JsonSerializer.Serialize(entries, VerificationReport.JsonOptions));

    public static IReadOnlyList<CompileCommandEntry> ReadCompile(string? path) =>
        path is not null && File.Exists(path)
            ? JsonSerializer.Deserialize<List<CompileCommandEntry>>(File.ReadAllText(path), VerificationReport.JsonOptions) ?? []
            : [];

    public static void WriteLink(string path, LinkCommandEntry entry) =>
        File.WriteAllText(path, JsonSerializer.Serialize(entry, VerificationReport.JsonOptions));

    public static LinkCommandEntry? ReadLink(string? path) =>
        path is not null && File.Exists(path)
            ? JsonSerializer.Deserialize<LinkCommandEntry>(File.ReadAllText(path), VerificationReport.JsonOptions)
            : null;
}

/// <summary>One crate cargo built: its static library and the exact command (with the environment cargo ran in).</summary>
public sealed record RustCrateBuild(string Manifest, string LibraryName, string StaticLibrary, IReadOnlyList<string> Arguments, string Command, IReadOnlyDictionary<string, string> Environment);

/// <summary>The Rust part of a build: cargo and rustc (versions, rustc's LLVM) and each crate's build.</summary>
public sealed record RustBuildRecord(string Cargo, string CargoVersion, string Rustc, string RustcVersion, string LlvmVersion, string Target, IReadOnlyList<RustCrateBuild> Crates)
{
    public static RustBuildRecord? Read(string? path) =>
        path is not null && File.Exists(path)
            ? System.Text.Json.JsonSerializer.Deserialize<RustBuildRecord>(File.ReadAllText(path), VerificationReport.JsonOptions)
            : null;
}
