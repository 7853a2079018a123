using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks.Native;

/// <summary>Builds the command that compiles one C source.
/// Inline: ThinLTO bitcode (the TLS dialect is chosen later, at link time).
/// Default: a plain object, TLSDESC (<c>-mtls-dialect=gnu2</c>) on x86-64.</summary>
public static class CompileCommandBuilder
{
    /// <summary>Flags every source gets: C11, warnings as errors, position independent, hidden by default,
    /// one section per function so the linker can drop the out-of-line shim.</summary>
    public static readonly IReadOnlyList<string> CommonFlags =
    [
        "-std=c11", "-O2", "-g", "-fPIC", "-fvisibility=hidden",
        "-Wall", "-Wextra", "-Werror",
        "-ffunction-sections", "-fdata-sections",
        "-fstack-protector-strong",
    ];

    public static ToolInvocation Build(NativeBuildSettings settings, string sourcePath, string objectPath)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var args = new List<string>();
        args.AddRange(settings.CrossTargetArguments());
        args.AddRange(settings.LibcCompileArguments());

        args.AddRange(CommonFlags);
        if (settings.Mode == NativeBuildMode.Inline)
        {
            args.Add("-flto=thin");
        }
        else if (settings.Architecture.NeedsTlsDialectFlag)
        {
            args.Add("-mtls-dialect=gnu2");
        }

        args.AddRange(settings.PathMaps.Select(m => $"-ffile-prefix-map={m.From}={m.To}"));
        args.AddRange(settings.Defines.Select(d => "-D" + d));
        args.AddRange(settings.IncludeDirectories.Select(i => "-I" + i));
        args.AddRange(settings.ExtraCompileFlags);
        args.AddRange(["-c", sourcePath, "-o", objectPath]);
        return new ToolInvocation(settings.Compiler.Path, args);
    }
}
