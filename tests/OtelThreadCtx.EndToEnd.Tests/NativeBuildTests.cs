using System.Text.Json;
using System.Text.RegularExpressions;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Both modes built for real (clang, lld, nm, readelf), then proven with the tools' own output.</summary>
public sealed partial class NativeBuildTests
{
    private static readonly Dictionary<string, string> Inline = new() { ["OtelThreadCtxInline"] = "true" };

    [GeneratedRegex(@"^[0-9a-f]+ <(?<name>[^>]+)>:$", RegexOptions.Multiline)]
    private static partial Regex FunctionHeader();

    [Fact]
    public async Task Inline_build_passes_every_check_and_the_tools_agree()
    {
        using var build = new NativeBuild();

        var result = await build.BuildAsync(Inline);

        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        Assert.Contains("inline libotel_thread_ctx.so (linux-x64) verified: 7/7 checks passed", result.StandardOutput, StringComparison.Ordinal);
        using var report = NativeBuild.ReadReport(build.OutputReport);
        Assert.True(report.RootElement.GetProperty("passed").GetBoolean());
        Assert.Equal("inline", report.RootElement.GetProperty("mode").GetString());
        Assert.Contains(report.RootElement.GetProperty("link").GetProperty("arguments").EnumerateArray(), a => a.GetString() == "-Wl,-mllvm,-enable-tlsdesc");
        Assert.Equal(2, report.RootElement.GetProperty("compile").GetArrayLength());
        Assert.Equal("Clang", report.RootElement.GetProperty("tools").GetProperty("compiler").GetProperty("flavor").GetString());

        // The real tools, run here on the published file, say the same.
        var nm = await Tools.OutputOfAsync("nm", build.OutputLibrary);
        Assert.DoesNotContain("otel_thread_ctx_shim_slot", nm, StringComparison.Ordinal);
        Assert.Contains("otel_thread_ctx_attach", nm, StringComparison.Ordinal);
        var relocations = await Tools.OutputOfAsync("readelf", "-W", "-r", build.OutputLibrary);
        Assert.Matches(@"R_X86_64_TLSDESC\s+0+ otel_thread_ctx_v1", relocations);
        Assert.DoesNotContain("DTPMOD64", relocations, StringComparison.Ordinal);
        var symbols = await Tools.OutputOfAsync("readelf", "-W", "--dyn-syms", build.OutputLibrary);
        Assert.Matches(@"\s8 TLS\s+GLOBAL DEFAULT\s+\d+ otel_thread_ctx_v1", symbols);
    }

    [Fact]
    public async Task Default_build_passes_every_check_and_keeps_the_shim_call()
    {
        using var build = new NativeBuild();

        var result = await build.BuildAsync();

        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        Assert.Contains("default libotel_thread_ctx.so (linux-x64) verified: 7/7 checks passed", result.StandardOutput, StringComparison.Ordinal);
        var attach = await DisassembleAsync(build.OutputLibrary, "otel_thread_ctx_attach");
        Assert.Matches(@"call\s+[0-9a-f]+ <otel_thread_ctx_shim_slot>", attach);
    }

    /// <summary>A default build may use gcc (docs/errors.md, OTC1001): the sources must compile with it, warnings as errors
    /// (a clang-only pragma once stopped it), and the library pass the same checks.</summary>
    [Fact]
    public async Task Default_build_with_gcc_passes_every_check()
    {
        using var build = new NativeBuild();

        var result = await build.BuildAsync(new Dictionary<string, string> { ["OtelThreadCtxClangPath"] = Tools.Find("gcc") });

        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        Assert.Contains("default libotel_thread_ctx.so (linux-x64) verified: 7/7 checks passed", result.StandardOutput, StringComparison.Ordinal);
        using var report = NativeBuild.ReadReport(build.OutputReport);
        Assert.Equal("Gcc", report.RootElement.GetProperty("tools").GetProperty("compiler").GetProperty("flavor").GetString());
        Assert.Matches(@"R_X86_64_TLSDESC\s+[0-9a-f]+ otel_thread_ctx_v1", await Tools.OutputOfAsync("readelf", "-W", "-r", build.OutputLibrary));
    }

    [Fact]
    public async Task Inline_api_functions_reach_the_variable_through_tlsdesc_without_calling_the_accessor()
    {
        using var build = new NativeBuild();
        var result = await build.BuildAsync(Inline);
        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);

