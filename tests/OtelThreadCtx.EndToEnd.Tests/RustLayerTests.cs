using System.Runtime.InteropServices;
using System.Text.Json;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>samples/RustLayer built by the OtelThreadCtx.Sdk project SDK restored from the local feed: a Rust crate
/// linked with the C shim, default (shim called) and inline (cross-language ThinLTO, rustc 1.95 / LLVM 22 bitcode with
/// clang-19 bitcode through Rust's LLD), verified, then loaded by .NET and read back.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class RustLayerTests(PackageFeed feed) : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("otc-rust-layer-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Sample()
    {
        var sample = Repo.Path("samples", "RustLayer");
        foreach (var file in new[] { "RustLayer.csproj", "otel_thread_ctx_rust.map", "ffi/Cargo.toml", "ffi/Cargo.lock", "ffi/src/lib.rs" })
        {
            var target = Path.Combine(folder, file);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(sample, file), target, overwrite: true);
        }

        var project = Path.Combine(folder, "RustLayer.csproj");
        File.WriteAllText(project, File.ReadAllText(project).Replace("OtelThreadCtx.Sdk/0.2.0", $"OtelThreadCtx.Sdk/{PackageFeed.Version}", StringComparison.Ordinal));
        feed.WriteNuGetConfig(folder);
        return folder;
    }

    private async Task<(int ExitCode, string Output)> Build(bool inline, params string[] properties)
    {
        var result = await Tools.RunAsync(ConsumerProject.DotnetHost,
            ["build", $"-p:OtelThreadCtxInline={(inline ? "true" : "false")}", "-nodeReuse:false", .. properties.Select(p => $"-p:{p}")],
            new Dictionary<string, string?> { ["NUGET_PACKAGES"] = feed.Packages }, folder);
        return (result.ExitCode, result.StandardOutput + result.StandardError);
    }

    private string Library(bool inline) => Path.Combine(folder, "out", inline ? "inline" : "default", "libotel_thread_ctx_rust.so");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_rust_layer_builds_verifies_and_publishes_records_dotnet_reads_back(bool inline)
    {
        Sample();
        var (exit, output) = await Build(inline);
        Assert.True(exit == 0, output);
        Assert.Contains(inline ? "verified: 8/8 checks passed" : "verified: 7/7 checks passed", output, StringComparison.Ordinal);
        var library = Library(inline);

        // nm: the shim is called (default) or gone (inline).
        Assert.Equal(!inline, (await Tools.OutputOfAsync("nm", library)).Contains("otel_thread_ctx_shim_slot", StringComparison.Ordinal));
        // readelf: the one TLS relocation is TLSDESC and names the variable.
        var relocations = await Tools.OutputOfAsync("readelf", "-W", "-r", library);
        Assert.Matches(@"R_X86_64_TLSDESC\s+0+\s+otel_thread_ctx_v1", relocations);
        Assert.DoesNotContain("DTPMOD", relocations, StringComparison.Ordinal);
        // objdump: the Rust function holds the TLSDESC call itself (inline), or calls the shim (default: through the GOT
        // slot the linker filled with the shim's address, since rustc reaches an extern function the PIC way).
        var disassembly = await Tools.OutputOfAsync("objdump", "-d", "--no-show-raw-insn", library);
        var attach = Function(disassembly, "otel_thread_ctx_attach");
        Assert.Equal(inline, attach.Contains("call   *(%rax)", StringComparison.Ordinal));
        if (!inline)
        {
            var slot = System.Text.RegularExpressions.Regex.Match(attach, @"call\s+\*0x[0-9a-f]+\(%rip\)\s+#\s+([0-9a-f]+)").Groups[1].Value;
            var shimAddress = System.Text.RegularExpressions.Regex.Match(disassembly, @"([0-9a-f]+) <otel_thread_ctx_shim_slot>:").Groups[1].Value.TrimStart('0');
            Assert.Matches($@"(?m)^0*{slot}\s+\S+\s+R_X86_64_RELATIVE\s+{shimAddress}$", relocations);
        }
        // Nothing but the API is exported.
        var exported = (await Tools.OutputOfAsync("nm", "-D", "--defined-only", library)).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ').Last()).ToHashSet(StringComparer.Ordinal);
        Assert.True(exported.All(n => n.StartsWith("otel_thread_ctx_", StringComparison.Ordinal)), string.Join(", ", exported));
        // Exactly the C layer's exports (otel_thread_ctx_v1 and the functions of native/include/otel_thread_ctx.h), as its
        // version script names them.
        var api = File.ReadLines(Repo.Path("native", "otel_thread_ctx.map")).Select(l => l.Trim())
            .SkipWhile(l => l != "global:").Skip(1).TakeWhile(l => l != "local:").Select(l => l.TrimEnd(';')).ToHashSet(StringComparer.Ordinal);
        Assert.True(api.Count > 20, string.Join(", ", api));
        Assert.Equal(api.Order(StringComparer.Ordinal), exported.Order(StringComparer.Ordinal));

        // The report: cargo and rustc (with rustc's LLVM) and the exact cargo command.
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(library + ".verification.json"));
        var rust = report.RootElement.GetProperty("rust");
        Assert.Matches(@"^\d+\.\d+\.\d+", rust.GetProperty("cargoVersion").GetString());
        Assert.Matches(@"^\d+\.\d+\.\d+$", rust.GetProperty("llvmVersion").GetString());
        var command = rust.GetProperty("crates")[0].GetProperty("command").GetString()!;
        Assert.Contains("--offline", command, StringComparison.Ordinal);
        Assert.Equal(inline, command.Contains("-Clinker-plugin-lto", StringComparison.Ordinal));
        if (inline)
        {
            var check = report.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("id").GetString() == "exported-functions-inline");
            Assert.True(check.GetProperty("passed").GetBoolean());
            Assert.Contains(check.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.StartsWith("otel_thread_ctx_update_ids: TLSDESC inline", StringComparison.Ordinal));
            // rustc's bitcode needs an LLD of rustc's LLVM or newer: the build chose Rust's own.
            Assert.Contains("gcc-ld/ld.lld", report.RootElement.GetProperty("tools").GetProperty("linker").GetProperty("path").GetString(), StringComparison.Ordinal);
        }

        // Incremental: nothing changed, no cargo run.
        var (again, againOutput) = await Build(inline);
        Assert.True(again == 0, againOutput);
        Assert.DoesNotContain("built Rust crate", againOutput, StringComparison.Ordinal);

        // A published Rust layer cut short is not trusted: the next build publishes the verified one again.
        var whole = await File.ReadAllBytesAsync(library);
        await File.WriteAllBytesAsync(library, whole[..4096]);
        var (repaired, repairedOutput) = await Build(inline);
        Assert.True(repaired == 0, repairedOutput);
        Assert.Contains("is not the one its report describes", repairedOutput, StringComparison.Ordinal);
        Assert.Equal(whole, await File.ReadAllBytesAsync(library));

        ReadBack(library);

        // Destructors calling the layer on an exiting thread after its own (native/exit_destructor.c): no state is made
        // that nothing would free (nor the freed one used), so no exited thread keeps counting the record.
        Assert.Contains("exit_destructor: ok", await RunCAgainstAsync("exit_destructor.c", library), StringComparison.Ordinal);

        // Attaches racing the Dispose of the record they name and the reuse of its block (native/stale_reuse.c): a count
        // taken back after the reuse must not cancel the next record's (it did, when reuse reset the count).
        Assert.Contains("stale_reuse: ok", await RunCAgainstAsync("stale_reuse.c", library), StringComparison.Ordinal);

        // The checked Dispose (native/dispose_checked.c): a stale or wrong user value is refused, and two Disposes of one
        // record at once free it once and leave the next record in its block whole.
        Assert.Contains("dispose_checked: ok", await RunCAgainstAsync("dispose_checked.c", library), StringComparison.Ordinal);
    }

    /// <summary>Builds native/<paramref name="source"/> against <paramref name="library"/>, runs it, and returns what it
    /// printed (the run must exit 0).</summary>
    private async Task<string> RunCAgainstAsync(string source, string library)
    {
        var probe = Path.Combine(folder, Path.GetFileNameWithoutExtension(source));
        var compile = await Tools.RunAsync(Tools.Find("clang-19"),
            ["-std=c11", "-O2", "-Wall", "-Werror", "-I" + Repo.Path("native", "include"), Repo.Path("tests", "OtelThreadCtx.EndToEnd.Tests", "native", source),
             library, "-Wl,-rpath," + Path.GetDirectoryName(library), "-lpthread", "-o", probe]);
        Assert.True(compile.ExitCode == 0, compile.StandardOutput + compile.StandardError);
        var run = await Tools.RunAsync(probe, []);
        Assert.True(run.ExitCode == 0, run.StandardOutput + run.StandardError);
        return run.StandardOutput;
    }

    [Fact]
    public async Task Inline_with_an_lld_older_than_rustc_fails_with_the_fix_and_publishes_nothing()
    {
        Sample();
        var (exit, output) = await Build(true, "OtelThreadCtxLldPath=" + Tools.Find("ld.lld-19"));
        Assert.NotEqual(0, exit);
        Assert.Contains("error OTC1112", output, StringComparison.Ordinal);
        Assert.Contains("OtelThreadCtxUseRustLld=true", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Library(true)));
    }

    [Fact]
    public async Task An_arm64_rust_layer_needs_rusts_arm64_standard_library()
    {
        Sample();
        var sysroot = (await Tools.OutputOfAsync(RustTool("rustc"), "--print", "sysroot")).Trim();
        var installed = Directory.Exists(Path.Combine(sysroot, "lib", "rustlib", "aarch64-unknown-linux-gnu", "lib"));
        var (exit, output) = await Build(false, "OtelThreadCtxTargetArchitecture=arm64");
        if (installed)
        {
            // rustup target add aarch64-unknown-linux-gnu was run here: the layer cross-builds and verifies.
            Assert.True(exit == 0, output);
            Assert.Contains("R_AARCH64_TLSDESC", await File.ReadAllTextAsync(Path.Combine(folder, "out", "default", "libotel_thread_ctx_rust.so.verification.json")), StringComparison.Ordinal);
        }
        else
        {
            Assert.NotEqual(0, exit);
            Assert.Contains("error OTC1113", output, StringComparison.Ordinal);
            Assert.Contains("rustup target add aarch64-unknown-linux-gnu", output, StringComparison.Ordinal);
        }
    }

    /// <summary>A cargo that answers like the real one except for `build`, which runs <paramref name="build"/>.</summary>
    private string FakeCargo(string build)
    {
        var real = RustTool("cargo");
        var fake = Path.Combine(folder, "fake-cargo");
        File.WriteAllText(fake, $"#!/bin/sh\nif [ \"$1\" = build ]; then {build}; fi\nexec '{real}' \"$@\"\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return fake;
    }

    /// <summary>A Rust tool where rustup puts it (~/.cargo/bin), else on PATH.</summary>
    private static string RustTool(string name)
    {
        var rustup = Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/root", ".cargo", "bin", name);
        return File.Exists(rustup) ? rustup : Tools.Find(name);
    }

    [Fact]
    public async Task A_cargo_that_hangs_is_stopped_at_the_time_limit_and_one_stopped_by_ctrl_c_is_a_cancellation()
    {
        Sample();
        var (exit, output) = await Build(false, "OtelThreadCtxCargoPath=" + FakeCargo("exec sleep 600"), "OtelThreadCtxRustcPath=" + RustTool("rustc"), "OtelThreadCtxToolTimeout=5");
        Assert.NotEqual(0, exit);
        Assert.Contains("error OTC6001", output, StringComparison.Ordinal);
        Assert.DoesNotContain("OTC2005", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Library(false)));

        // What SIGINT to the process group does to cargo: it dies of the signal.
        (exit, output) = await Build(false, "OtelThreadCtxCargoPath=" + FakeCargo("kill -INT $$; sleep 5"), "OtelThreadCtxRustcPath=" + RustTool("rustc"));
        Assert.NotEqual(0, exit);
        Assert.Contains("error OTC6002", output, StringComparison.Ordinal);
        Assert.DoesNotContain("OTC2005", output, StringComparison.Ordinal);

        // The next build, with the real cargo, recovers.
        (exit, output) = await Build(false);
        Assert.True(exit == 0, output);
        Assert.True(File.Exists(Library(false)));
    }

    [Fact]
    public async Task Missing_cargo_is_a_resolve_error_that_names_where_it_looked()
    {
        Sample();
        var (exit, output) = await Build(false, "OtelThreadCtxCargoPath=/nonexistent/bin/cargo");
        Assert.NotEqual(0, exit);
        Assert.Contains("error OTC1010", output, StringComparison.Ordinal);
        Assert.Contains("/nonexistent/bin/cargo", output, StringComparison.Ordinal);
        Assert.Contains("rustup.rs", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_crate_without_a_staticlib_and_a_crate_that_does_not_compile_are_build_errors()
    {
        Sample();
        var manifest = Path.Combine(folder, "ffi", "Cargo.toml");
        var original = await File.ReadAllTextAsync(manifest);
        await File.WriteAllTextAsync(manifest, original.Replace("crate-type = [\"staticlib\"]", "crate-type = [\"rlib\"]", StringComparison.Ordinal));
        var (exit, output) = await Build(false);
        Assert.NotEqual(0, exit);
        Assert.Contains("error OTC2006", output, StringComparison.Ordinal);

        await File.WriteAllTextAsync(manifest, original);
        await File.AppendAllTextAsync(Path.Combine(folder, "ffi", "src", "lib.rs"), "\nfn broken() -> u32 { \"not a number\" }\n");
        (exit, output) = await Build(false);
        Assert.NotEqual(0, exit);
        Assert.Contains("error OTC2005", output, StringComparison.Ordinal);
        Assert.Contains("mismatched types", output, StringComparison.Ordinal);
        Assert.False(File.Exists(Library(false)));
    }

    /// <summary>Loads the Rust library the way the managed wrapper loads the C one (function pointers from
    /// NativeLibrary), attaches records on this thread, updates them, and reads back the bytes a profiler would see.</summary>
    private static unsafe void ReadBack(string library)
    {
        var handle = NativeLibrary.Load(library);
        try
        {
            nint Export(string name) => NativeLibrary.GetExport(handle, name);
            var recordNew = (delegate* unmanaged<nint>)Export("otel_thread_ctx_record_new");
            var recordFree = (delegate* unmanaged<nint, void>)Export("otel_thread_ctx_record_free");
            var setIds = (delegate* unmanaged<nint, byte*, byte*, byte, void>)Export("otel_thread_ctx_record_set_ids");
            var addAttr = (delegate* unmanaged<nint, byte, byte*, nuint, int>)Export("otel_thread_ctx_record_add_attr");
            var attach = (delegate* unmanaged<nint, nint>)Export("otel_thread_ctx_attach");
            var detach = (delegate* unmanaged<nint>)Export("otel_thread_ctx_detach");
            var updateIds = (delegate* unmanaged<byte*, byte*, byte, int>)Export("otel_thread_ctx_update_ids");
            var readCurrent = (delegate* unmanaged<byte*, nuint, nuint>)Export("otel_thread_ctx_read_current");

            var trace = Convert.FromHexString("0af7651916cd43dd8448eb211c80319c");
            var span = Convert.FromHexString("b7ad6b7169203331");
            var route = "/orders/{id}"u8.ToArray();
            var buffer = new byte[640];
            var first = recordNew();
            var second = recordNew();
            fixed (byte* t = trace, s = span, r = route, b = buffer)
            {
                Assert.Equal(-1, updateIds(t, s, 1)); // nothing attached yet
                Assert.Equal(0u, readCurrent(b, 640));

                setIds(first, t, s, 1);
                Assert.Equal(0, addAttr(first, 0, r, (nuint)route.Length));
                Assert.Equal(0, attach(first));
                Assert.Equal((nuint)(28 + 2 + route.Length), readCurrent(b, 640));
                Assert.Equal(trace, buffer[..16]);
                Assert.Equal(span, buffer[16..24]);
                Assert.Equal(1, buffer[24]); // valid
                Assert.Equal(1, buffer[25]); // sampled
                Assert.Equal(2 + route.Length, BitConverter.ToUInt16(buffer, 26));
                Assert.Equal(0, buffer[28]); // key index
                Assert.Equal(route.Length, buffer[29]);
                Assert.Equal(route, buffer[30..(30 + route.Length)]);

                // Swap in another complete record: attach returns the one it replaced.
                var otherSpan = Convert.FromHexString("00f067aa0ba902b7");
                fixed (byte* o = otherSpan)
                {
                    setIds(second, t, o, 0);
                }

                Assert.Equal(first, attach(second));
                Assert.Equal(28u, readCurrent(b, 640));
                Assert.Equal(otherSpan, buffer[16..24]);
                Assert.Equal(0, buffer[25]);

                // In place, inside the valid bracket.
                Assert.Equal(0, updateIds(t, s, 1));
                Assert.Equal(28u, readCurrent(b, 640));
                Assert.Equal(span, buffer[16..24]);
                Assert.Equal(1, buffer[24]);

                // Another thread publishes nothing: the slot is per thread.
                var readAddress = Export("otel_thread_ctx_read_current");
                nuint elsewhere = 99;
                var thread = new Thread(() => elsewhere = ReadOn(readAddress));
                thread.Start();
                thread.Join();
                Assert.Equal(0u, elsewhere);

                Assert.Equal(second, detach());
                Assert.Equal(0u, readCurrent(b, 640));
            }

            recordFree(first);
            recordFree(second);
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }

    private static unsafe nuint ReadOn(nint readCurrent)
    {
        var buffer = stackalloc byte[640];
        return ((delegate* unmanaged<byte*, nuint, nuint>)readCurrent)(buffer, 640);
    }

    private static string Function(string disassembly, string name)
    {
        var start = disassembly.IndexOf($"<{name}>:", StringComparison.Ordinal);
        Assert.True(start >= 0, $"{name} not in the disassembly");
        var end = disassembly.IndexOf("\n\n", start, StringComparison.Ordinal);
        return end < 0 ? disassembly[start..] : disassembly[start..end];
    }
}
