using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>The OtelThreadCtx.Sdk project SDK, restored from the local feed, building a team's own library around the shim.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class SdkTests(PackageFeed feed)
{
    private const string ApiSource = """
        #include "tls_shim.h"

        __attribute__((visibility("default"))) int my_api_publish(otel_thread_ctx_record *record) {
            otel_thread_ctx_record **slot = otel_thread_ctx_shim_slot();
            int had = *slot != 0;
            *slot = record;
            return had;
        }
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Own_sources_build_and_verify_with_the_project_sdk(bool inline)
    {
        using var consumer = new ConsumerProject(feed, name: "Unused");
        var dir = Path.Combine(consumer.Directory, "MyNative");
        Directory.CreateDirectory(Path.Combine(dir, "src"));
        await File.WriteAllTextAsync(Path.Combine(dir, "src", "api.c"), ApiSource);
        await File.WriteAllTextAsync(Path.Combine(dir, "mylib.map"), "{ global: otel_thread_ctx_v1; my_api_publish; local: *; };\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "MyNative.csproj"), $"""
            <Project Sdk="OtelThreadCtx.Sdk/{PackageFeed.Version}">
              <PropertyGroup>
                <OtelThreadCtxLibraryName>libmyprofiling.so</OtelThreadCtxLibraryName>
                <OtelThreadCtxVersionScript>mylib.map</OtelThreadCtxVersionScript>
                <OtelThreadCtxOutputDirectory>$(MSBuildProjectDirectory)/out/</OtelThreadCtxOutputDirectory>
              </PropertyGroup>
              <ItemGroup>
                <OtelThreadCtxSource Include="src/*.c" />
              </ItemGroup>
            </Project>
            """);

        var build = await Tools.RunAsync(ConsumerProject.DotnetHost, ["build", $"-p:OtelThreadCtxInline={(inline ? "true" : "false")}", "-nodeReuse:false"],
            new Dictionary<string, string?> { ["NUGET_PACKAGES"] = feed.Packages }, dir);

        Assert.True(build.ExitCode == 0, build.StandardOutput + build.StandardError);
        Assert.Contains($"{(inline ? "inline" : "default")} libmyprofiling.so (linux-x64) verified: 7/7 checks passed", build.StandardOutput, StringComparison.Ordinal);
        var library = Path.Combine(dir, "out", "libmyprofiling.so");
        var dynamicSymbols = await Tools.OutputOfAsync("readelf", "-W", "--dyn-syms", library);
        Assert.Contains(" my_api_publish", dynamicSymbols, StringComparison.Ordinal);
        Assert.Matches(@"\s8 TLS\s+GLOBAL DEFAULT\s+\d+ otel_thread_ctx_v1", dynamicSymbols);
        Assert.Equal(!inline, (await Tools.OutputOfAsync("nm", library)).Contains("otel_thread_ctx_shim_slot", StringComparison.Ordinal));
        Assert.True(File.Exists(library + ".verification.json"));
    }

    [Fact]
    public async Task An_sdk_project_reads_boolean_spellings_refuses_other_values_and_rebuilds_a_damaged_library()
    {
        using var consumer = new ConsumerProject(feed, name: "Unused");
        var dir = Path.Combine(consumer.Directory, "MyNative");
        Directory.CreateDirectory(Path.Combine(dir, "src"));
        await File.WriteAllTextAsync(Path.Combine(dir, "src", "api.c"), ApiSource);
        await File.WriteAllTextAsync(Path.Combine(dir, "mylib.map"), "{ global: otel_thread_ctx_v1; my_api_publish; local: *; };\n");
        await File.WriteAllTextAsync(Path.Combine(dir, "MyNative.csproj"), $"""
            <Project Sdk="OtelThreadCtx.Sdk/{PackageFeed.Version}">
              <PropertyGroup>
                <OtelThreadCtxLibraryName>libmyprofiling.so</OtelThreadCtxLibraryName>
                <OtelThreadCtxVersionScript>mylib.map</OtelThreadCtxVersionScript>
                <OtelThreadCtxOutputDirectory>$(MSBuildProjectDirectory)/out/</OtelThreadCtxOutputDirectory>
              </PropertyGroup>
              <ItemGroup>
                <OtelThreadCtxSource Include="src/*.c" />
              </ItemGroup>
            </Project>
            """);
        var library = Path.Combine(dir, "out", "libmyprofiling.so");
        async Task<CliWrap.Buffered.BufferedCommandResult> Build(string inline) =>
            await Tools.RunAsync(ConsumerProject.DotnetHost, ["build", $"-p:OtelThreadCtxInline={inline}", "-nodeReuse:false"],
                new Dictionary<string, string?> { ["NUGET_PACKAGES"] = feed.Packages }, dir);
        async Task<bool> HasShim() => (await Tools.OutputOfAsync("nm", library)).Contains("otel_thread_ctx_shim_slot", StringComparison.Ordinal);

        var on = await Build("On");
        Assert.True(on.ExitCode == 0, on.StandardOutput + on.StandardError);
        Assert.Contains("inline libmyprofiling.so (linux-x64) verified", on.StandardOutput, StringComparison.Ordinal);
        Assert.False(await HasShim());

        var one = await Build("1");
        Assert.NotEqual(0, one.ExitCode);
        Assert.Contains("error OTC1204: OtelThreadCtxInline is '1'", one.StandardOutput, StringComparison.Ordinal);

        // A library cut short in the output folder is rebuilt, in the mode asked for now.
        var good = await File.ReadAllBytesAsync(library);
        await File.WriteAllBytesAsync(library, good[..(good.Length / 3)]);
        var repaired = await Build("yes");
        Assert.True(repaired.ExitCode == 0, repaired.StandardOutput + repaired.StandardError);
        Assert.Contains("is not the one its report describes", repaired.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(good, await File.ReadAllBytesAsync(library));

        var off = await Build("off");
        Assert.True(off.ExitCode == 0, off.StandardOutput + off.StandardError);
        Assert.True(await HasShim());
    }
}
