using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Code shown in the READMEs compiles: every C# block of README.md and the package and sample READMEs is built,
/// as written, against the packed packages. A block that is not meant to compile says so on the line before its fence:
/// <c>&lt;!-- not compiled: why --&gt;</c>.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed partial class DocSnippetTests(PackageFeed feed, ITestOutputHelper output)
{
    private const string NotCompiledMarker = "<!-- not compiled:";

    /// <summary>The documents a user reads first: the repository README, the packages' READMEs, the samples'.</summary>
    private static IEnumerable<string> Documents() =>
        new[] { "README.md", "sdk/package/README.md", "src/OtelThreadCtx.OpenTelemetry/README.md", "sdk/Sdk/README.md" }
            .Select(p => Repo.Path(p.Split('/')))
            .Concat(Directory.EnumerateDirectories(Repo.Path("samples")).Select(d => Path.Combine(d, "README.md")).Where(File.Exists))
            .Order(StringComparer.Ordinal);

    [Fact]
    public async Task Every_csharp_snippet_of_the_readmes_compiles_against_the_packed_packages()
    {
        var snippets = Documents().SelectMany(Extract).ToList();
        var compiled = snippets.Where(s => !s.NotCompiled).ToList();
        // The repository README (OpenTelemetry and managed API), the core and the OpenTelemetry package READMEs.
        Assert.True(compiled.Count >= 4, $"found {compiled.Count} C# snippets to compile: {string.Join(", ", compiled.Select(s => s.Where))}");

        using var app = new ConsumerProject(feed, name: "Snippets");
        var project = Path.Combine(app.ProjectDirectory, "Snippets.csproj");
        await File.WriteAllTextAsync(project, SnippetProject());
        File.Delete(Path.Combine(app.ProjectDirectory, "Program.cs"));
        for (var i = 0; i < compiled.Count; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(app.ProjectDirectory, $"Snippet{i}.cs"), compiled[i].AsSourceFile($"Snippet{i}"));
        }

        // Code written for 0.1.0 (AddThreadContext in OtelThreadCtx.OpenTelemetry) still compiles, warned; with both
        // namespaces in scope the call binds to the new method: no ambiguity, no warning.
        await File.WriteAllTextAsync(Path.Combine(app.ProjectDirectory, "OldNamespaceOnly.cs"), """
            using OtelThreadCtx.OpenTelemetry;

            internal static class OldNamespaceOnly
            {
                public static void Configure(IServiceCollection services) =>
                    services.AddOpenTelemetry().WithTracing(tracing => tracing.AddThreadContext(o => o.AttributeTagNames.Add("tenant")));
            }
            """);
        await File.WriteAllTextAsync(Path.Combine(app.ProjectDirectory, "BothNamespaces.cs"), """
            using OpenTelemetry.Trace;
            using OtelThreadCtx.OpenTelemetry;

            internal static class BothNamespaces
            {
                public static void Configure(IServiceCollection services) =>
                    services.AddOpenTelemetry().WithTracing(tracing => tracing.AddAspNetCoreInstrumentation().AddThreadContext(o => o.AttributeTagNames.Add("tenant")));
            }
            """);

        var build = await app.DotnetAsync(null, "build", "-c", "Release");
        var text = build.StandardOutput + build.StandardError;
        output.WriteLine(string.Join("\n", compiled.Select((s, i) => $"Snippet{i}.cs <- {s.Where}")));
        output.WriteLine(text);
        Assert.True(build.ExitCode == 0, text);
        Assert.Matches(@"OldNamespaceOnly\.cs\(\d+,\d+\): warning CS0618: .*OpenTelemetry\.Trace", text);
        Assert.DoesNotMatch(@"BothNamespaces\.cs\(\d+,\d+\): (warning|error)", text);
        Assert.DoesNotMatch(@"README\.md\(\d+,\d+\): (warning|error) CS0618", text);
    }

    [Fact]
    public void The_extractor_finds_fenced_csharp_and_honours_the_marker()
    {
        var file = Path.Combine(Directory.CreateTempSubdirectory("otc-snippets-").FullName, "README.md");
        File.WriteAllText(file, """
            text
            ```csharp
            var a = 1;
            ```

            <!-- not compiled: a fragment -->
            ```cs
            a++;
            ```
            ```xml
            <x />
            ```
            """);
        var found = Extract(file).ToList();
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        Assert.Equal(2, found.Count);
        Assert.Equal((false, 3, "var a = 1;"), (found[0].NotCompiled, found[0].FirstLine, found[0].Code.Trim()));
        Assert.Equal((true, 8, "a++;"), (found[1].NotCompiled, found[1].FirstLine, found[1].Code.Trim()));
    }

    /// <summary>An ASP.NET Core project (the READMEs' OpenTelemetry example is one) referencing the packed packages and
    /// the OpenTelemetry packages the examples name, at the versions the repository pins.</summary>
    private static string SnippetProject()
    {
        var pinned = XDocument.Load(Repo.Path("Directory.Packages.props")).Descendants("PackageVersion")
            .ToDictionary(e => (string)e.Attribute("Include")!, e => (string)e.Attribute("Version")!, StringComparer.Ordinal);
        return $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <OutputType>Library</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="OtelThreadCtx" Version="{PackageFeed.Version}" />
                <PackageReference Include="OtelThreadCtx.OpenTelemetry" Version="{PackageFeed.Version}" />
                <PackageReference Include="OpenTelemetry.Extensions.Hosting" Version="{pinned["OpenTelemetry.Extensions.Hosting"]}" />
                <PackageReference Include="OpenTelemetry.Instrumentation.AspNetCore" Version="{pinned["OpenTelemetry.Instrumentation.AspNetCore"]}" />
              </ItemGroup>
            </Project>
            """;
    }

    private static IEnumerable<Snippet> Extract(string document)
    {
        var lines = File.ReadAllLines(document);
        for (var i = 0; i < lines.Length; i++)
        {
            if (!CSharpFence().IsMatch(lines[i]))
            {
                continue;
            }

            var previous = i - 1;
            while (previous >= 0 && string.IsNullOrWhiteSpace(lines[previous]))
            {
                previous--;
            }

            var notCompiled = previous >= 0 && lines[previous].TrimStart().StartsWith(NotCompiledMarker, StringComparison.Ordinal);
            var end = Array.FindIndex(lines, i + 1, l => l.TrimStart().StartsWith("```", StringComparison.Ordinal));
            Assert.True(end > i, $"{document}:{i + 1}: a C# block without its closing fence");
            yield return new Snippet(document, i + 2, string.Join('\n', lines[(i + 1)..end]), notCompiled);
            i = end;
        }
    }

    [GeneratedRegex(@"^\s*```\s*(csharp|cs|c#)\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex CSharpFence();

    [GeneratedRegex(@"^\s*using\s+(static\s+)?[\w.]+(\s*=\s*[\w.<>]+)?\s*;")]
    private static partial Regex UsingDirective();

    /// <summary>One fenced block; <see cref="FirstLine"/> is the README line of its first code line.</summary>
    private sealed record Snippet(string Document, int FirstLine, string Code, bool NotCompiled)
    {
        public string Where => $"{Path.GetRelativePath(Repo.Root, Document)}:{FirstLine}";

        /// <summary>The block as a source file: its using directives first, then its statements as the body of a method
        /// (what a top-level Program.cs is, with <c>args</c>); #line maps every diagnostic back to the README.</summary>
        public string AsSourceFile(string className)
        {
            var lines = Code.Split('\n');
            var usings = lines.TakeWhile(l => string.IsNullOrWhiteSpace(l) || l.TrimStart().StartsWith("//", StringComparison.Ordinal) || UsingDirective().IsMatch(l)).Count();
            var source = new StringBuilder();
            source.Append("#line ").Append(FirstLine).Append(" \"").Append(Document).Append("\"\n");
            source.AppendJoin('\n', lines[..usings]).Append('\n');
            source.Append("#line default\n");
            source.Append("internal static class ").Append(className).Append("\n{\n    public static async Task RunAsync(string[] args)\n    {\n");
            source.Append("#line ").Append(FirstLine + usings).Append(" \"").Append(Document).Append("\"\n");
            source.AppendJoin('\n', lines[usings..]).Append('\n');
            source.Append("#line default\n");
            source.Append("        await Task.CompletedTask;\n    }\n}\n");
            return source.ToString();
        }
    }
}
