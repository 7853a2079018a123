using System.Runtime.InteropServices;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>The Linux architectures the library is built for, with what differs between them.</summary>
public sealed record TargetArchitecture(string Name, string ClangTriple, string TlsDescRelocation, bool NeedsTlsDialectFlag)
{
    public static readonly TargetArchitecture X64 = new("x64", "x86_64-linux-gnu", "R_X86_64_TLSDESC", NeedsTlsDialectFlag: true);
    public static readonly TargetArchitecture Arm64 = new("arm64", "aarch64-linux-gnu", "R_AARCH64_TLSDESC", NeedsTlsDialectFlag: false);

    /// <summary>Parses an MSBuild/RID-style architecture name; null when it is not supported.</summary>
    public static TargetArchitecture? Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        "x64" or "x86_64" or "amd64" => X64,
        "arm64" or "aarch64" => Arm64,
        _ => null,
    };

    public static string HostName => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "x64",
        Architecture.Arm64 => "arm64",
        var other => other.ToString().ToLowerInvariant(),
    };

    /// <summary>OTC1201's text for a target architecture the library is not built for: it names the target, never the
    /// machine (an x64 machine asked for x86 is still an x64 machine).</summary>
    public static string UnsupportedMessage(string? name) =>
        $"OtelThreadCtxTargetArchitecture is '{name}': the native library is built only for the targets linux-x64 and linux-arm64 " +
        $"(this names the target; the machine building it is {HostName}). Fix: set OtelThreadCtxTargetArchitecture to x64 or arm64, or remove it to build for this machine.";

    public bool IsHost => string.Equals(HostName, Name, StringComparison.Ordinal);

    public override string ToString() => Name;
}
