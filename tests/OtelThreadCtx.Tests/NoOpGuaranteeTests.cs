using System.Diagnostics;
using Xunit.Abstractions;

namespace OtelThreadCtx.Tests;

/// <summary>The no-op guarantee in real processes: the API probe (tests/OtelThreadCtx.ApiProbe) calls every public API
/// in an application folder whose native library is missing, cut short, for another architecture, or named wrongly by
/// <c>OTEL_THREAD_CTX_NATIVE_LIBRARY</c>, under several JIT configurations. It must exit 0 with every call a no-op.</summary>
public sealed class NoOpGuaranteeTests(ITestOutputHelper output)
{
    public enum Breakage
    {
        Deleted,
        TruncatedTo100Bytes,

        /// <summary>Cut inside a loadable segment: mapping it used to raise SIGBUS inside NativeLibrary.TryLoad.</summary>
        TruncatedTo4096Bytes,

        /// <summary>Every segment whole, the section headers missing: it used to load and report IsSupported=True.</summary>
        TruncatedByOneByte,
        Aarch64Build,
        VariableNamesAMissingFile,
        VariableNamesACutFile,

        /// <summary>A whole shared library of this machine that is not ours (the runtime's libSystem.Native.so).</summary>
        VariableNamesAForeignLibrary,
    }

