using OtelThreadCtx.Build.Tasks.Publishing;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks.Tests;

/// <summary>What the gate trusts (ReportMatch) and how files are published (AtomicFile), on real files.</summary>
public sealed class PublishingTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("otc-publish-").FullName;

    private string Library => Path.Combine(folder, "libx.so");

    private string ReportPath => Library + ".verification.json";

    private void WriteLibraryAndReport(byte[] bytes, string mode = "inline", bool passed = true, string? debugSha256 = null)
    {
        File.WriteAllBytes(Library, bytes);
        var report = new VerificationReport(VerificationReport.CurrentSchemaVersion, Library, AtomicFile.Sha256(Library), mode, "linux-x64", passed,
            new Dictionary<string, ToolReport>(), [], null, [], [], [], DebugSha256: debugSha256, Size: bytes.Length);
        File.WriteAllText(ReportPath, report.ToJson());
    }

    [Fact]
    public void A_library_equal_to_its_report_matches()
    {
        WriteLibraryAndReport([1, 2, 3, 4]);
        Assert.Null(ReportMatch.Mismatch(Library, ReportPath, null, "inline", "linux-x64", null));
    }

    [Theory]
    [InlineData("cut")]
    [InlineData("empty")]
    [InlineData("flipped")]
    [InlineData("report-cut")]
    [InlineData("report-missing")]
    [InlineData("other-mode")]
    [InlineData("failed-without-marker")]
    [InlineData("debug-changed")]
    public void Anything_else_is_a_mismatch_with_the_reason(string fault)
    {
        var debug = Path.Combine(folder, "libx.so.debug");
        File.WriteAllBytes(debug, [9, 9]);
        WriteLibraryAndReport([1, 2, 3, 4], passed: fault != "failed-without-marker", debugSha256: AtomicFile.Sha256(debug));
        switch (fault)
        {
            case "cut": File.WriteAllBytes(Library, [1, 2]); break;
            case "empty": File.WriteAllBytes(Library, []); break;
            case "flipped": File.WriteAllBytes(Library, [1, 2, 3, 5]); break;
            case "report-cut": File.WriteAllText(ReportPath, File.ReadAllText(ReportPath)[..40]); break;
            case "report-missing": File.Delete(ReportPath); break;
            case "debug-changed": File.WriteAllBytes(debug, [9, 8]); break;
        }

        var why = ReportMatch.Mismatch(Library, ReportPath, debug, fault == "other-mode" ? "default" : "inline", "linux-x64", null);

        Assert.NotNull(why);
        Assert.DoesNotContain('\n', why);
    }

    [Fact]
    public void A_report_without_a_size_an_older_schema_is_a_mismatch()
    {
        WriteLibraryAndReport([1, 2, 3, 4]);
        File.WriteAllText(ReportPath, File.ReadAllText(ReportPath).Replace("\"size\": 4", "\"size\": null", StringComparison.Ordinal));
        Assert.Contains("records no size", ReportMatch.Mismatch(Library, ReportPath, null, "inline", "linux-x64", null), StringComparison.Ordinal);
    }

    [Fact]
    public void A_failed_copy_keeps_the_old_destination_and_leaves_no_temporary_file()
    {
        var destination = Path.Combine(folder, "dest.so");
        File.WriteAllBytes(destination, [7, 7, 7]);

        Assert.ThrowsAny<IOException>(() => AtomicFile.Copy(Path.Combine(folder, "missing.so"), destination));

        Assert.Equal([7, 7, 7], File.ReadAllBytes(destination));
        Assert.Single(Directory.GetFiles(folder));
    }

    [Fact]
    public void A_copy_replaces_the_destination_file_rather_than_writing_into_it()
    {
        var source = Path.Combine(folder, "source.so");
        var destination = Path.Combine(folder, "dest.so");
        var hardLinkedTwin = Path.Combine(folder, "cache.so");
        File.WriteAllBytes(source, [1, 2, 3]);
        File.WriteAllBytes(hardLinkedTwin, [4, 5, 6]);
        using (var ln = System.Diagnostics.Process.Start("ln", [hardLinkedTwin, destination]))
        {
            ln.WaitForExit();
            Assert.Equal(0, ln.ExitCode);
        }

        AtomicFile.Copy(source, destination);

        Assert.Equal([1, 2, 3], File.ReadAllBytes(destination));
        Assert.Equal([4, 5, 6], File.ReadAllBytes(hardLinkedTwin));
        Assert.True(File.GetLastWriteTimeUtc(destination) > DateTime.UtcNow.AddMinutes(-1));
    }

    [Fact]
    public void A_copy_keeps_the_source_permission_bits()
    {
        var source = Path.Combine(folder, "linked.so");
        var destination = Path.Combine(folder, "copied.so");
        File.WriteAllBytes(source, [1, 2, 3]);
        File.SetUnixFileMode(source, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute);
        File.WriteAllBytes(destination, [9]);
        File.SetUnixFileMode(destination, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        AtomicFile.Copy(source, destination);

        Assert.Equal(File.GetUnixFileMode(source), File.GetUnixFileMode(destination));
    }

    [Theory]
    [InlineData("default", NativeBuildMode.Default)]
    [InlineData("inline", NativeBuildMode.Inline)]
    [InlineData("true", null)]
    [InlineData("yes", null)]
    [InlineData("Inline", null)]
    [InlineData("", null)]
    public void Tasks_accept_only_the_decided_mode(string mode, NativeBuildMode? expected) =>
        Assert.Equal(expected, NativeBuildModeParser.Parse(mode));

    public void Dispose() => Directory.Delete(folder, recursive: true);
}

/// <summary>OTC1006 for a tool whose --version fails is one line: exit code and the first line of output, if any.</summary>
public sealed class VersionFailureMessageTests
{
    [Theory]
    [InlineData("/bin/false")]
    [InlineData("/bin/true")]
    public async Task A_tool_that_answers_no_banner_gives_a_one_line_OTC1006(string tool)
    {
        var probed = await new ToolResolver(new Processes.ProcessRunner()).ProbeAsync(ToolKind.CCompiler, new ToolCandidate(tool, ToolOrigin.Property), CancellationToken.None);

        var diagnostic = new ToolchainRequirements(NativeBuildMode.Default, TargetArchitecture.X64).Check(probed);

        Assert.Equal(Diagnostics.DiagnosticCodes.VersionUnreadable, diagnostic?.Code);
        Assert.DoesNotContain('\n', diagnostic!.Message);
        Assert.StartsWith($"C compiler at {tool}", diagnostic.Message, StringComparison.Ordinal);
        Assert.Contains($"'{tool} --version'", diagnostic.Message, StringComparison.Ordinal);
        Assert.Contains("Fix:", diagnostic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_silent_failure_says_it_printed_nothing() =>
        Assert.Equal("exited with code 3 and printed nothing", Toolchain.ToolIdentity.Failed("exited with code 3 and printed nothing").Answer);

    [Fact]
    public void Unsupported_architecture_names_the_target_not_the_machine()
    {
        var message = TargetArchitecture.UnsupportedMessage("x86");
        Assert.Contains("OtelThreadCtxTargetArchitecture is 'x86'", message, StringComparison.Ordinal);
        Assert.Contains($"the machine building it is {TargetArchitecture.HostName}", message, StringComparison.Ordinal);
        Assert.DoesNotContain("runs on", message, StringComparison.Ordinal);
    }
}
