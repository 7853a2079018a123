using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
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

    /// <summary>The parsed architecture; null when it is not one the build supports.</summary>
    protected TargetArchitecture? Target => TargetArchitecture.Parse(Architecture);

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
