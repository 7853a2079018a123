using System.Text.RegularExpressions;

namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>The Rust toolchain a crate is built with: cargo, and the rustc it runs (with the LLVM rustc was built on,
/// which decides what a linker must read in a cross-language LTO link).</summary>
public sealed record RustToolchain(string Cargo, string CargoVersion, string Rustc, ToolVersion RustcVersion, ToolVersion LlvmVersion, string Host, string Sysroot)
{
    /// <summary>The target triple rustc builds for on <paramref name="architecture"/>.</summary>
    public static string Triple(TargetArchitecture architecture) =>
        (architecture ?? throw new ArgumentNullException(nameof(architecture))).Name == "arm64" ? "aarch64-unknown-linux-gnu" : "x86_64-unknown-linux-gnu";

    /// <summary>Whether the standard library for <paramref name="triple"/> is installed (rustup target add).</summary>
    public bool HasTarget(string triple) => Directory.Exists(Path.Combine(Sysroot, "lib", "rustlib", triple, "lib"));

    public string Describe() => $"cargo {CargoVersion} at {Cargo}; rustc {RustcVersion} (LLVM {LlvmVersion}, host {Host}) at {Rustc}";
}

/// <summary>Reads <c>rustc -vV</c> and <c>cargo -V</c>.</summary>
public static partial class RustVersionParser
{
    [GeneratedRegex(@"^release:\s*(\d+)\.(\d+)\.(\d+)", RegexOptions.Multiline)]
    private static partial Regex Release();

    [GeneratedRegex(@"^LLVM version:\s*(\d+)\.(\d+)(?:\.(\d+))?", RegexOptions.Multiline)]
    private static partial Regex Llvm();

    [GeneratedRegex(@"^host:\s*(\S+)", RegexOptions.Multiline)]
    private static partial Regex Host();

    [GeneratedRegex(@"^cargo\s+(\d+\.\d+\.\d+\S*)")]
    private static partial Regex Cargo();

    /// <summary>rustc's version, LLVM version and host triple; null when the banner is not rustc's.</summary>
    public static (ToolVersion Rustc, ToolVersion Llvm, string Host)? ParseRustc(string verbose)
    {
        ArgumentNullException.ThrowIfNull(verbose);
        var release = Release().Match(verbose);
        var llvm = Llvm().Match(verbose);
        var host = Host().Match(verbose);
        if (!release.Success || !llvm.Success || !host.Success)
        {
            return null;
        }

        return (ToolVersion.Parse(release.Groups[1].Value, release.Groups[2].Value, release.Groups[3].Value),
                ToolVersion.Parse(llvm.Groups[1].Value, llvm.Groups[2].Value, llvm.Groups[3].Value),
                host.Groups[1].Value);
    }

    /// <summary>cargo's version ("1.95.0"); null when the banner is not cargo's.</summary>
    public static string? ParseCargo(string banner)
    {
        ArgumentNullException.ThrowIfNull(banner);
        var match = Cargo().Match(banner.Trim());
        return match.Success ? match.Groups[1].Value : null;
    }
}
