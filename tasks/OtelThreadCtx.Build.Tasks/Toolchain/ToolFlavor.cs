namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>Which implementation a version banner belongs to.</summary>
public enum ToolFlavor
{
    Unknown,
    Clang,
    AppleClang,
    Gcc,
    Lld,
    GnuLd,
    GnuGold,
    AppleLd,
    GnuBinutils,
    Llvm,
    AppleLlvm,
}
