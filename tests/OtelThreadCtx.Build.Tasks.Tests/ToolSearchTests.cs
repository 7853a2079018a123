using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks.Tests;

public sealed class ToolSearchTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("otc-search-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    private string Exe(params string[] parts)
    {
        var path = Path.Combine([root, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "#!/bin/sh\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Fact]
    public void Order_is_llvm_root_then_versioned_newest_first_then_unversioned_then_llvm_install_dirs()
    {
        var llvmRoot = Exe("myllvm", "bin", "clang");
        var clang14 = Exe("bin1", "clang-14");
        var clang19 = Exe("bin2", "clang-19");
        var plain = Exe("bin1", "clang");
        var install17 = Exe("lib", "llvm-17", "bin", "clang");
        var install22 = Exe("lib", "llvm-22", "bin", "clang");
        var options = new ToolSearchOptions
        {
            LlvmRoot = Path.Combine(root, "myllvm"),
            SearchPath = [Path.Combine(root, "bin1"), Path.Combine(root, "bin2")],
            LlvmInstallRoot = Path.Combine(root, "lib"),
        };

        var candidates = ToolSearch.Candidates(ToolKind.CCompiler, options, allowGcc: false).Select(c => c.Path);

        Assert.Equal([llvmRoot, clang19, clang14, plain, install22, install17], candidates);
    }

    [Fact]
    public void Default_build_falls_back_to_gcc_after_every_clang()
    {
        var gcc = Exe("bin", "gcc");
        var clang = Exe("bin", "clang");
        var options = new ToolSearchOptions { SearchPath = [Path.Combine(root, "bin")], LlvmInstallRoot = Path.Combine(root, "none") };

        Assert.Equal([clang, gcc], ToolSearch.Candidates(ToolKind.CCompiler, options, allowGcc: true).Select(c => c.Path));
        Assert.Equal([clang], ToolSearch.Candidates(ToolKind.CCompiler, options, allowGcc: false).Select(c => c.Path));
    }

    [Fact]
    public void Non_executable_files_are_not_candidates()
    {
        var path = Path.Combine(root, "bin", "ld.lld");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "not a tool");
        File.SetUnixFileMode(path, UnixFileMode.UserRead);
        var options = new ToolSearchOptions { SearchPath = [Path.Combine(root, "bin")], LlvmInstallRoot = Path.Combine(root, "none") };

        Assert.Empty(ToolSearch.Candidates(ToolKind.Linker, options, allowGcc: false));
    }

    [Fact]
    public void Nm_prefers_gnu_on_path_then_llvm_nm()
    {
        var llvmNm = Exe("bin", "llvm-nm-19");
        var nm = Exe("bin", "nm");
        var options = new ToolSearchOptions { SearchPath = [Path.Combine(root, "bin")], LlvmInstallRoot = Path.Combine(root, "none") };

        Assert.Equal([nm, llvmNm], ToolSearch.Candidates(ToolKind.Nm, options, allowGcc: false).Select(c => c.Path));
    }
}
