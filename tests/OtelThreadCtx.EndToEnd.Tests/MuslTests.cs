using System.Text.RegularExpressions;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>The musl libraries under musl's own loader: a C program built with musl-gcc (aarch64-linux-musl-gcc) dlopens
/// each library, runs the C API on several threads and holds one record per thread while gdb reads them from outside
/// (x86-64); aarch64 runs the same program under qemu-user with Debian's arm64 musl (musl-dev:arm64).</summary>
public sealed partial class MuslTests(ITestOutputHelper output)
{
    private const string Qemu = "/usr/bin/qemu-aarch64-static";
    private const int Threads = 4;

    [GeneratedRegex(@"^record (?<tid>\d+) (?<trace>[0-9a-f]{32}) (?<span>[0-9a-f]{16}) (?<name>\S+)$", RegexOptions.Multiline)]
    private static partial Regex RecordLine();

    [GeneratedRegex(@"^read (?<tid>\d+) (?<trace>[0-9a-f]{32}) (?<span>[0-9a-f]{16}) (?<valid>\d+) (?<attrs>[0-9a-f]*)$", RegexOptions.Multiline)]
    private static partial Regex ReadLine();

    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    private static string Prebuilt(string architecture) => Repo.Path("artifacts", "native", "Release", "default", "linux-musl-" + architecture, "libotel_thread_ctx.so");

    /// <summary>The library of a mode: the solution's prebuilt default one, or an inline one built here from the sources.</summary>
    private static async Task<string> LibraryAsync(string architecture, bool inline, NativeBuild build)
    {
        if (!inline)
        {
            Assert.True(File.Exists(Prebuilt(architecture)), $"{Prebuilt(architecture)} is missing: build the solution first");
            return Prebuilt(architecture);
        }

        var result = await build.BuildAsync(new Dictionary<string, string>
        {
            ["OtelThreadCtxInline"] = "true", ["OtelThreadCtxTargetArchitecture"] = architecture, ["OtelThreadCtxTargetLibc"] = "musl",
        });
        Assert.True(result.ExitCode == 0, Output(result));
        using var report = NativeBuild.ReadReport(build.OutputReport);
        Assert.Equal("linux-musl-" + architecture, report.RootElement.GetProperty("target").GetString());
        Assert.True(report.RootElement.GetProperty("passed").GetBoolean());
        return build.OutputLibrary;
    }

