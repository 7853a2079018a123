using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Step 2, check: each tool is fit for the mode (gnu2 support, LLD ≥ 18.1 for inline on x86-64,
/// no Apple toolchain), and clang's LLVM is not newer than the linker's.</summary>
public sealed class CheckToolchainTask : NativeStepTask
{
    [Required]
    public ITaskItem? Nm { get; set; }

    [Required]
    public ITaskItem? ReadElf { get; set; }

    /// <summary>rustc's LLVM version when a Rust crate joins the link (ResolveRustToolchainTask's LlvmVersion).</summary>
    public string? RustLlvmVersion { get; set; }

    protected override Task<bool> ExecuteAsync()
    {
        var architecture = Target;
        if (architecture is null)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.UnsupportedTarget, TargetArchitecture.UnsupportedMessage(Architecture)));
            return Task.FromResult(false);
        }

        if (TargetC is not { } libc)
        {
            Report(new BuildDiagnostic(DiagnosticCodes.UnsupportedTarget, $"OtelThreadCtxTargetLibc '{Libc}' is not supported. Fix: use gnu (glibc) or musl."));
            return Task.FromResult(false);
        }

        var requirements = new ToolchainRequirements(BuildMode, architecture) { RustLlvmVersion = ToolVersion.TryParse(RustLlvmVersion), Libc = libc };
        var compiler = ToolItems.FromItem(Compiler, ToolKind.CCompiler);
        var linker = ToolItems.FromItem(Linker, ToolKind.Linker);
        var tools = new[] { compiler, linker, ToolItems.FromItem(Nm, ToolKind.Nm), ToolItems.FromItem(ReadElf, ToolKind.ReadElf) };

        foreach (var tool in tools.OfType<ResolvedTool>())
        {
            if (requirements.Check(tool) is { } problem)
            {
                Report(problem);
            }
        }

        if (compiler is not null && requirements.CheckPair(compiler, linker) is { } mismatch)
        {
            Report(mismatch);
        }

        if (!Log.HasLoggedErrors)
        {
            Log.LogMessage(MessageImportance.Normal, "OtelThreadCtx: toolchain fit for the {0} build for {1}.", requirements.Mode, libc.Rid(architecture));
        }

        return Task.FromResult(!Log.HasLoggedErrors);
    }
}
