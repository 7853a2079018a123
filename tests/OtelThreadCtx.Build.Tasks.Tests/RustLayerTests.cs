using OtelThreadCtx.Build.Tasks.Native;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks.Tests;

/// <summary>The Rust layer's pure parts: version banners, the pairing rules with rustc's LLVM, the cargo command, the
/// version script's exports, and the disassembly check over real objdump output shapes.</summary>
public sealed class RustLayerTests
{
    private static ResolvedTool Tool(ToolKind kind, string path, ToolFlavor flavor, int major) =>
        new(kind, path, ToolOrigin.SearchPath, new ToolIdentity(flavor, new ToolVersion(major, 1, 0), "Debian", $"{flavor} {major}.1.0"));

    private static readonly ToolchainRequirements InlineWithRust22 = new(NativeBuildMode.Inline, TargetArchitecture.X64) { RustLlvmVersion = new ToolVersion(22, 1, 2) };

    [Fact]
    public void Rustc_verbose_version_gives_release_llvm_and_host()
    {
        const string banner = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\ncommit-hash: 59807616e1fa\ncommit-date: 2026-04-14\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
        var parsed = RustVersionParser.ParseRustc(banner);
        Assert.Equal(new ToolVersion(1, 95, 0), parsed!.Value.Rustc);
        Assert.Equal(new ToolVersion(22, 1, 2), parsed.Value.Llvm);
        Assert.Equal("x86_64-unknown-linux-gnu", parsed.Value.Host);
        Assert.Null(RustVersionParser.ParseRustc("gcc (Debian 12.2.0-14) 12.2.0"));
        Assert.Equal("1.95.0", RustVersionParser.ParseCargo("cargo 1.95.0 (f2d3ce0bd 2026-03-21)\n"));
        Assert.Null(RustVersionParser.ParseCargo("rustc 1.95.0"));
    }

    [Fact]
    public void With_rustc_22_the_lld_19_is_refused_and_rusts_lld_pairs_with_clang_19()
    {
        var clang19 = Tool(ToolKind.CCompiler, "/usr/bin/clang-19", ToolFlavor.Clang, 19);
        var lld19 = Tool(ToolKind.Linker, "/usr/bin/ld.lld-19", ToolFlavor.Lld, 19);
        var rustLld = Tool(ToolKind.Linker, "/rust/gcc-ld/ld.lld", ToolFlavor.Lld, 22);
        Assert.Equal("OTC1112", InlineWithRust22.CheckPair(clang19, lld19)!.Code);
        Assert.Null(InlineWithRust22.CheckPair(clang19, rustLld));

        var rejected = new List<string>();
        var pair = ToolchainPairing.Choose([clang19], [lld19, rustLld], InlineWithRust22, rejected);
        Assert.Equal("/rust/gcc-ld/ld.lld", pair!.Value.Linker.Path);
        Assert.Contains(rejected, r => r.Contains("OTC1112", StringComparison.Ordinal));
    }

    [Fact]
    public void A_clang_newer_than_rustc_is_refused_even_beside_a_new_enough_lld()
    {
        var clang23 = Tool(ToolKind.CCompiler, "/usr/bin/clang-23", ToolFlavor.Clang, 23);
        var lld23 = Tool(ToolKind.Linker, "/usr/bin/ld.lld-23", ToolFlavor.Lld, 23);
        var problem = InlineWithRust22.CheckPair(clang23, lld23);
        Assert.Equal("OTC1111", problem!.Code);
        Assert.Contains("clang 22 or older", problem.Message, StringComparison.Ordinal);

        // A default build links rustc's objects, not bitcode: no rule applies.
        var defaultBuild = new ToolchainRequirements(NativeBuildMode.Default, TargetArchitecture.X64) { RustLlvmVersion = new ToolVersion(22, 1, 2) };
        Assert.Null(defaultBuild.CheckPair(clang23, Tool(ToolKind.Linker, "/usr/bin/ld.lld-19", ToolFlavor.Lld, 19)));
    }

