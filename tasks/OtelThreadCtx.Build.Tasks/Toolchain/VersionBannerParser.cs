using System.Text.RegularExpressions;

namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>Reads the first lines a tool prints for <c>--version</c> and says what it is.
/// Knows Debian, Ubuntu and upstream LLVM builds, Apple's toolchain (to refuse it), GCC,
/// GNU binutils and the LLD bundled with Rust.</summary>
public static partial class VersionBannerParser
{
    [GeneratedRegex(@"^(?<vendor>Apple) (?:clang|LLVM) version (?<maj>\d+)\.(?<min>\d+)(?:\.(?<pat>\d+))?", RegexOptions.Multiline)]
    private static partial Regex AppleClangPattern();

    [GeneratedRegex(@"^(?<vendor>.*?)\s*clang version (?<maj>\d+)\.(?<min>\d+)(?:\.(?<pat>\d+))?", RegexOptions.Multiline)]
    private static partial Regex ClangPattern();

    [GeneratedRegex(@"^(?<vendor>.*?)\s*LLD (?<maj>\d+)\.(?<min>\d+)(?:\.(?<pat>\d+))?", RegexOptions.Multiline)]
    private static partial Regex LldPattern();

    [GeneratedRegex(@"^@\(#\)PROGRAM:ld", RegexOptions.Multiline)]
    private static partial Regex AppleLdPattern();

    [GeneratedRegex(@"^GNU (?<tool>ld|gold|nm|readelf|objdump) \((?<vendor>[^)]*)\) (?<maj>\d+)\.(?<min>\d+)(?:\.(?<pat>\d+))?", RegexOptions.Multiline)]
    private static partial Regex GnuBinutilsPattern();

    [GeneratedRegex(@"^\S*(?:gcc|cc)(?:-\d+)? \((?<vendor>[^)]*)\) (?<maj>\d+)\.(?<min>\d+)(?:\.(?<pat>\d+))?", RegexOptions.Multiline)]
    private static partial Regex GccPattern();

    [GeneratedRegex(@"^\s*(?<vendor>\S*?)\s*LLVM version (?<maj>\d+)\.(?<min>\d+)(?:\.(?<pat>\d+))?", RegexOptions.Multiline)]
    private static partial Regex LlvmPattern();

    /// <summary>Parses a banner. Never throws: an unknown banner gives <see cref="ToolFlavor.Unknown"/>
    /// with the first line kept for the error message.</summary>
    public static ToolIdentity Parse(string banner)
    {
        ArgumentNullException.ThrowIfNull(banner);
        var firstLine = FirstLine(banner);

        if (AppleLdPattern().Match(banner) is { Success: true } appleLd)
        {
            return new ToolIdentity(ToolFlavor.AppleLd, null, "Apple", appleLd.Value);
        }

        if (AppleClangPattern().Match(banner) is { Success: true } apple)
        {
            var flavor = apple.Value.Contains("clang", StringComparison.Ordinal) ? ToolFlavor.AppleClang : ToolFlavor.AppleLlvm;
            return Identity(flavor, apple);
        }

        if (ClangPattern().Match(banner) is { Success: true } clang)
        {
            return Identity(ToolFlavor.Clang, clang);
        }

        if (LldPattern().Match(banner) is { Success: true } lld)
        {
            var identity = Identity(ToolFlavor.Lld, lld);
            // Rust's bundled LLD prints its build checkout instead of a vendor.
            return banner.Contains("/checkout/src/llvm-project", StringComparison.Ordinal) || banner.Contains("rust", StringComparison.OrdinalIgnoreCase)
                ? identity with { Vendor = "Rust" }
                : identity;
        }

        if (GnuBinutilsPattern().Match(banner) is { Success: true } gnu)
        {
            var flavor = gnu.Groups["tool"].Value switch
            {
                "ld" => ToolFlavor.GnuLd,
                "gold" => ToolFlavor.GnuGold,
                _ => ToolFlavor.GnuBinutils,
            };
            return Identity(flavor, gnu);
        }

        if (GccPattern().Match(banner) is { Success: true } gcc && banner.Contains("Free Software Foundation", StringComparison.Ordinal))
        {
            return Identity(ToolFlavor.Gcc, gcc);
        }

        if (LlvmPattern().Match(banner) is { Success: true } llvm)
        {
            return Identity(ToolFlavor.Llvm, llvm);
        }

        return ToolIdentity.Unreadable(firstLine);
    }

    private static ToolIdentity Identity(ToolFlavor flavor, Match match)
    {
        var version = ToolVersion.Parse(match.Groups["maj"].Value, match.Groups["min"].Value, match.Groups["pat"].Value);
        var vendor = match.Groups["vendor"].Value.Trim();
        return new ToolIdentity(flavor, version, vendor, match.Value.Trim());
    }

    /// <summary>The first line with text, trimmed and cut to 200 characters: what messages quote of a tool's output.</summary>
    public static string FirstLine(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!string.IsNullOrWhiteSpace(line))
            {
                var trimmed = line.Trim();
                return trimmed.Length <= 200 ? trimmed : trimmed[..200] + "…";
            }
        }

        return string.Empty;
    }
}