    private static async Task<string> CompileProbeAsync(string compiler, string folder)
    {
        var executable = Path.Combine(folder, "dlopen_probe");
        var compile = await Tools.RunAsync(compiler,
            ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + Repo.Path("native", "include"),
             Repo.Path("tests", "OtelThreadCtx.EndToEnd.Tests", "native", "dlopen_probe.c"), "-lpthread", "-o", executable]);
        Assert.True(compile.ExitCode == 0, Output(compile));
        // A musl program: musl's loader, no glibc.
        var headers = await Tools.OutputOfAsync("readelf", "-l", "-d", executable);
        Assert.Contains("[Requesting program interpreter: /lib/ld-musl-", headers, StringComparison.Ordinal);
        Assert.DoesNotContain("libc.so.6", headers, StringComparison.Ordinal);
        return executable;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_x64_musl_library_runs_under_musls_loader_and_gdb_reads_every_threads_record(bool inline)
    {
        using var build = new NativeBuild();
        var library = await LibraryAsync("x64", inline, build);
        var executable = await CompileProbeAsync(Tools.Find("musl-gcc"), build.Directory);
        var handshake = Path.Combine(build.Directory, "release");

        var probe = Tools.RunAsync(executable, [library, Threads.ToString(System.Globalization.CultureInfo.InvariantCulture), handshake]);
        string? ready = null;
        for (var waited = 0; waited < 600 && ready is null && !probe.IsCompleted; waited++)
        {
            ready = File.Exists(handshake + ".ready") ? File.ReadAllText(handshake + ".ready") : null;
            if (ready is null)
            {
                await Task.Delay(50);
            }
        }

        string reading;
        try
        {
            Assert.True(ready is not null, probe.IsCompleted ? Output(await probe) : "the probe never became ready");
            var pid = Regex.Match(ready, @"^ready (\d+)$", RegexOptions.Multiline).Groups[1].Value;
            var slot = Regex.Match(await Tools.OutputOfAsync("readelf", "-W", "-r", library), @"^([0-9a-f]+)\s+\S+\s+R_X86_64_TLSDESC\s+\S+\s+otel_thread_ctx_v1\b", RegexOptions.Multiline);
            Assert.True(slot.Success, "no R_X86_64_TLSDESC against otel_thread_ctx_v1");
            var gdb = await Tools.RunAsync("gdb",
                ["-p", pid, "-batch", "-nx", "-ex", $"python LIBRARY='{library}'; SLOT=0x{slot.Groups[1].Value}",
                 "-x", Repo.Path("tests", "OtelThreadCtx.EndToEnd.Tests", "native", "musl_tls_read.py")]);
            reading = gdb.StandardOutput;
            output.WriteLine(Output(gdb));
        }
        finally
        {
            File.WriteAllText(handshake, string.Empty);
        }

        var run = await probe;
        output.WriteLine(Output(run));
        Assert.True(run.ExitCode == 0, Output(run));
        Assert.Contains("dlopen_probe: ok", run.StandardOutput, StringComparison.Ordinal);

        // Every thread's record, as the program published it, read from outside: ids, valid, attribute 0 = thread-<i>.
        var published = RecordLine().Matches(ready!).ToDictionary(m => m.Groups["tid"].Value);
        var read = ReadLine().Matches(reading).ToDictionary(m => m.Groups["tid"].Value);
        Assert.Equal(Threads, published.Count);
        foreach (var (tid, record) in published)
        {
            Assert.True(read.TryGetValue(tid, out var seen), $"gdb read nothing for thread {tid}:\n{reading}");
            Assert.Equal(record.Groups["trace"].Value, seen.Groups["trace"].Value);
            Assert.Equal(record.Groups["span"].Value, seen.Groups["span"].Value);
            Assert.Equal("1", seen.Groups["valid"].Value);
            var name = record.Groups["name"].Value;
            Assert.Equal("00" + name.Length.ToString("x2", System.Globalization.CultureInfo.InvariantCulture) + Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(name)), seen.Groups["attrs"].Value);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_arm64_musl_library_runs_under_qemu_with_debians_arm64_musl_loader(bool inline)
    {
        using var build = new NativeBuild();
        var library = await LibraryAsync("arm64", inline, build);
        Assert.Contains("AArch64", await Tools.OutputOfAsync("readelf", "-h", library), StringComparison.Ordinal);
        var executable = await CompileProbeAsync(Tools.Find("aarch64-linux-musl-gcc"), build.Directory);

        // /lib/ld-musl-aarch64.so.1 and /usr/lib/aarch64-linux-musl/libc.so come from musl:arm64; stdin is empty, so the
        // program releases its threads at once.
        var run = await Tools.RunAsync(Qemu, ["-L", "/", executable, library, Threads.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        output.WriteLine(Output(run));
        Assert.True(run.ExitCode == 0, Output(run));
        Assert.Equal(Threads, RecordLine().Matches(run.StandardOutput).Count);
        Assert.Contains("dlopen_probe: ok", run.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_musl_build_without_musl_stops_with_the_install_line()
    {
        using var build = new NativeBuild();
        var result = await build.BuildAsync(new Dictionary<string, string>
        {
            ["OtelThreadCtxTargetLibc"] = "musl", ["OtelThreadCtxTargetArchitecture"] = "arm64", ["OtelThreadCtxMuslLibraryDirectory"] = build.EmptyFolder() + "/",
        });

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error OTC1206:", Output(result), StringComparison.Ordinal);
        Assert.Contains("apt-get install musl-dev:arm64", Output(result), StringComparison.Ordinal);
        Assert.False(File.Exists(build.OutputLibrary));
    }
}
