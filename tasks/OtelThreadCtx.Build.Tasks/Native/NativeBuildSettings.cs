using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks.Native;

/// <summary>Everything that decides the compile and link command lines. Immutable.</summary>
public sealed record NativeBuildSettings(NativeBuildMode Mode, TargetArchitecture Architecture, ResolvedTool Compiler)
{
    /// <summary>The linker; null in a default build that found none (the compiler's own linker is used).</summary>
    public ResolvedTool? Linker { get; init; }

    public IReadOnlyList<string> IncludeDirectories { get; init; } = [];

    public IReadOnlyList<string> Defines { get; init; } = [];

    /// <summary>Folder prefixes rewritten in everything the compiler records (debug info, __FILE__), so that the library's
    /// bytes do not depend on where the sources or the project sit: (from, to) pairs, in order.</summary>
    public IReadOnlyList<(string From, string To)> PathMaps { get; init; } = [];

    /// <summary>Extra compiler flags (OtelThreadCtxCFlags), appended after the build's own.</summary>
    public IReadOnlyList<string> ExtraCompileFlags { get; init; } = [];

    /// <summary>Extra linker-driver flags (OtelThreadCtxLdFlags), appended after the build's own.</summary>
    public IReadOnlyList<string> ExtraLinkFlags { get; init; } = [];

    /// <summary>The target's system root (OtelThreadCtxSysroot) for a cross build; null for the host's own headers and libraries.</summary>
    public string? Sysroot { get; init; }

    /// <summary>What clang needs to build for another architecture: the target triple and its system root, one argument each.</summary>
    public IEnumerable<string> CrossTargetArguments()
    {
        if (!CompilerIsClang)
        {
            yield break;
        }

        if (!Architecture.IsHost)
        {
            yield return $"--target={Architecture.ClangTriple}";
        }

        if (!string.IsNullOrEmpty(Sysroot))
        {
            yield return $"--sysroot={Sysroot}";
        }
    }

    public bool CompilerIsClang => Compiler.Identity.Flavor == ToolFlavor.Clang;
}
