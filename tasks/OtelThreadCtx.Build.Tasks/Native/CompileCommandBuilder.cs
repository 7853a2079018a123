using OtelThreadCtx.Build.Tasks.Processes;

namespace OtelThreadCtx.Build.Tasks.Native;

/// <summary>Builds the command that compiles one C source.
/// Inline: ThinLTO bitcode (the TLS dialect is chosen later, at link time).
/// Default: a plain object, TLSDESC (<c>-mtls-dialect=gnu2</c>) on x86-64.
/// For an executable (NativeAOT static link): <c>-fPIE -ftls-model=local-exec</c> instead.</summary>
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

        args.AddRange(settings.ForExecutable ? CommonFlags.Select(f => f == "-fPIC" ? "-fPIE" : f) : CommonFlags);
        if (settings.ForExecutable)
        {
            // The executable defines the variable: one thread-pointer-relative access, no TLSDESC call. With ThinLTO the
            // model is kept in the bitcode (thread_local(localexec)), so the link-time code generator keeps it too.
            args.Add("-ftls-model=local-exec");
        }

        if (settings.Mode == NativeBuildMode.Inline)
        {
            args.Add("-flto=thin");
        }
        else if (settings.Architecture.NeedsTlsDialectFlag && !settings.ForExecutable)
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