    [Fact]
    public void Cargo_runs_offline_locked_under_the_given_target_folder_with_the_modes_flags_overriding_the_environment()
    {
        var inline = CargoCommandBuilder.Build(NativeBuildMode.Inline, "/c/cargo", "/c/rustc", "/src/ffi/Cargo.toml", "/obj/cargo", "x86_64-unknown-linux-gnu", false, ["/src=/project"], ["-Cdebuginfo=1"]);
        Assert.Equal(["build", "--release", "--lib", "--offline", "--locked", "--manifest-path", "/src/ffi/Cargo.toml", "--target-dir", "/obj/cargo", "--message-format=short"], inline.Arguments);
        Assert.Equal("-Clinker-plugin-lto\u001f-Ccodegen-units=1\u001f--remap-path-prefix=/src=/project\u001f-Cdebuginfo=1", inline.Environment["CARGO_ENCODED_RUSTFLAGS"]);
        Assert.Equal("/c/rustc", inline.Environment["RUSTC"]);
        Assert.True(inline.Environment.ContainsKey("RUSTFLAGS"));
        Assert.Null(inline.Environment["RUSTFLAGS"]);
        Assert.Contains("CARGO_ENCODED_RUSTFLAGS=$'-Clinker-plugin-lto\\x1f-Ccodegen-units=1", inline.ToCommandLine(), StringComparison.Ordinal);

        var cross = CargoCommandBuilder.Build(NativeBuildMode.Default, "/c/cargo", "/c/rustc", "/src/ffi/Cargo.toml", "/obj/cargo", "aarch64-unknown-linux-gnu", true, [], []);
        Assert.Equal(["--target", "aarch64-unknown-linux-gnu"], cross.Arguments.TakeLast(2));
        Assert.DoesNotContain("-Clinker-plugin-lto", cross.Environment["CARGO_ENCODED_RUSTFLAGS"], StringComparison.Ordinal);
        Assert.Equal("/obj/cargo/aarch64-unknown-linux-gnu/release/libmy.a", CargoCommandBuilder.StaticLibraryPath("/obj/cargo", "my", "aarch64-unknown-linux-gnu", true));
    }

    [Fact]
    public void The_static_library_name_comes_from_the_staticlib_target_of_cargo_metadata()
    {
        const string metadata = """
            {"packages":[{"name":"my-ffi","manifest_path":"/src/ffi/Cargo.toml","targets":[
              {"name":"my-ffi","kind":["staticlib","rlib"],"crate_types":["staticlib","rlib"]}]}]}
            """;
        Assert.Equal("my_ffi", BuildRustCrateTask.StaticLibraryName(metadata, "/src/ffi/Cargo.toml"));
        Assert.Null(BuildRustCrateTask.StaticLibraryName(metadata.Replace("\"staticlib\",", "", StringComparison.Ordinal), "/src/ffi/Cargo.toml"));
    }

