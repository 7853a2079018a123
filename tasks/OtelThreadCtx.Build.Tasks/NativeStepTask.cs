using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Native;
using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>The inputs every step after resolve shares: the mode, the target, and the resolved compiler and linker.</summary>
public abstract class NativeStepTask : OtelThreadCtxTask
{
    /// <summary>$(OtelThreadCtxMode): "default" or "inline", as the targets decided it.</summary>
    [Required]
    public string Mode { get; set; } = string.Empty;

    /// <summary>OtelThreadCtxTargetArchitecture: x64 or arm64.</summary>
    [Required]
    public string Architecture { get; set; } = string.Empty;

    /// <summary>The compiler item from ResolveToolchainTask (path + Flavor/Version metadata).</summary>
    public ITaskItem? Compiler { get; set; }

    /// <summary>The linker item; empty in a default build that found no ld.lld.</summary>
    public ITaskItem? Linker { get; set; }

    /// <summary>OtelThreadCtxSysroot: the target's headers and libraries for a cross build (empty: the host's).</summary>
    public string Sysroot { get; set; } = string.Empty;

    /// <summary>The decided mode (<see cref="CheckParameters"/> refused anything else before the step ran).</summary>
    protected NativeBuildMode BuildMode => NativeBuildModeParser.Parse(Mode) ?? throw new InvalidOperationException($"Mode '{Mode}' was not checked.");

    protected override BuildDiagnostic? CheckParameters() => CheckMode(Mode) ?? base.CheckParameters();

    /// <summary>OtelThreadCtxTargetLibc: gnu (empty) or musl.</summary>
    public string Libc { get; set; } = string.Empty;

    /// <summary>A musl build against a split layout (Debian's musl-dev): the C library's headers, searched instead of the
    /// system's (-nostdlibinc). Empty: the sysroot's or the system's.</summary>
    public string LibcIncludeDirectory { get; set; } = string.Empty;

    /// <summary>A musl build against a split layout: the folder holding the C library's libc.so, linked instead of the
    /// system's start files and libraries (-nostdlib … -lc). Empty: the sysroot's or the system's.</summary>
    public string LibcLibraryDirectory { get; set; } = string.Empty;

    /// <summary>The parsed architecture; null when it is not one the build supports.</summary>
    protected TargetArchitecture? Target => TargetArchitecture.Parse(Architecture);

    /// <summary>The parsed C library; null when it is not one the build supports.</summary>
    protected TargetLibc? TargetC => TargetLibc.Parse(Libc);

    /// <summary>The settings every step shares: mode, target (architecture and C library), compiler, sysroot or libc folders.</summary>
    protected NativeBuildSettings SettingsFor(ResolvedTool compiler) => new(BuildMode, Target!, compiler)
    {
        Libc = TargetC ?? TargetLibc.Gnu,
        Sysroot = string.IsNullOrWhiteSpace(Sysroot) ? null : Sysroot,
        LibcIncludeDirectory = string.IsNullOrWhiteSpace(LibcIncludeDirectory) ? null : Path.GetFullPath(LibcIncludeDirectory),
        LibcLibraryDirectory = string.IsNullOrWhiteSpace(LibcLibraryDirectory) ? null : Path.GetFullPath(LibcLibraryDirectory),
    };

    /// <summary>The compiler, or an OTC1001 error when the step was run without one (outside the SDK's targets).</summary>
    protected ResolvedTool? RequireCompiler()
    {
        if (ToolItems.FromItem(Compiler, ToolKind.CCompiler) is { } compiler)
        {
            return compiler;
        }

        Report(new BuildDiagnostic(DiagnosticCodes.CompilerNotFound,
            $"{GetType().Name} was given no Compiler item. Fix: run the OtelThreadCtxResolveToolchain target first (OtelThreadCtxBuildNative does), or pass the compiler item."));
        return null;
    }
}