        string[] slotUsers =
        [
            "otel_thread_ctx_attach", "otel_thread_ctx_detach", "otel_thread_ctx_current", "otel_thread_ctx_update_begin",
            "otel_thread_ctx_update_end", "otel_thread_ctx_update_ids", "otel_thread_ctx_read_current",
        ];
        foreach (var function in slotUsers)
        {
            var body = await DisassembleAsync(build.OutputLibrary, function);
            // TLSDESC: load the descriptor address, call through it, then an %fs-relative access.
            Assert.Matches(@"lea\s+0x[0-9a-f]+\(%rip\),%rax[^\n]*\n[^\n]*call\s+\*\(%rax\)", body);
            Assert.Contains("%fs:", body, StringComparison.Ordinal);
            Assert.DoesNotContain("shim_slot", body, StringComparison.Ordinal);
            Assert.DoesNotContain("__tls_get_addr", body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Second_identical_build_does_no_native_work_and_a_mode_change_rebuilds()
    {
        using var build = new NativeBuild();
        var first = await build.BuildAsync(Inline);
        Assert.True(first.ExitCode == 0, first.StandardOutput + first.StandardError);
        var stamp = File.GetLastWriteTimeUtc(build.OutputLibrary);

        var second = await build.BuildAsync(Inline);

        Assert.True(second.ExitCode == 0, second.StandardOutput);
        Assert.Contains("is up to date; no native work", second.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("compiled", second.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("C compiler:", second.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(build.OutputLibrary));

        var switched = await build.BuildAsync();

        Assert.True(switched.ExitCode == 0, switched.StandardOutput);
        Assert.Contains("default libotel_thread_ctx.so (linux-x64) verified", switched.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("otel_thread_ctx_shim_slot", await Tools.OutputOfAsync("nm", build.OutputLibrary), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Clean_removes_the_library_and_the_intermediates()
    {
        using var build = new NativeBuild();
        Assert.Equal(0, (await build.BuildAsync()).ExitCode);

        var clean = await build.BuildAsync(target: "OtelThreadCtxClean");

        Assert.Equal(0, clean.ExitCode);
        Assert.False(File.Exists(build.OutputLibrary));
        Assert.False(Directory.Exists(Path.Combine(build.Directory, "obj", "otelthreadctx", "Release")));
    }

    [Fact]
    public async Task Llvm_nm_and_llvm_readelf_verify_as_well()
    {
        using var build = new NativeBuild();
        var properties = new Dictionary<string, string>(Inline)
        {
            ["OtelThreadCtxNmPath"] = Tools.Find("llvm-nm-19", "llvm-nm"),
            ["OtelThreadCtxReadElfPath"] = Tools.Find("llvm-readelf-19", "llvm-readelf"),
        };

        var result = await build.BuildAsync(properties);

        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        using var report = NativeBuild.ReadReport(build.OutputReport);
        Assert.Equal("Llvm", report.RootElement.GetProperty("tools").GetProperty("readelf").GetProperty("flavor").GetString());
        Assert.All(report.RootElement.GetProperty("checks").EnumerateArray(), c => Assert.True(c.GetProperty("passed").GetBoolean()));
    }

    [Fact]
    public async Task Rust_toolchain_lld_is_the_last_resort_for_the_linker()
    {
        using var build = new NativeBuild();
        var bin = build.BinWith(("clang-19", Tools.Find("clang-19")), ("nm", Tools.Find("nm")), ("readelf", Tools.Find("readelf")));
        var properties = new Dictionary<string, string>(Inline) { ["OtelThreadCtxSearchPath"] = bin, ["OtelThreadCtxLlvmInstallRoot"] = build.EmptyFolder() };
        var home = Environment.GetEnvironmentVariable("HOME") ?? "/root";
        var hasRust = File.Exists(Path.Combine(home, ".cargo", "bin", "rustc"));

        var result = await build.BuildAsync(properties);

        if (hasRust)
        {
            Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
            using var report = NativeBuild.ReadReport(build.OutputReport);
            var linker = report.RootElement.GetProperty("tools").GetProperty("linker");
            Assert.Equal("RustToolchain", linker.GetProperty("origin").GetString());
            Assert.Contains("gcc-ld", linker.GetProperty("path").GetString(), StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("error OTC1002:", result.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("the Rust toolchain", result.StandardOutput, StringComparison.Ordinal);
        }
    }

    private static async Task<string> DisassembleAsync(string library, string function)
    {
        var text = await Tools.OutputOfAsync("objdump", "-d", "--no-show-raw-insn", library);
        var headers = FunctionHeader().Matches(text).ToList();
        var index = headers.FindIndex(m => m.Groups["name"].Value == function);
        Assert.True(index >= 0, $"{function} not found in the disassembly");
        var start = headers[index].Index;
        var end = index + 1 < headers.Count ? headers[index + 1].Index : text.Length;
        return text[start..end];
    }
}
