using System.Reflection;
using System.Text.RegularExpressions;
using OtelThreadCtx.Build.Tasks.Diagnostics;

namespace OtelThreadCtx.Build.Tasks.Tests;

/// <summary>docs/errors.md lists exactly the codes the tasks and targets can emit, each once.</summary>
public sealed partial class ErrorCatalogueTests
{
    [GeneratedRegex(@"Code=""(OTC\d{4})""")]
    private static partial Regex TargetsCode();

    [GeneratedRegex(@"^### (OTC\d{4})\b", RegexOptions.Multiline)]
    private static partial Regex CatalogueHeading();

    private static string RepoRoot()
    {
        var folder = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(folder, "OtelThreadCtx.Build.sln")))
        {
            folder = Path.GetDirectoryName(folder.TrimEnd('/')) ?? throw new InvalidOperationException("repository root not found");
        }

        return folder;
    }

    /// <summary>The codes in DiagnosticCodes (what the tasks report) and in Code="…" of every .props/.targets/.csproj
    /// the packages carry or the repository builds them with.</summary>
    private static SortedSet<string> EmittedCodes()
    {
        var codes = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var field in typeof(DiagnosticCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            codes.Add((string)field.GetValue(null)!);
        }

        var root = RepoRoot();
        var files = new[] { "sdk", "src", "eng" }
            .SelectMany(dir => Directory.EnumerateFiles(Path.Combine(root, dir), "*.*", SearchOption.AllDirectories))
            .Where(f => f.EndsWith(".props", StringComparison.Ordinal) || f.EndsWith(".targets", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal))
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal));
        foreach (var file in files)
        {
            foreach (Match match in TargetsCode().Matches(File.ReadAllText(file)))
            {
                codes.Add(match.Groups[1].Value);
            }
        }

        return codes;
    }

    [Fact]
    public void Every_emitted_code_is_in_the_catalogue_and_every_catalogued_code_is_emitted()
    {
        var catalogue = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "errors.md"));
        var headings = CatalogueHeading().Matches(catalogue).Select(m => m.Groups[1].Value).ToList();
        var emitted = EmittedCodes();

        Assert.Equal(headings.Count, headings.Distinct(StringComparer.Ordinal).Count());
        Assert.Empty(emitted.Except(headings, StringComparer.Ordinal));
        Assert.Empty(headings.Except(emitted, StringComparer.Ordinal));
    }

    [Fact]
    public void Each_code_constant_has_one_name()
    {
        var values = typeof(DiagnosticCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetValue(null)!).ToList();
        Assert.Equal(values.Count, values.Distinct(StringComparer.Ordinal).Count());
    }
}
