using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks.Native;

/// <summary>Everything that decides the compile and link command lines. Immutable.</summary>
public sealed record NativeBuildSettings(NativeBuildMode Mode, TargetArchitecture Architecture, ResolvedTool Compiler)
{
    /// <summary>The linker; null in a default build that found none (the compiler's own linker is used).</summary>
    public ResolvedTool? Linker { get; init; }

    public IReadOnlyList<string> IncludeDirectories { get; init; } = [];

    public IReadOnlyList<string> Defines { get; init; } = [];

    /// <summary>Extra compiler flags (OtelThreadCtxCFlags), appended after the build's own.</summary>
    public IReadOnlyList<string> ExtraCompileFlags { get; init; } = [];

    /// <summary>Extra linker-driver flags (OtelThreadCtxLdFlags), appended after the build's own.</summary>
    public IReadOnlyList<string> ExtraLinkFlags { get; init; } = [];

    public bool CompilerIsClang => Compiler.Identity.Flavor == ToolFlavor.Clang;
}
