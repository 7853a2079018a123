using System.Security.Cryptography;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>Same sources, same tools, different folders: the same bytes (issue 14, part 1). The project and source
/// folders are recorded under stable names (-ffile-prefix-map), so no path of the build machine reaches the library.</summary>
public sealed class ReproducibilityTests
{
    private static string CopyOfTheSources(string folderName)
    {
        var root = Path.Combine(Directory.CreateTempSubdirectory("otc-repro-").FullName, folderName, "native");
        foreach (var file in Directory.EnumerateFiles(Repo.Path("native"), "*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".c", StringComparison.Ordinal) || f.EndsWith(".h", StringComparison.Ordinal) || f.EndsWith(".map", StringComparison.Ordinal)))
        {
            var target = Path.Combine(root, Path.GetRelativePath(Repo.Path("native"), file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return root + "/";
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    [InlineData(false, "musl")]
    public async Task Two_clones_in_different_folders_build_byte_identical_libraries(bool inline, string libc = "gnu")
    {
        var hashes = new List<string>();
        foreach (var folder in new[] { "a", "a-much-longer-folder-name" })
        {
            var sources = CopyOfTheSources(folder);
            using var build = new NativeBuild($"<PropertyGroup><OtelThreadCtxNativeSourceRoot>{sources}</OtelThreadCtxNativeSourceRoot></PropertyGroup>");
            var result = await build.BuildAsync(new Dictionary<string, string>
            {
                ["OtelThreadCtxInline"] = inline ? "true" : "false",
                ["OtelThreadCtxTargetLibc"] = libc,
                ["OtelThreadCtxClangPath"] = Tools.Find("clang-19"),
                ["OtelThreadCtxLldPath"] = Tools.Find("ld.lld-19"),
            });
            Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);

            var bytes = await File.ReadAllBytesAsync(build.OutputLibrary);
            // No path of the build machine in the library or in its debug file; the debug file names the sources by
            // their stable folder.
            var debugText = System.Text.Encoding.Latin1.GetString(await File.ReadAllBytesAsync(build.OutputLibrary + ".debug"));
            foreach (var text in new[] { System.Text.Encoding.Latin1.GetString(bytes), debugText })
            {
                Assert.DoesNotContain(sources.TrimEnd('/'), text, StringComparison.Ordinal);
                Assert.DoesNotContain(build.Directory, text, StringComparison.Ordinal);
            }

            Assert.Contains("/otel_thread_ctx/", debugText, StringComparison.Ordinal);
            hashes.Add(Convert.ToHexString(SHA256.HashData(bytes)) + "/" + Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(build.OutputLibrary + ".debug"))));

            // Provenance: the report names the library's hash and each compiled source's.
            using var report = NativeBuild.ReadReport(build.OutputReport);
            Assert.Equal(hashes[^1].Split('/')[0], report.RootElement.GetProperty("sha256").GetString(), ignoreCase: true);
            Assert.Equal(hashes[^1].Split('/')[1], report.RootElement.GetProperty("debugSha256").GetString(), ignoreCase: true);
            var shim = Path.Combine(sources, "src", "tls_shim.c");
            Assert.Equal(Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(shim))),
                report.RootElement.GetProperty("sourceSha256").GetProperty(shim).GetString(), ignoreCase: true);
            Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(sources.TrimEnd('/')))!, recursive: true);
        }

        Assert.Equal(hashes[0], hashes[1]);
    }
}
