using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks.Tests;

public sealed class ToolchainPairingTests
{
    private static ResolvedTool Tool(ToolKind kind, string path, ToolFlavor flavor, int major) =>
        new(kind, path, ToolOrigin.SearchPath, new ToolIdentity(flavor, new ToolVersion(major, 1, 0), "Debian", $"{flavor} {major}.1.0"));

    private static readonly ToolchainRequirements Inline = new(NativeBuildMode.Inline, TargetArchitecture.X64);

    [Fact]
    public void The_same_installation_wins_over_search_order()
    {
        var compilers = new[] { Tool(ToolKind.CCompiler, "/usr/bin/clang-22", ToolFlavor.Clang, 22), Tool(ToolKind.CCompiler, "/usr/bin/clang-19", ToolFlavor.Clang, 19) };
        var linkers = new[] { Tool(ToolKind.Linker, "/usr/bin/ld.lld-19", ToolFlavor.Lld, 19) };
        var rejected = new List<string>();

        var pair = ToolchainPairing.Choose(compilers, linkers, Inline, rejected);

        Assert.Equal("/usr/bin/clang-19", pair!.Value.Compiler.Path);
        Assert.Equal("/usr/bin/ld.lld-19", pair.Value.Linker.Path);
    }

    [Fact]
    public void A_newer_lld_pairs_with_an_older_clang_when_no_installation_has_both()
    {
        var compilers = new[] { Tool(ToolKind.CCompiler, "/usr/bin/clang-22", ToolFlavor.Clang, 22), Tool(ToolKind.CCompiler, "/usr/bin/clang-19", ToolFlavor.Clang, 19) };
        var linkers = new[] { Tool(ToolKind.Linker, "/rust/gcc-ld/ld.lld", ToolFlavor.Lld, 21) };
        var rejected = new List<string>();

        var pair = ToolchainPairing.Choose(compilers, linkers, Inline, rejected);

        Assert.Equal("/usr/bin/clang-19", pair!.Value.Compiler.Path);
        Assert.Single(rejected);
        Assert.Contains("clang-22", rejected[0], StringComparison.Ordinal);
        Assert.Contains("OTC1104", rejected[0], StringComparison.Ordinal);
    }

    [Fact]
    public void No_working_pair_is_null_with_every_refusal_listed()
    {
        var compilers = new[] { Tool(ToolKind.CCompiler, "/usr/bin/clang-22", ToolFlavor.Clang, 22) };
        var linkers = new[] { Tool(ToolKind.Linker, "/usr/bin/ld.lld-19", ToolFlavor.Lld, 19), Tool(ToolKind.Linker, "/usr/bin/ld.lld-20", ToolFlavor.Lld, 20) };
        var rejected = new List<string>();

        Assert.Null(ToolchainPairing.Choose(compilers, linkers, Inline, rejected));
        Assert.Equal(2, rejected.Count);
    }
}