    private static readonly string ForeignLibrary = Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "libSystem.Native.so");

    public static TheoryData<Breakage, string> Cases()
    {
        var data = new TheoryData<Breakage, string>();
        foreach (var breakage in Enum.GetValues<Breakage>())
        {
            data.Add(breakage, "tiered");
        }

        // The binding problem showed with the JIT compiling whole methods up front: every case again without tiering.
        data.Add(Breakage.Deleted, "TieredCompilation=0");
        data.Add(Breakage.TruncatedTo100Bytes, "TieredCompilation=0");
        data.Add(Breakage.Deleted, "TieredPGO=0,ReadyToRun=0");
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Every_api_is_a_no_op_and_the_process_exits_0(Breakage breakage, string jit)
    {
        using var app = ProbeApp.CopyOfTheTestOutput();
        var library = Path.Combine(app.Folder, "libotel_thread_ctx.so");
        var environment = new Dictionary<string, string>();
        switch (breakage)
        {
            case Breakage.Deleted:
                File.Delete(library);
                break;
            case Breakage.TruncatedTo100Bytes:
                await using (var stream = new FileStream(library, FileMode.Open))
                {
                    stream.SetLength(100);
                }

                break;
            case Breakage.TruncatedTo4096Bytes or Breakage.TruncatedByOneByte:
                await using (var stream = new FileStream(library, FileMode.Open))
                {
                    stream.SetLength(breakage == Breakage.TruncatedTo4096Bytes ? 4096 : stream.Length - 1);
                }

                break;
            case Breakage.VariableNamesACutFile:
                var cut = Path.Combine(app.Folder, "cut.so");
                File.WriteAllBytes(cut, File.ReadAllBytes(library)[..6000]);
                environment["OTEL_THREAD_CTX_NATIVE_LIBRARY"] = cut;
                break;
            case Breakage.Aarch64Build:
                File.Copy(await ProbeApp.Aarch64LibraryAsync(), library, overwrite: true);
                break;
            case Breakage.VariableNamesAMissingFile:
                environment["OTEL_THREAD_CTX_NATIVE_LIBRARY"] = Path.Combine(app.Folder, "no-such-dir", "libotel_thread_ctx.so");
                break;
            case Breakage.VariableNamesAForeignLibrary:
                environment["OTEL_THREAD_CTX_NATIVE_LIBRARY"] = ForeignLibrary;
                break;
        }

        foreach (var setting in jit.Split(',').Where(s => s.Contains('=', StringComparison.Ordinal)))
        {
            var (name, value) = (setting.Split('=')[0], setting.Split('=')[1]);
            environment["DOTNET_" + name] = value;
        }

        var (exitCode, text) = await ProbeApp.RunAsync(app.Folder, "--expect-noop", environment);
        output.WriteLine(text);
        Assert.True(exitCode == 0, $"exit {exitCode}:\n{text}");
        Assert.Contains("IsSupported=False", text, StringComparison.Ordinal);
        Assert.Contains("probe: every expectation held", text, StringComparison.Ordinal);
        Assert.Contains(breakage switch
        {
            // Where it looked, and the other way to name it.
            Breakage.Deleted => "libotel_thread_ctx.so was not found where the runtime looks for this application's native libraries (looked in ",
            Breakage.Aarch64Build => "is built for aarch64",
            // The variable named once, with the value it holds.
            Breakage.VariableNamesAMissingFile => $"OTEL_THREAD_CTX_NATIVE_LIBRARY: '{Path.Combine(app.Folder, "no-such-dir", "libotel_thread_ctx.so")}' names no file",
            // Which file, and what it lacks.
            Breakage.VariableNamesAForeignLibrary => $"{ForeignLibrary} lacks otel_thread_ctx_v1 (an older or foreign build of the library)",
            Breakage.TruncatedTo100Bytes or Breakage.TruncatedTo4096Bytes or Breakage.TruncatedByOneByte or Breakage.VariableNamesACutFile => "is cut short",
            _ => throw new ArgumentOutOfRangeException(nameof(breakage)),
        }, text, StringComparison.Ordinal);
        if (breakage == Breakage.Deleted)
        {
            Assert.Contains($", {app.Folder}): reference the OtelThreadCtx package from the application's project and build it again (the build copies the library there), or name a file with OTEL_THREAD_CTX_NATIVE_LIBRARY", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_the_library_in_place_the_same_probe_reads_back_what_it_wrote()
    {
        using var app = ProbeApp.CopyOfTheTestOutput();
        var (exitCode, text) = await ProbeApp.RunAsync(app.Folder, "--expect-supported", new Dictionary<string, string>());
        output.WriteLine(text);
        Assert.True(exitCode == 0, $"exit {exitCode}:\n{text}");
        Assert.Contains("IsSupported=True", text, StringComparison.Ordinal);
    }
}

/// <summary>A throw-away application folder holding the API probe and its dependencies.</summary>
internal sealed class ProbeApp : IDisposable
{
    private ProbeApp(string folder) => Folder = folder;

    public string Folder { get; }

    public static ProbeApp CopyOfTheTestOutput()
    {
        var folder = Directory.CreateTempSubdirectory("otc-probe-").FullName;
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory))
        {
            var name = Path.GetFileName(file);
            if (name.StartsWith("OtelThreadCtx.ApiProbe.", StringComparison.Ordinal) || name is "OtelThreadCtx.dll" or "Google.Protobuf.dll" or "libotel_thread_ctx.so")
            {
                File.Copy(file, Path.Combine(folder, name));
            }
        }

        return new ProbeApp(folder);
    }

    public static async Task<(int ExitCode, string Output)> RunAsync(string folder, string expectation, IReadOnlyDictionary<string, string> environment)
    {
        var info = new ProcessStartInfo("dotnet", [Path.Combine(folder, "OtelThreadCtx.ApiProbe.dll"), expectation])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = folder,
        };
        info.Environment.Remove("OTEL_THREAD_CTX_NATIVE_LIBRARY");
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    /// <summary>The repository's linux-arm64 build of the library (artifacts/native/Release/default/linux-arm64), built
    /// by the same MSBuild tasks before the tests run.</summary>
    public static Task<string> Aarch64LibraryAsync()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "OtelThreadCtx.Build.sln")))
        {
            root = Path.GetDirectoryName(root.TrimEnd('/'))!;
        }

        var path = Path.Combine(root, "artifacts", "native", "Release", "default", "linux-arm64", "libotel_thread_ctx.so");
        Assert.True(File.Exists(path), $"{path} is missing: build the linux-arm64 library first (eng/test.sh does)");
        return Task.FromResult(path);
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
