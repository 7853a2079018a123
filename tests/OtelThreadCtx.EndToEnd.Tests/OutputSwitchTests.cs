using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Build and publish folders always end with the current mode's library, whatever the timestamps: the package's
/// prebuilt file (byte-equal) after a plain build, the verified inline one after an inline build, switching back and
/// forth into one folder.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class OutputSwitchTests(PackageFeed feed)
{
    private const string Expected = "supported=True bytes=28 span=B7AD6B7169203331 valid=1";
    private const string Inline = "-p:OtelThreadCtxInline=true";

    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    private string PackageLibrary => Path.Combine(feed.Packages, "otelthreadctx", PackageFeed.Version, "runtimes", "linux-x64", "native", "libotel_thread_ctx.so");

    /// <summary>The verified inline library the pipeline published in the project's obj/ folder.</summary>
    private static string VerifiedLibrary(ConsumerProject app) =>
        Assert.Single(Directory.GetFiles(Path.Combine(app.ProjectDirectory, "obj"), "libotel_thread_ctx.so", SearchOption.AllDirectories),
            f => f.Contains(Path.Combine("otelthreadctx", "verified"), StringComparison.Ordinal));

    private async Task AssertIsPackageLibrary(string library)
    {
        Assert.Equal(await File.ReadAllBytesAsync(PackageLibrary), await File.ReadAllBytesAsync(library));
        Assert.Contains("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", library), StringComparison.Ordinal);
    }

    private static async Task AssertIsVerifiedInline(string library, string verified)
    {
        Assert.Equal(await File.ReadAllBytesAsync(verified), await File.ReadAllBytesAsync(library));
        Assert.DoesNotContain("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", library), StringComparison.Ordinal);
        Assert.False(File.Exists(verified + ".unverified"));
    }

    /// <summary>The SDK skips a copy when size and time agree; give the output the source's time to prove it is not trusted.</summary>
    private static void SameTimeAs(string file, string source) => File.SetLastWriteTimeUtc(file, File.GetLastWriteTimeUtc(source));

    [Fact]
    public async Task Build_output_switches_plain_inline_plain_whatever_the_timestamps()
    {
        using var app = new ConsumerProject(feed);
        var bin = Path.Combine(app.ProjectDirectory, "bin", "Debug", "net10.0", "runtimes", "linux-x64", "native", "libotel_thread_ctx.so");

        Assert.Equal(0, (await app.DotnetAsync(null, "build")).ExitCode);
        await AssertIsPackageLibrary(bin);

        var inline = await app.DotnetAsync(null, "build", Inline);
        Assert.True(inline.ExitCode == 0, Output(inline));
        await AssertIsVerifiedInline(bin, VerifiedLibrary(app));

        // The inline file in bin/ now looks, by time, like the package's: only the content tells them apart.
        SameTimeAs(bin, PackageLibrary);
        var plain = await app.DotnetAsync(null, "build");
        Assert.True(plain.ExitCode == 0, Output(plain));
        await AssertIsPackageLibrary(bin);

        SameTimeAs(bin, VerifiedLibrary(app));
        var inlineAgain = await app.DotnetAsync(null, "build", Inline);
        Assert.True(inlineAgain.ExitCode == 0, Output(inlineAgain));
        await AssertIsVerifiedInline(bin, VerifiedLibrary(app));
        Assert.Contains(Expected, (await app.DotnetAsync(null, "run", "--no-build")).StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_into_one_folder_switches_plain_inline_plain()
    {
        using var app = new ConsumerProject(feed);
        var output = Path.Combine(app.ProjectDirectory, "out");
        var published = Path.Combine(output, "libotel_thread_ctx.so");
        string[] publish = ["publish", "-r", "linux-x64", "--self-contained", "false", "-o", output];

        var first = await app.DotnetAsync(null, publish);
        Assert.True(first.ExitCode == 0, Output(first));
        await AssertIsPackageLibrary(published);
        // A RID-specific build names the one copy it ships, with its RID.
        Assert.Contains("OtelThreadCtx: using the package's prebuilt default library for linux-x64 (libotel_thread_ctx.so).", first.StandardOutput, StringComparison.Ordinal);

        var inline = await app.DotnetAsync(null, [.. publish, Inline]);
        Assert.True(inline.ExitCode == 0, Output(inline));
        await AssertIsVerifiedInline(published, VerifiedLibrary(app));

        // The inline file is newer than the package's: publish's PreserveNewest copy alone would keep it.
        var plain = await app.DotnetAsync(null, publish);
        Assert.True(plain.ExitCode == 0, Output(plain));
        await AssertIsPackageLibrary(published);

        // Even an UNVERIFIED inline library (kept in warnings mode: the shim survived) gives way to the package's.
        var unverified = await app.DotnetAsync(null, [.. publish, Inline, "-p:OtelThreadCtxLdFlags=\"-Wl,--no-gc-sections\"", "-p:OtelThreadCtxVerificationFailuresAsWarnings=true"]);
        Assert.True(unverified.ExitCode == 0, Output(unverified));
        Assert.Contains("warning OTC4001:", unverified.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(await File.ReadAllBytesAsync(VerifiedLibrary(app)), await File.ReadAllBytesAsync(published));
        var plainAgain = await app.DotnetAsync(null, publish);
        Assert.True(plainAgain.ExitCode == 0, Output(plainAgain));
        await AssertIsPackageLibrary(published);
    }

    [Fact]
    public async Task Self_contained_single_file_publish_into_one_folder_switches_plain_inline_plain()
    {
        using var app = new ConsumerProject(feed);
        var output = Path.Combine(app.ProjectDirectory, "out-single");
        var published = Path.Combine(output, "libotel_thread_ctx.so");
        string[] publish = ["publish", "-r", "linux-x64", "--self-contained", "true", "-p:PublishSingleFile=true", "-o", output];

        var plain = await app.DotnetAsync(null, publish);
        Assert.True(plain.ExitCode == 0, Output(plain));
        await AssertIsPackageLibrary(published);

        var inline = await app.DotnetAsync(null, [.. publish, Inline]);
        Assert.True(inline.ExitCode == 0, Output(inline));
        await AssertIsVerifiedInline(published, VerifiedLibrary(app));
        Assert.Contains(Expected, (await Tools.RunAsync(Path.Combine(output, "App"), [])).StandardOutput, StringComparison.Ordinal);

        var plainAgain = await app.DotnetAsync(null, publish);
        Assert.True(plainAgain.ExitCode == 0, Output(plainAgain));
        await AssertIsPackageLibrary(published);
        Assert.Contains(Expected, (await Tools.RunAsync(Path.Combine(output, "App"), [])).StandardOutput, StringComparison.Ordinal);
    }
}
