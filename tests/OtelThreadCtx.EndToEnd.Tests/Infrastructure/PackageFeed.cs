using CliWrap.Buffered;

namespace OtelThreadCtx.EndToEnd.Tests.Infrastructure;

/// <summary>Packs OtelThreadCtx, OtelThreadCtx.Sdk and OtelThreadCtx.OpenTelemetry once into a temporary local feed, with a fresh NuGet packages folder that
/// every consumer project of the run restores into.</summary>
public sealed class PackageFeed : IAsyncLifetime
{
    public const string Version = "0.2.0-e2e";

    public string Root { get; } = Directory.CreateTempSubdirectory("otc-feed-").FullName;

    public string Feed => Path.Combine(Root, "feed");

    public string Packages => Path.Combine(Root, "packages");

    public string PackageFile => Path.Combine(Feed, $"OtelThreadCtx.{Version}.nupkg");

    /// <summary>A nuget.config in <paramref name="folder"/> that restores from this feed (then the machine's sources)
    /// into this run's fresh packages folder.</summary>
    public void WriteNuGetConfig(string folder) => File.WriteAllText(Path.Combine(folder, "nuget.config"), $"""
        <?xml version="1.0" encoding="utf-8"?>
        <configuration>
          <packageSources>
            <add key="local" value="{Feed}" />
          </packageSources>
          <config>
            <add key="globalPackagesFolder" value="{Packages}" />
          </config>
        </configuration>
        """);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        var result = await Tools.RunAsync("dotnet",
            ["pack", Repo.Path("src", "OtelThreadCtx", "OtelThreadCtx.csproj"), "-c", "Release", "--no-build", "-o", Feed, $"-p:Version={Version}", "-nodeReuse:false"]);
        Assert.True(result.ExitCode == 0, "dotnet pack failed:\n" + result.StandardOutput + result.StandardError);
        Assert.True(File.Exists(PackageFile), PackageFile);

        var sdk = await Tools.RunAsync("dotnet",
            ["pack", Repo.Path("sdk", "OtelThreadCtx.Sdk.csproj"), "-c", "Release", "--no-build", "-o", Feed, $"-p:Version={Version}", "-nodeReuse:false"]);
        Assert.True(sdk.ExitCode == 0, "dotnet pack (SDK) failed:\n" + sdk.StandardOutput + sdk.StandardError);

        var openTelemetry = await Tools.RunAsync("dotnet",
            ["pack", Repo.Path("src", "OtelThreadCtx.OpenTelemetry", "OtelThreadCtx.OpenTelemetry.csproj"), "-c", "Release", "--no-build", "-o", Feed, $"-p:Version={Version}", "-nodeReuse:false"]);
        Assert.True(openTelemetry.ExitCode == 0, "dotnet pack (OpenTelemetry) failed:\n" + openTelemetry.StandardOutput + openTelemetry.StandardError);
    }

    public Task DisposeAsync()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class PackageFeedCollection : ICollectionFixture<PackageFeed>
{
    public const string Name = "package feed";
}

/// <summary>A consumer project in a temporary folder that references the packed OtelThreadCtx.</summary>
public sealed class ConsumerProject : IDisposable
{
    private readonly PackageFeed feed;

    /// <param name="directoryPrefix">Start of the temporary folder's name (one with a space tests that every path the
    /// targets hand to a tool is quoted).</param>
    public ConsumerProject(PackageFeed feed, string name = "App", string targetFrameworks = "net10.0", string? extraProperties = null, string? body = null,
        string directoryPrefix = "otc-consumer-")
    {
        this.feed = feed;
        Directory = System.IO.Directory.CreateTempSubdirectory(directoryPrefix).FullName;
        feed.WriteNuGetConfig(Directory);
        ProjectDirectory = System.IO.Path.Combine(Directory, name);
        AddProject(name, targetFrameworks, $"""<PackageReference Include="OtelThreadCtx" Version="{PackageFeed.Version}" />""", extraProperties, "Exe", body ?? AppProgram);
    }

    public const string AppProgram = """
        using System.Diagnostics;
        using OtelThreadCtx;

        var published = new ThreadContextRecord();
        published.SetIds(ActivityTraceId.CreateFromString("0af7651916cd43dd8448eb211c80319c"), ActivitySpanId.CreateFromString("b7ad6b7169203331"), ActivityTraceFlags.Recorded);
        ThreadContext.Attach(published);
        var buffer = new byte[640];
        var length = ThreadContext.ReadCurrent(buffer);
        Console.WriteLine($"supported={ThreadContext.IsSupported} bytes={length} span={Convert.ToHexString(buffer, 16, 8)} valid={buffer[24]}");
        """;

    public string Directory { get; }

    public string ProjectDirectory { get; }

    public void AddProject(string name, string targetFrameworks, string references, string? extraProperties, string outputType, string program)
    {
        var dir = System.IO.Path.Combine(Directory, name);
        System.IO.Directory.CreateDirectory(dir);
        File.WriteAllText(System.IO.Path.Combine(dir, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>{outputType}</OutputType>
                <{(targetFrameworks.Contains(';', StringComparison.Ordinal) ? "TargetFrameworks" : "TargetFramework")}>{targetFrameworks}</{(targetFrameworks.Contains(';', StringComparison.Ordinal) ? "TargetFrameworks" : "TargetFramework")}>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                {extraProperties}
              </PropertyGroup>
              <ItemGroup>
                {references}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(System.IO.Path.Combine(dir, "Program.cs"), program);
    }

    /// <summary>Runs dotnet in the project folder; <paramref name="path"/> replaces PATH (to hide clang).</summary>
    public Task<BufferedCommandResult> DotnetAsync(string? path, params string[] args)
    {
        var env = new Dictionary<string, string?> { ["NUGET_PACKAGES"] = feed.Packages };
        if (path is not null)
        {
            env["PATH"] = path;
        }

        return Tools.RunAsync(DotnetHost, [.. args, "-nodeReuse:false"], env, ProjectDirectory);
    }

    /// <summary>A PATH with only the dotnet host: no clang, no lld, no binutils.</summary>
    public string PathWithoutToolchain()
    {
        var bin = System.IO.Path.Combine(Directory, "dotnet-only");
        System.IO.Directory.CreateDirectory(bin);
        var link = System.IO.Path.Combine(bin, "dotnet");
        if (!File.Exists(link))
        {
            File.CreateSymbolicLink(link, DotnetHost);
        }

        return bin;
    }

    public static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : Tools.Find("dotnet");

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
