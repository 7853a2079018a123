namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>Chooses the compiler and the linker together for an inline build, where each alone can be fit and the two
/// still not work as a pair (an LLD older than the clang that wrote the bitcode). Pure: unit tests give it tools.</summary>
public static class ToolchainPairing
{
    /// <summary>The first pair that <paramref name="requirements"/> accepts: the same LLVM major first (one
    /// installation), then any, each in search order. <paramref name="rejected"/> gets a line per refused pair.</summary>
    public static (ResolvedTool Compiler, ResolvedTool Linker)? Choose(
        IReadOnlyList<ResolvedTool> compilers, IReadOnlyList<ResolvedTool> linkers, ToolchainRequirements requirements, ICollection<string> rejected)
    {
        ArgumentNullException.ThrowIfNull(compilers);
        ArgumentNullException.ThrowIfNull(linkers);
        ArgumentNullException.ThrowIfNull(requirements);
        ArgumentNullException.ThrowIfNull(rejected);

        static int? Major(ResolvedTool tool) => tool.Identity.Version?.Major;

        foreach (var sameInstallOnly in new[] { true, false })
        {
            foreach (var compiler in compilers)
            {
                foreach (var linker in linkers.Where(l => !sameInstallOnly || Major(l) == Major(compiler)))
                {
                    if (requirements.CheckPair(compiler, linker) is not { } mismatch)
                    {
                        return (compiler, linker);
                    }

                    if (!sameInstallOnly)
                    {
                        rejected.Add($"{compiler.Path} ({compiler.Identity.Describe()}) + {linker.Path} ({linker.Identity.Describe()}): {mismatch.Code}");
                    }
                }
            }
        }

        return null;
    }
}
