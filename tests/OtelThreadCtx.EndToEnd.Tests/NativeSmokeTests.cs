using OtelThreadCtx.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>The C API from C (native/smoke.c, native/pool.c, native/bias.c, native/exit_destructor.c) on several threads, against the libraries the build produces:
/// x86-64 natively, aarch64 under qemu-user with Debian's cross libc.</summary>
public sealed class NativeSmokeTests(ITestOutputHelper output)
{
    private const string Qemu = "/usr/bin/qemu-aarch64-static";
    private const string CrossLibc = "/usr/aarch64-linux-gnu";

    private static string Output(CliWrap.Buffered.BufferedCommandResult r) => r.StandardOutput + r.StandardError;

    private Task<string> RunSmokeAsync(string architecture, string libraryFolder) => RunCAsync("smoke.c", architecture, libraryFolder);

    private async Task<string> RunCAsync(string source, string architecture, string libraryFolder)
    {
        var work = Directory.CreateTempSubdirectory("otc-smoke-").FullName;
        try
        {
            var executable = Path.Combine(work, Path.GetFileNameWithoutExtension(source));
            string[] target = architecture == "arm64" ? ["--target=aarch64-linux-gnu", "-fuse-ld=lld"] : [];
            var compile = await Tools.RunAsync(Tools.Find("clang-19"),
                [.. target, "-std=c11", "-O2", "-Wall", "-Werror", "-I" + Repo.Path("native", "include"), Repo.Path("tests", "OtelThreadCtx.EndToEnd.Tests", "native", source),
                 "-L" + libraryFolder, "-lotel_thread_ctx", "-lpthread", "-o", executable]);
            Assert.True(compile.ExitCode == 0, Output(compile));

            var run = architecture == "arm64"
                ? await Tools.RunAsync(Qemu, ["-L", CrossLibc, "-E", "LD_LIBRARY_PATH=" + libraryFolder, executable])
                : await Tools.RunAsync(executable, [], new Dictionary<string, string?> { ["LD_LIBRARY_PATH"] = libraryFolder });
            output.WriteLine(Output(run));
            Assert.True(run.ExitCode == 0, Output(run));
            return run.StandardOutput;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Theory]
    [InlineData("x64")]
    [InlineData("arm64")]
    public async Task The_prebuilt_default_library_passes_the_c_smoke_test(string architecture)
    {
        var folder = Repo.Path("artifacts", "native", "Release", "default", "linux-" + architecture);
        Assert.True(File.Exists(Path.Combine(folder, "libotel_thread_ctx.so")), $"{folder} has no library: build the solution first");

        Assert.Contains("smoke: ok", await RunSmokeAsync(architecture, folder), StringComparison.Ordinal);
    }

    /// <summary>Record blocks under threads (native/pool.c): reuse with a clean header, a published record never handed
    /// out again, records disposed on another thread than their creator's, thread exit frees the pool and releases.</summary>
    [Theory]
    [InlineData("default", "x64")]
    [InlineData("inline", "x64")]
    [InlineData("default", "arm64")]
    public async Task Record_blocks_are_reused_per_thread_and_never_while_published(string mode, string architecture) =>
        Assert.Contains("pool: ok", await RunCAgainstAsync("pool.c", mode, architecture), StringComparison.Ordinal);

    /// <summary>Destructors that call the library on an exiting thread after its own destructor (native/exit_destructor.c):
    /// they get no new thread state, which nothing would ever free, so no exited thread keeps counting a record and the
    /// record can be disposed.</summary>
    [Theory]
    [InlineData("default", "x64")]
    [InlineData("inline", "x64")]
    [InlineData("default", "arm64")]
    public async Task A_destructor_that_runs_after_the_librarys_leaves_nothing_counted(string mode, string architecture) =>
        Assert.Contains("exit_destructor: ok", await RunCAgainstAsync("exit_destructor.c", mode, architecture), StringComparison.Ordinal);

    /// <summary>Attaches on two threads racing the Dispose of the record they name and the reuse of its block
    /// (native/stale_reuse.c): no Dispose succeeds while a thread publishes the record, and Disposes keep succeeding
    /// (threads that waited for a Dispose's outcome used to make every Dispose of the record refuse, for good).</summary>
    [Theory]
    [InlineData("default", "x64")]
    [InlineData("inline", "x64")]
    [InlineData("default", "arm64")]
    public async Task Attaches_racing_dispose_and_reuse_never_publish_a_freed_record_nor_starve_the_dispose(string mode, string architecture) =>
        Assert.Contains("stale_reuse: ok", await RunCAgainstAsync("stale_reuse.c", mode, architecture), StringComparison.Ordinal);

    /// <summary>The checked Dispose (native/dispose_checked.c): a wrong, zero or stale user value is refused and changes
    /// nothing, and of two threads disposing one record at once exactly one frees it while the creating thread's next
    /// record, in the same block, stays whole.</summary>
    [Theory]
    [InlineData("default", "x64")]
    [InlineData("inline", "x64")]
    [InlineData("default", "arm64")]
    public async Task A_checked_dispose_frees_one_use_once_and_never_the_next_record_in_its_block(string mode, string architecture) =>
        Assert.Contains("dispose_checked: ok", await RunCAgainstAsync("dispose_checked.c", mode, architecture), StringComparison.Ordinal);

    /// <summary>Runs native/<paramref name="source"/> against the default library the solution build made, or an inline
    /// one built here (the solution build makes only the default library).</summary>
    private async Task<string> RunCAgainstAsync(string source, string mode, string architecture)
    {
        if (mode == "inline")
        {
            using var build = new NativeBuild();
            var result = await build.BuildAsync(new Dictionary<string, string> { ["OtelThreadCtxInline"] = "true" });
            Assert.True(result.ExitCode == 0, Output(result));
            return await RunCAsync(source, architecture, Path.GetDirectoryName(build.OutputLibrary)!);
        }

        var folder = Repo.Path("artifacts", "native", "Release", "default", "linux-" + architecture);
        Assert.True(File.Exists(Path.Combine(folder, "libotel_thread_ctx.so")), $"{folder} has no library: build the solution first");
        return await RunCAsync(source, architecture, folder);
    }

    /// <summary>The biased Dispose (native/bias.c): the process-wide barriers it runs, counted per thread, follow the policy
    /// (revoked at the first attach elsewhere, back on after 64, then 128 unshared Disposes), and a creator disposing its
    /// records while another thread attaches them, revocations all along, never frees a record that thread publishes.</summary>
    [Theory]
    [InlineData("default", "x64")]
    [InlineData("inline", "x64")]
    [InlineData("default", "arm64")]
    public async Task A_biased_dispose_is_revoked_by_the_first_attach_elsewhere_and_never_frees_a_published_record(string mode, string architecture)
    {
        var text = await RunCAgainstAsync("bias.c", mode, architecture);
        Assert.Contains("bias: ok", text, StringComparison.Ordinal);
        Assert.Contains("registered (bias on)", text, StringComparison.Ordinal); // this kernel (and qemu-user) run the expedited barrier
    }

    [Fact]
    public async Task An_inline_arm64_library_cross_built_here_is_verified_and_passes_under_qemu()
    {
        using var build = new NativeBuild();
        var result = await build.BuildAsync(new Dictionary<string, string> { ["OtelThreadCtxInline"] = "true", ["OtelThreadCtxTargetArchitecture"] = "arm64" });
        Assert.True(result.ExitCode == 0, Output(result));

        using var report = NativeBuild.ReadReport(build.OutputReport);
        Assert.Equal("linux-arm64", report.RootElement.GetProperty("target").GetString());
        Assert.True(report.RootElement.GetProperty("passed").GetBoolean());
        Assert.DoesNotContain("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", build.OutputLibrary), StringComparison.Ordinal);
        Assert.Matches(@"R_AARCH64_TLSDESC\s+\S+\s+otel_thread_ctx_v1", await Tools.OutputOfAsync("readelf", "-r", build.OutputLibrary));

        Assert.Contains("smoke: ok", await RunSmokeAsync("arm64", Path.GetDirectoryName(build.OutputLibrary)!), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cross_build_without_the_target_libc_stops_with_the_install_line()
    {
        using var build = new NativeBuild();
        var result = await build.BuildAsync(new Dictionary<string, string> { ["OtelThreadCtxTargetArchitecture"] = "arm64", ["OtelThreadCtxSysroot"] = build.EmptyFolder() });

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error OTC1202:", Output(result), StringComparison.Ordinal);
        Assert.Contains("libc6-dev-arm64-cross", Output(result), StringComparison.Ordinal);
        Assert.False(File.Exists(build.OutputLibrary));
    }
}