    [Fact]
    public void The_version_scripts_exports_are_read_without_comments_or_wildcards()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, "/* exports */\n{\n  global:\n    otel_thread_ctx_v1;\n    my_attach; /* hot */\n    my_detach;\n  local:\n    *;\n};\n");
        try
        {
            Assert.Equal(["otel_thread_ctx_v1", "my_attach", "my_detach"], VersionScript.ExportedNames(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static LibraryInspection Exporting(params string[] functions) => new(
        [], [],
        [.. functions.Select((f, i) => new ElfSymbol(i + 1, 32, "FUNC", "GLOBAL", "DEFAULT", "12", f, $"{i + 1}: FUNC GLOBAL {f}")),
         new ElfSymbol(99, 8, "TLS", "GLOBAL", "DEFAULT", "20", "otel_thread_ctx_v1", "99: TLS GLOBAL otel_thread_ctx_v1")],
        [], [], []);

    private static readonly VerificationExpectations InlineX64 = new(NativeBuildMode.Inline, TargetArchitecture.X64, "otel_thread_ctx_shim_slot");

    // Shapes of GNU objdump -d --no-show-raw-insn output, as printed for the sample's inline and default builds.
    private const string Inlined = """
        0000000000001b70 <otel_thread_ctx_attach>:
            1b70:	push   %rax
            1b71:	lea    0x1408(%rip),%rax        # 2f80 <otel_thread_ctx_v1@@Base+0x2f80>
            1b78:	call   *(%rax)
            1b7a:	mov    %fs:(%rax),%rcx
            1b7e:	mov    %rdi,%fs:(%rax)
            1b86:	ret

        0000000000001cc0 <otel_thread_ctx_record_new>:
            1cc0:	push   %rbx
            1cc1:	call   1d90 <calloc@plt>
            1cd0:	ret
        """;

    private const string CallsShim = """
        0000000000001a00 <otel_thread_ctx_shim_slot>:
            1a00:	lea    0x15f9(%rip),%rax        # 3000 <otel_thread_ctx_v1@@Base+0x3000>
            1a07:	call   *(%rax)
            1a09:	add    %fs:0x0,%rax
            1a12:	ret

        0000000000001b70 <otel_thread_ctx_attach>:
            1b70:	push   %rbx
            1b71:	call   1a00 <otel_thread_ctx_shim_slot>
            1b76:	mov    (%rax),%rcx
            1b86:	ret
        """;

    [Fact]
    public void Exported_functions_holding_the_tlsdesc_sequence_pass_and_those_calling_an_accessor_fail()
    {
        var inspection = Exporting("otel_thread_ctx_attach", "otel_thread_ctx_record_new");
        var pass = ExportedFunctionChecks.Inlined(DisassemblyReader.Parse(Inlined), inspection, InlineX64);
        Assert.True(pass.Passed, string.Join('\n', pass.Evidence));
        Assert.Contains(pass.Evidence, e => e.StartsWith("otel_thread_ctx_attach: TLSDESC inline", StringComparison.Ordinal));
        Assert.Contains("otel_thread_ctx_record_new: does not touch the slot", pass.Evidence);

        var fail = ExportedFunctionChecks.Inlined(DisassemblyReader.Parse(CallsShim), Exporting("otel_thread_ctx_attach"), InlineX64);
        Assert.False(fail.Passed);
        Assert.Equal("OTC4011", fail.Code);
        Assert.Contains("otel_thread_ctx_attach: CALLS otel_thread_ctx_shim_slot (the slot is reached out of line)", fail.Evidence);

        // Renamed accessor: still an out-of-line function holding the sequence, still a failure.
        var renamed = CallsShim.Replace("otel_thread_ctx_shim_slot", "get_slot_internal", StringComparison.Ordinal);
        Assert.False(ExportedFunctionChecks.Inlined(DisassemblyReader.Parse(renamed), Exporting("otel_thread_ctx_attach"), InlineX64).Passed);

        // Nothing reaches the slot at all: not an inline layer either.
        Assert.False(ExportedFunctionChecks.Inlined(DisassemblyReader.Parse(Inlined), Exporting("otel_thread_ctx_record_new"), InlineX64).Passed);
    }

    [Fact]
    public void A_call_through_a_got_slot_holding_the_accessors_address_is_an_out_of_line_call()
    {
        // The default build's shape: rustc reaches the extern accessor through the GOT; the slot holds its address.
        const string throughGot = """
            0000000000001a00 <otel_thread_ctx_shim_slot>:
                1a00:	lea    0x15f9(%rip),%rax        # 3000 <otel_thread_ctx_v1@@Base+0x3000>
                1a07:	call   *(%rax)
                1a12:	ret

            0000000000001bf0 <otel_thread_ctx_attach>:
                1bf0:	push   %rbx
                1bf4:	call   *0x1456(%rip)        # 3050 <_DYNAMIC+0x1e0>
                1c04:	ret
            """;
        var inspection = Exporting("otel_thread_ctx_attach") with
        {
            Relocations = [new ElfRelocation(".rela.dyn", "R_X86_64_RELATIVE", null, "0000000000003050  0000000000000008 R_X86_64_RELATIVE                         1a00")],
        };
        var result = ExportedFunctionChecks.Inlined(DisassemblyReader.Parse(throughGot), inspection, InlineX64);
        Assert.False(result.Passed);
        Assert.Contains("otel_thread_ctx_attach: CALLS otel_thread_ctx_shim_slot (the slot is reached out of line)", result.Evidence);

        // The same call through a slot that holds something else (calloc's address from the dynamic linker) is fine.
        var other = inspection with { Relocations = [new ElfRelocation(".rela.dyn", "R_X86_64_GLOB_DAT", "calloc", "0000000000003050  0000000300000006 R_X86_64_GLOB_DAT 0000000000000000 calloc + 0")] };
        Assert.DoesNotContain(ExportedFunctionChecks.Inlined(DisassemblyReader.Parse(throughGot), other, InlineX64).Evidence, e => e.Contains("CALLS", StringComparison.Ordinal));
    }

    [Fact]
    public void A_function_holding_the_sequence_may_also_call_a_cold_helper_that_reaches_tls()
    {
        // otel_thread_ctx_set: the state pointer read inline, a first-use set-up out of line that records the slot.
        const string withColdPath = """
            0000000000002200 <thread_state_create>:
                2200:	lea    0x1b00(%rip),%rax        # 3d10 <otel_thread_ctx_v1@@Base+0x3d10>
                2207:	call   *(%rax)
                2230:	ret

            0000000000002a00 <otel_thread_ctx_set>:
                2a00:	lea    0x1378(%rip),%rax        # 3d78 <_DYNAMIC+0x218>
                2a07:	call   *(%rax)
                2a09:	mov    %fs:(%rax),%rbx
                2a20:	call   2200 <thread_state_create>
                2a40:	ret
            """;
        var result = ExportedFunctionChecks.Inlined(DisassemblyReader.Parse(withColdPath), Exporting("otel_thread_ctx_set"), InlineX64);
        Assert.True(result.Passed, string.Join('\n', result.Evidence));
        Assert.Contains("also calls thread_state_create", Assert.Single(result.Evidence), StringComparison.Ordinal);
    }

    [Fact]
    public void The_aarch64_tlsdesc_sequence_is_recognised()
    {
        const string arm = """
            0000000000010a40 <otel_thread_ctx_attach>:
               10a40:	stp	x29, x30, [sp, #-16]!
               10a44:	adrp	x0, 0x20000
               10a48:	ldr	x1, [x0, #3968]
               10a4c:	add	x0, x0, #0xf80
               10a50:	blr	x1
               10a54:	mrs	x8, TPIDR_EL0
               10a58:	ret
            """;
        var function = Assert.Single(DisassemblyReader.Parse(arm));
        Assert.NotNull(DisassemblyReader.TlsDescSequence(function, "arm64"));
        Assert.Null(DisassemblyReader.TlsDescSequence(function, "x64"));
    }
}
