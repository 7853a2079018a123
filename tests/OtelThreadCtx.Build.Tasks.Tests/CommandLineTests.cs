using OtelThreadCtx.Build.Tasks.Native;
using OtelThreadCtx.Build.Tasks.Processes;
using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks.Tests;

public class CommandLineTests
{
    private static readonly ResolvedTool Clang = new(ToolKind.CCompiler, "/usr/bin/clang-19", ToolOrigin.SearchPath, VersionBannerParser.Parse("Debian clang version 19.1.7"));
    private static readonly ResolvedTool Gcc = new(ToolKind.CCompiler, "/usr/bin/gcc", ToolOrigin.SearchPath, VersionBannerParser.Parse("gcc (Debian 12.2.0-14) 12.2.0\nFree Software Foundation"));
    private static readonly ResolvedTool Lld = new(ToolKind.Linker, "/usr/lib/llvm-19/bin/ld.lld", ToolOrigin.LlvmInstallDirectory, VersionBannerParser.Parse("Debian LLD 19.1.7"));

    private static NativeBuildSettings Settings(NativeBuildMode mode, ResolvedTool compiler, TargetArchitecture? arch = null) =>
        new(mode, arch ?? TargetArchitecture.X64, compiler) { Linker = Lld, IncludeDirectories = ["/src/include"] };

    [Fact]
    public void Inline_compile_writes_thinlto_bitcode_without_a_dialect_flag()
    {
        var args = CompileCommandBuilder.Build(Settings(NativeBuildMode.Inline, Clang), "/src/tls_shim.c", "/obj/tls_shim.o").Arguments;

        Assert.Contains("-flto=thin", args);
        Assert.DoesNotContain("-mtls-dialect=gnu2", args);
        Assert.Contains("-ffunction-sections", args);
        Assert.Contains("-Werror", args);
        Assert.Contains("-std=c11", args);
        Assert.Equal(["-c", "/src/tls_shim.c", "-o", "/obj/tls_shim.o"], args.TakeLast(4));
    }

    [Fact]
    public void Default_compile_on_x64_asks_for_tlsdesc()
    {
        var args = CompileCommandBuilder.Build(Settings(NativeBuildMode.Default, Gcc), "/src/tls_shim.c", "/obj/tls_shim.o").Arguments;

        Assert.Contains("-mtls-dialect=gnu2", args);
        Assert.DoesNotContain("-flto=thin", args);
        Assert.Contains("-I/src/include", args);
    }

    [Fact]
    public void Default_compile_on_arm64_needs_no_dialect_flag() =>
        Assert.DoesNotContain("-mtls-dialect=gnu2",
            CompileCommandBuilder.Build(Settings(NativeBuildMode.Default, Clang, TargetArchitecture.Arm64), "/a.c", "/a.o").Arguments);

    [Fact]
    public void Inline_link_uses_lld_thinlto_tlsdesc_gc_sections_and_hardening()
    {
        var invocation = LinkCommandBuilder.Build(Settings(NativeBuildMode.Inline, Clang), ["/obj/a.o", "/obj/b.o"], "/src/lib.map", "/out/libotel_thread_ctx.so");

        Assert.Equal("/usr/bin/clang-19", invocation.ToolPath);
        var args = invocation.Arguments;
        Assert.Contains("-fuse-ld=lld", args);
        Assert.Contains("--ld-path=/usr/lib/llvm-19/bin/ld.lld", args);
        Assert.Contains("-flto=thin", args);
        Assert.Contains("-Wl,-mllvm,-enable-tlsdesc", args);
        Assert.Contains("-Wl,--gc-sections", args);
        Assert.Contains("-Wl,--version-script=/src/lib.map", args);
        Assert.Contains("-Wl,-z,relro", args);
        Assert.Contains("-Wl,-z,now", args);
        Assert.Contains("-Wl,-z,noexecstack", args);
        Assert.Contains("-Wl,-soname,libotel_thread_ctx.so", args);
    }

