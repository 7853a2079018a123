using System.Text.RegularExpressions;

namespace OtelThreadCtx.Build.Tasks.Native;

/// <summary>Reads the names a linker version script exports (its <c>global:</c> list).</summary>
public static partial class VersionScript
{
    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comment();

    [GeneratedRegex(@"global\s*:(?<names>[^}]*?)(?:local\s*:|\})", RegexOptions.Singleline)]
    private static partial Regex Global();

    /// <summary>The exported names, wildcards left out, the TLS variable (not a function) included.</summary>
    public static IReadOnlyList<string> ExportedNames(string path)
    {
        var text = Comment().Replace(File.ReadAllText(path), " ");
        return Global().Matches(text)
            .SelectMany(m => m.Groups["names"].Value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(n => n.Split('#')[0].Trim())
            .Where(n => n.Length > 0 && !n.Contains('*', StringComparison.Ordinal) && !n.Contains('?', StringComparison.Ordinal))
            .Distinct(StringComparer.Ordinal)
            .ToList();
    }
}
