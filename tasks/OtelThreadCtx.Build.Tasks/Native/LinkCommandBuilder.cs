using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks.Native;

/// <summary>Builds the command that links the shared library through the compiler driver and ld.lld:
/// version script, hardening (RELRO, BIND_NOW, non-executable stack), section GC, and in inline
/// mode ThinLTO with TLSDESC code generation.</summary>
public static class LinkCommandBuilder
{
    public static readonly IReadOnlyList<string> HardeningFlags =
    [
        "-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack",
    ];

    public static ToolInvocation Build(
        NativeBuildSettings settings, IReadOnlyList<string> objectPaths, string versionScript, string outputPath, IReadOnlyList<string>? staticLibraries = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(objectPaths);
        var args = new List<string>();
        args.AddRange(settings.CrossTargetArguments());

        args.AddRange(["-shared", "-o", outputPath]);
        args.AddRange(objectPaths);
        if (staticLibraries is { Count: > 0 })
        {
            // An archive member is linked only when something references it: require every exported function, so that
            // the Rust functions (and nothing else of the archive's core library) are pulled in.
            args.AddRange(VersionScript.ExportedNames(versionScript).Select(name => $"-Wl,--undefined={name}"));
            args.AddRange(staticLibraries);
        }

        args.AddRange(settings.LibcLinkArguments());

        args.AddRange(LinkerSelection(settings));
        args.Add($"-Wl,-soname,{Path.GetFileName(outputPath)}");
        args.Add($"-Wl,--version-script={versionScript}");
        args.AddRange(HardeningFlags);
        args.AddRange(["-Wl,--no-undefined", "-Wl,--gc-sections", "-Wl,--build-id"]);

        if (settings.Mode == NativeBuildMode.Inline)
        {
            // ThinLTO picks the TLS dialect during link-time code generation, so the TLSDESC request goes here.
            args.AddRange(["-flto=thin", "-O2"]);
            if (settings.Architecture.NeedsTlsDialectFlag)
            {
                args.Add("-Wl,-mllvm,-enable-tlsdesc");
            }
        }

        args.AddRange(settings.ExtraLinkFlags);
        return new ToolInvocation(settings.Compiler.Path, args);
    }

    private static IEnumerable<string> LinkerSelection(NativeBuildSettings settings)
    {
        if (settings.Linker is not { } linker)
        {
            return [];
        }

        if (settings.CompilerIsClang)
        {
            return ["-fuse-ld=lld", $"--ld-path={linker.Path}"];
        }

        // GCC has no --ld-path: it finds "ld.lld" through -B.
        var target = ResolveFinalTarget(linker.Path);
        return string.Equals(Path.GetFileName(target), "ld.lld", StringComparison.Ordinal)
            ? ["-fuse-ld=lld", $"-B{Path.GetDirectoryName(target)}"]
            : [];
    }

    private static string ResolveFinalTarget(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
        }
        catch (IOException)
        {
            return path;
        }
    }

    /// <summary>Whether the linker in use is lld (it is not for a default build with GCC and no usable ld.lld).</summary>
    public static bool UsesLld(NativeBuildSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return LinkerSelection(settings).Any();
    }
}
