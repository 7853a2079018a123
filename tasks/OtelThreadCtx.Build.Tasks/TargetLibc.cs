namespace OtelThreadCtx.Build.Tasks;

/// <summary>The C library the native library is built against (OtelThreadCtxTargetLibc): glibc (linux-x64, linux-arm64)
/// or musl (linux-musl-x64, linux-musl-arm64), with what differs between them.</summary>
/// <param name="Name">The property's value: gnu or musl.</param>
/// <param name="RidPrefix">What the RuntimeIdentifier starts with: linux- or linux-musl-.</param>
/// <param name="SharedObjectNames">DT_NEEDED entries a library built against this C library may have (musl: its one libc.so).
/// Empty: not checked.</param>
public sealed record TargetLibc(string Name, string RidPrefix, IReadOnlyList<string> SharedObjectNames)
{
    public static readonly TargetLibc Gnu = new("gnu", "linux-", []);

    /// <summary>musl's libc.so is also its dynamic loader, libpthread, libdl, libm and librt: a library needs nothing else.</summary>
    public static readonly TargetLibc Musl = new("musl", "linux-musl-", ["libc.so"]);

    /// <summary>Parses OtelThreadCtxTargetLibc; empty means gnu, anything unknown is null.</summary>
    public static TargetLibc? Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "gnu" or "glibc" => Gnu,
        "musl" => Musl,
        _ => null,
    };

    public bool IsMusl => string.Equals(Name, Musl.Name, StringComparison.Ordinal);

    /// <summary>The clang target triple for an architecture: x86_64-linux-gnu, aarch64-linux-musl, …</summary>
    public string ClangTriple(TargetArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        return architecture.ClangTriple.Replace("-linux-gnu", "-linux-" + Name, StringComparison.Ordinal);
    }

    /// <summary>The RuntimeIdentifier of an architecture with this C library: linux-x64, linux-musl-arm64, …</summary>
    public string Rid(TargetArchitecture architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        return RidPrefix + architecture.Name;
    }

    public override string ToString() => Name;
}
