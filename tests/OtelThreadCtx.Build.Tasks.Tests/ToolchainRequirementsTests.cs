using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks.Tests;

public class ToolchainRequirementsTests
{
    private static ResolvedTool Tool(ToolKind kind, string banner, string path = "/opt/tool") =>
        new(kind, path, ToolOrigin.SearchPath, VersionBannerParser.Parse(banner));

    private static readonly ToolchainRequirements InlineX64 = new(NativeBuildMode.Inline, TargetArchitecture.X64);
    private static readonly ToolchainRequirements DefaultX64 = new(NativeBuildMode.Default, TargetArchitecture.X64);
    private static readonly ToolchainRequirements InlineArm64 = new(NativeBuildMode.Inline, TargetArchitecture.Arm64);

    [Theory]
    [InlineData("LLD 18.0.1 (compatible with GNU linkers)", DiagnosticCodes.LldTooOld)]
    [InlineData("Debian LLD 14.0.6 (compatible with GNU linkers)", DiagnosticCodes.LldTooOld)]
    [InlineData("Debian LLD 18.1.0 (compatible with GNU linkers)", null)]
    [InlineData("Debian LLD 19.1.7 (compatible with GNU linkers)", null)]
    [InlineData("GNU ld (GNU Binutils for Debian) 2.40", DiagnosticCodes.LinkerNotLld)]
    [InlineData("@(#)PROGRAM:ld PROJECT:ld-1115.7.3", DiagnosticCodes.AppleToolchain)]
    public void Inline_x64_needs_lld_18_1(string banner, string? code) =>
        Assert.Equal(code, InlineX64.Check(Tool(ToolKind.Linker, banner))?.Code);

    [Fact]
    public void Arm64_has_no_lld_version_floor_for_tlsdesc() =>
        Assert.Null(InlineArm64.Check(Tool(ToolKind.Linker, "LLD 16.0.6 (compatible with GNU linkers)")));

    [Theory]
    [InlineData("Debian clang version 14.0.6", DiagnosticCodes.CompilerLacksTlsDesc)]
    [InlineData("Ubuntu clang version 18.1.3 (1ubuntu1)", DiagnosticCodes.CompilerLacksTlsDesc)]
    [InlineData("Debian clang version 19.1.7 (3~deb12u1)", null)]
    [InlineData("gcc (Debian 12.2.0-14) 12.2.0\nCopyright (C) 2022 Free Software Foundation, Inc.", null)]
    [InlineData("Apple clang version 16.0.0 (clang-1600.0.26.6)", DiagnosticCodes.AppleToolchain)]
    [InlineData("tcc version 0.9.27", DiagnosticCodes.VersionUnreadable)]
    public void Default_x64_needs_a_compiler_that_accepts_gnu2(string banner, string? code) =>
        Assert.Equal(code, DefaultX64.Check(Tool(ToolKind.CCompiler, banner))?.Code);

    [Fact]
    public void Inline_refuses_gcc_because_lld_cannot_link_its_lto_objects() =>
        Assert.Equal(DiagnosticCodes.InlineNeedsClang,
            InlineX64.Check(Tool(ToolKind.CCompiler, "gcc (Debian 12.2.0-14) 12.2.0\nCopyright (C) 2022 Free Software Foundation, Inc."))?.Code);

    [Theory]
    [InlineData("Debian clang version 22.1.0", "Debian LLD 19.1.7", DiagnosticCodes.ClangNewerThanLld)]
    [InlineData("Debian clang version 19.1.7", "Debian LLD 19.1.4", null)]
    [InlineData("Debian clang version 19.1.7", "LLD 22.1.2 (/checkout/src/llvm-project/llvm 1cb4e38) (compatible with GNU linkers)", null)]
    public void Clang_must_not_be_newer_than_lld(string clang, string lld, string? code)
    {
        var diagnostic = InlineX64.CheckPair(Tool(ToolKind.CCompiler, clang, "/usr/bin/clang"), Tool(ToolKind.Linker, lld, "/usr/bin/ld.lld"));

        Assert.Equal(code, diagnostic?.Code);
        if (diagnostic is not null)
        {
            Assert.Contains("/usr/bin/clang", diagnostic.Message, StringComparison.Ordinal);
            Assert.Contains("/usr/bin/ld.lld", diagnostic.Message, StringComparison.Ordinal);
            Assert.Contains("Fix:", diagnostic.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Not_found_says_where_it_looked_and_how_to_fix()
    {
        var diagnostic = InlineX64.NotFound(ToolKind.CCompiler, ["PATH (/a:/b)", "/usr/lib/llvm-NN/bin"], ["/a/clang-14: OTC1102"]);

        Assert.Equal(DiagnosticCodes.CompilerNotFound, diagnostic.Code);
        Assert.Contains("/usr/lib/llvm-NN/bin", diagnostic.Message, StringComparison.Ordinal);
        Assert.Contains("/a/clang-14", diagnostic.Message, StringComparison.Ordinal);
        Assert.Contains("apt-get install clang-19", diagnostic.Message, StringComparison.Ordinal);
        Assert.Contains("OtelThreadCtxClangPath", diagnostic.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_musl_build_refuses_gcc_and_takes_clang()
    {
        var musl = new ToolchainRequirements(NativeBuildMode.Default, TargetArchitecture.X64) { Libc = TargetLibc.Musl };

        var problem = musl.Check(Tool(ToolKind.CCompiler, "gcc (Debian 12.2.0-14) 12.2.0\nCopyright (C) 2022 Free Software Foundation, Inc."));
        Assert.Equal(DiagnosticCodes.CrossBuildNeedsClang, problem?.Code);
        Assert.Contains("--target=x86_64-linux-musl", problem!.Message, StringComparison.Ordinal);
        Assert.Null(musl.Check(Tool(ToolKind.CCompiler, "Debian clang version 19.1.7 (3~deb12u1)")));
    }
}
