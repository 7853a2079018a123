using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks.Native;

/// <summary>Everything that decides the compile and link command lines. Immutable.</summary>
public sealed record NativeBuildSettings(NativeBuildMode Mode, TargetArchitecture Architecture, ResolvedTool Compiler)
{
    /// <summary>The linker; null in a default build that found none (the compiler's own linker is used).</summary>
    public ResolvedTool? Linker { get; init; }

    public IReadOnlyList<string> IncludeDirectories { get; init; } = [];

    /// <summary>Objects for a static archive that a NativeAOT executable links in (not a shared library): position
    /// independent for an executable (-fPIE) and the local-exec TLS model, as the variable is then defined in the
    /// executable itself (OTEP 4947 allows static TLS there).</summary>
    public bool ForExecutable { get; init; }

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

    /// <summary>The C library (OtelThreadCtxTargetLibc): glibc unless a linux-musl-* target asked for musl.</summary>
    public TargetLibc Libc { get; init; } = TargetLibc.Gnu;

    /// <summary>A C library laid out apart from any sysroot (Debian's musl-dev: /usr/include/&lt;triple&gt;): its headers,
    /// searched instead of the system's. Null: the sysroot's or the system's.</summary>
    public string? LibcIncludeDirectory { get; init; }

    /// <summary>The same layout's folder holding libc.so: the library links it and nothing else of the system (no glibc start
    /// files, no libgcc). Null: the sysroot's or the system's.</summary>
    public string? LibcLibraryDirectory { get; init; }

    /// <summary>clang's target triple: x86_64-linux-gnu, aarch64-linux-musl, …</summary>
    public string ClangTriple => Libc.ClangTriple(Architecture);

    /// <summary>What clang needs to build for another architecture or C library: the target triple and its system root, one argument each.</summary>
    public IEnumerable<string> CrossTargetArguments()
    {
        if (!CompilerIsClang)
        {
            yield break;
        }

        if (!Architecture.IsHost || Libc.IsMusl)
        {
            yield return $"--target={ClangTriple}";
        }

        if (!string.IsNullOrEmpty(Sysroot))
        {
            yield return $"--sysroot={Sysroot}";
        }
    }

    /// <summary>Compiler flags for a C library given by folders: its headers instead of the system's (clang's own, such as
    /// stdatomic.h, stay), and on aarch64 atomics inline (libgcc's out-of-line helpers are not linked).</summary>
    public IEnumerable<string> LibcCompileArguments()
    {
        if (LibcIncludeDirectory is { } include)
        {
            yield return "-nostdlibinc";
            yield return "-isystem";
            yield return include;
        }

        if (LibcLibraryDirectory is not null && Architecture == TargetArchitecture.Arm64)
        {
            yield return "-mno-outline-atomics";
        }
    }

    /// <summary>Link flags for a C library given by folders: none of the system's start files or libraries, its libc.so.
    /// Placed after the objects.</summary>
    public IEnumerable<string> LibcLinkArguments()
    {
        if (LibcLibraryDirectory is { } lib)
        {
            yield return "-nostdlib";
            yield return $"-L{lib}";
            yield return "-lc";
        }
    }

    public bool CompilerIsClang => Compiler.Identity.Flavor == ToolFlavor.Clang;
}