    [Fact]
    public void Default_link_has_no_lto_and_no_tlsdesc_codegen_flag()
    {
        var args = LinkCommandBuilder.Build(Settings(NativeBuildMode.Default, Clang), ["/obj/a.o"], "/m.map", "/out/lib.so").Arguments;

        Assert.DoesNotContain("-flto=thin", args);
        Assert.DoesNotContain("-Wl,-mllvm,-enable-tlsdesc", args);
    }

    [Fact]
    public void Inline_link_on_arm64_needs_no_tlsdesc_codegen_flag() =>
        Assert.DoesNotContain("-Wl,-mllvm,-enable-tlsdesc",
            LinkCommandBuilder.Build(Settings(NativeBuildMode.Inline, Clang, TargetArchitecture.Arm64), ["/a.o"], "/m.map", "/l.so").Arguments);

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("-Wl,-z,now", "-Wl,-z,now")]
    [InlineData("has space", "'has space'")]
    [InlineData("it's", "'it'\\''s'")]
    public void Command_lines_are_shell_quoted(string argument, string expected) =>
        Assert.Equal("/bin/tool " + expected, new ToolInvocation("/bin/tool", [argument]).ToCommandLine());

    private static NativeBuildSettings Musl(NativeBuildMode mode, TargetArchitecture arch) =>
        Settings(mode, Clang, arch) with
        {
            Libc = TargetLibc.Musl,
            LibcIncludeDirectory = $"/usr/include/{TargetLibc.Musl.ClangTriple(arch)}/",
            LibcLibraryDirectory = $"/usr/lib/{TargetLibc.Musl.ClangTriple(arch)}/",
        };

    [Fact]
    public void Musl_compile_targets_musl_with_its_headers_instead_of_the_systems()
    {
        var args = CompileCommandBuilder.Build(Musl(NativeBuildMode.Default, TargetArchitecture.X64), "/a.c", "/a.o").Arguments;

        // Even on an x86-64 host: clang's default triple there is x86_64-linux-gnu.
        Assert.Equal("--target=x86_64-linux-musl", args[0]);
        Assert.Equal(["-nostdlibinc", "-isystem", "/usr/include/x86_64-linux-musl/"], args.Skip(1).Take(3));
        Assert.Contains("-mtls-dialect=gnu2", args);
        Assert.DoesNotContain("-mno-outline-atomics", args);
    }

    [Fact]
    public void Musl_arm64_compile_keeps_atomics_inline_because_libgcc_is_not_linked()
    {
        var args = CompileCommandBuilder.Build(Musl(NativeBuildMode.Inline, TargetArchitecture.Arm64), "/a.c", "/a.o").Arguments;

        Assert.Equal("--target=aarch64-linux-musl", args[0]);
        Assert.Contains("-mno-outline-atomics", args);
    }

    [Fact]
    public void Musl_link_takes_musls_libc_and_nothing_of_the_system()
    {
        var args = LinkCommandBuilder.Build(Musl(NativeBuildMode.Inline, TargetArchitecture.X64), ["/a.o"], "/m.map", "/l.so").Arguments;

        Assert.Equal("--target=x86_64-linux-musl", args[0]);
        var objects = args.ToList().IndexOf("/a.o");
        Assert.Equal(["-nostdlib", "-L/usr/lib/x86_64-linux-musl/", "-lc"], args.Skip(objects + 1).Take(3));
        Assert.Contains("-Wl,-mllvm,-enable-tlsdesc", args);
        Assert.Contains("-Wl,-z,now", args);
    }

    [Fact]
    public void Glibc_build_on_the_host_gets_no_target_and_no_libc_flags()
    {
        var args = CompileCommandBuilder.Build(Settings(NativeBuildMode.Default, Clang), "/a.c", "/a.o").Arguments;

        Assert.DoesNotContain(args, a => a.StartsWith("--target=", StringComparison.Ordinal));
        Assert.DoesNotContain("-nostdlibinc", args);
        Assert.DoesNotContain("-nostdlib", LinkCommandBuilder.Build(Settings(NativeBuildMode.Default, Clang), ["/a.o"], "/m.map", "/l.so").Arguments);
    }
}
