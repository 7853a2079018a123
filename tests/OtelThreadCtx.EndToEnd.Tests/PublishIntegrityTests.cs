using System.Security.Cryptography;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Only a whole, verified library is ever trusted: the gate compares the published library with the size and
/// SHA-256 its report records, and publishing writes each file under a temporary name and renames it into place,
/// the report last. Faults are real: files cut short, and a tmpfs too small for the library or for the report.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class PublishIntegrityTests(PackageFeed feed)
{
    private const string Expected = "supported=True bytes=28 span=B7AD6B7169203331 valid=1";

    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))).ToLowerInvariant();

    /// <summary>The published library is exactly what its report records.</summary>
    private static void AssertMatchesReport(string library, string report)
    {
        using var json = NativeBuild.ReadReport(report);
        Assert.Equal(json.RootElement.GetProperty("sha256").GetString(), Sha256(library));
        Assert.Equal(json.RootElement.GetProperty("size").GetInt64(), new FileInfo(library).Length);
        Assert.True(json.RootElement.GetProperty("passed").GetBoolean());
    }

    [Fact]
    public async Task A_cut_short_empty_or_altered_published_library_or_report_is_rebuilt_never_trusted()
    {
        using var build = new NativeBuild();
        var first = await build.BuildAsync();
        Assert.True(first.ExitCode == 0, Output(first));
        AssertMatchesReport(build.OutputLibrary, build.OutputReport);
        var good = await File.ReadAllBytesAsync(build.OutputLibrary);

        var damages = new (string What, Action Damage)[]
        {
            ("library cut to half", () => File.WriteAllBytes(build.OutputLibrary, good[..(good.Length / 2)])),
            ("library empty", () => File.WriteAllBytes(build.OutputLibrary, [])),
            ("library altered, same size", () => File.WriteAllBytes(build.OutputLibrary, [.. good[..100], (byte)(good[100] ^ 0xff), .. good[101..]])),
            ("report cut short", () => File.WriteAllText(build.OutputReport, File.ReadAllText(build.OutputReport)[..100])),
            ("report empty", () => File.WriteAllText(build.OutputReport, string.Empty)),
        };
        foreach (var (what, damage) in damages)
        {
            damage();

            var again = await build.BuildAsync();

            Assert.True(again.ExitCode == 0, what + ": " + Output(again));
            Assert.DoesNotContain("no native work", again.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("default library verified and published", again.StandardOutput, StringComparison.Ordinal);
            AssertMatchesReport(build.OutputLibrary, build.OutputReport);
            Assert.Equal(good, await File.ReadAllBytesAsync(build.OutputLibrary));
        }

        var untouched = await build.BuildAsync();
        Assert.True(untouched.StandardOutput.Contains("no native work", StringComparison.Ordinal), "the untouched build redid native work:\n" + Output(untouched));
    }

    [SkippableFact]
    public async Task A_disk_too_small_for_the_library_or_the_report_fails_clearly_and_the_next_build_repairs_it()
    {
        Skip.IfNot(Environment.UserName == "root" && OperatingSystem.IsLinux(), "mounting a tmpfs over obj/…/verified needs root (CI runs as root)");
        using var app = new ConsumerProject(feed);
        const string Inline = "-p:OtelThreadCtxInline=true";
        var verified = Path.Combine(app.ProjectDirectory, "obj", "Debug", "net10.0", "otelthreadctx", "verified");
        var library = Path.Combine(verified, "libotel_thread_ctx.so");
        var report = library + ".verification.json";
        var debug = library + ".debug";

        var first = await app.DotnetAsync(null, "build", Inline);
        Assert.True(first.ExitCode == 0, Output(first));
        static long Pages(string file) => (new FileInfo(file).Length + 4095) / 4096;
        var libraryAndDebugPages = Pages(library) + Pages(debug);
        var reportPages = Pages(report);
        foreach (var file in Directory.GetFiles(verified))
        {
            File.Delete(file);
        }

        // Room for less than the library; then room for the library and its debug file but not the report.
        foreach (var (what, kilobytes, failing) in new[] { ("library", 4L, library), ("report", 4 * (libraryAndDebugPages + reportPages - 1), report) })
        {
            await Mount(verified, kilobytes);
            try
            {
                var full = await app.DotnetAsync(null, "build", Inline);

                Assert.NotEqual(0, full.ExitCode);
                Assert.Contains("error OTC4012:", full.StandardOutput, StringComparison.Ordinal);
                Assert.Contains($"writing {failing} failed: No space left on device", full.StandardOutput, StringComparison.Ordinal);
                Assert.False(File.Exists(report), $"tmpfs too small for the {what}: a report was left to trust");
                Assert.Empty(Directory.GetFiles(verified, ".*.tmp"));

                var stillFull = await app.DotnetAsync(null, "build", Inline);
                Assert.NotEqual(0, stillFull.ExitCode);
                Assert.DoesNotContain("no native work", stillFull.StandardOutput, StringComparison.Ordinal);
            }
            finally
            {
                await Unmount(verified);
            }
        }

        var repaired = await app.DotnetAsync(null, "build", Inline);

        Assert.True(repaired.ExitCode == 0, Output(repaired));
        Assert.Contains("inline library verified and published", repaired.StandardOutput, StringComparison.Ordinal);
        AssertMatchesReport(library, report);
        var bin = Path.Combine(app.ProjectDirectory, "bin", "Debug", "net10.0", "runtimes", "linux-x64", "native", "libotel_thread_ctx.so");
        Assert.Equal(await File.ReadAllBytesAsync(library), await File.ReadAllBytesAsync(bin));
        Assert.DoesNotContain("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", bin), StringComparison.Ordinal);
        Assert.Contains(Expected, (await app.DotnetAsync(null, "run", "--no-build")).StandardOutput, StringComparison.Ordinal);
    }

    private static async Task Mount(string folder, long kilobytes)
    {
        var mount = await Tools.RunAsync("mount", ["-t", "tmpfs", "-o", $"size={kilobytes}k", "tmpfs", folder]);
        Assert.True(mount.ExitCode == 0, "mount failed: " + Output(mount));
    }

    private static async Task Unmount(string folder)
    {
        var umount = await Tools.RunAsync("umount", [folder]);
        Assert.True(umount.ExitCode == 0, "umount failed: " + Output(umount));
    }
}
