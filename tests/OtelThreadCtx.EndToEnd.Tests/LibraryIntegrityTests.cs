using System.Collections.Concurrent;
using ELFSharp.ELF;
using ELFSharp.ELF.Sections;
using OtelThreadCtx.EndToEnd.Tests.Infrastructure;
using Xunit.Abstractions;

namespace OtelThreadCtx.EndToEnd.Tests;

/// <summary>The run-time half of "never load a damaged library": an application built against the packed package, as
/// JIT, ReadyToRun and NativeAOT (single-file too, for the sha256 read from its bundled runtimeconfig), its libotel_thread_ctx.so cut short at every 256-byte boundary, bytes flipped in
/// .dynsym and .text, replaced by a valid library of another build, or named cut short by OTEL_THREAD_CTX_NATIVE_LIBRARY.
/// Every run must exit 0 (no SIGBUS, no SIGSEGV, no exception), report <c>IsSupported=False</c>, and say why through
/// <c>ThreadContext.UnavailableReason</c>.</summary>
[Collection(PackageFeedCollection.Name)]
public sealed class LibraryIntegrityTests(PackageFeed feed, LibraryIntegrityTests.PublishedProbes probes, ITestOutputHelper output)
    : IClassFixture<LibraryIntegrityTests.PublishedProbes>
{
    public enum Flavour
    {
        /// <summary>dotnet build: the library in runtimes/linux-x64/native/, found through deps.json.</summary>
        Jit,

        /// <summary>dotnet publish -r linux-x64 -p:PublishReadyToRun=true: the library beside the app.</summary>
        ReadyToRun,

        /// <summary>dotnet publish -r linux-x64 -p:PublishAot=true -p:OtelThreadCtxNativeAotStaticLink=false: one native executable, the shared library beside it (the static link has no library to damage; NativeAotStaticTests cover it).</summary>
        NativeAot,

        /// <summary>dotnet publish -r linux-x64 -p:PublishSingleFile=true: the runtimeconfig.json bundled, the library beside.</summary>
        SingleFile,
    }

    private const int Step = 256;

    [Theory]
    [InlineData(Flavour.Jit)]
    [InlineData(Flavour.ReadyToRun)]
    [InlineData(Flavour.NativeAot)]
    public async Task A_library_cut_at_every_256_byte_boundary_is_refused_and_the_app_exits_0(Flavour flavour)
    {
        var app = await probes.GetAsync(feed, flavour);
        var whole = await File.ReadAllBytesAsync(app.Library);
        var cuts = Enumerable.Range(0, (whole.Length + Step - 1) / Step).Select(i => i * Step).ToArray();
        Assert.True(cuts.Length > 40, $"the library is {whole.Length} bytes");

        var failures = new ConcurrentBag<string>();
        await Parallel.ForEachAsync(cuts, new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (cut, _) =>
        {
            using var copy = app.Copy();
            await File.WriteAllBytesAsync(copy.Library, whole[..cut]);
            var run = await copy.RunAsync("--expect-noop");
            if (Problem(run, copy.Library, cut == 0 ? "shorter than an ELF header" : "is cut short") is { } problem)
            {
                failures.Add($"cut at {cut} of {whole.Length} bytes: {problem}");
            }
        });

        Assert.True(failures.IsEmpty, string.Join("\n\n", failures.OrderBy(f => f, StringComparer.Ordinal)));
        output.WriteLine($"{flavour}: {cuts.Length} cuts (0..{cuts[^1]} of {whole.Length} bytes), each refused, exit 0");
    }

    [Theory]
    [InlineData(Flavour.Jit, ".dynsym")]
    [InlineData(Flavour.Jit, ".text")]
    [InlineData(Flavour.ReadyToRun, ".dynsym")]
    [InlineData(Flavour.ReadyToRun, ".text")]
    [InlineData(Flavour.NativeAot, ".dynsym")]
    [InlineData(Flavour.NativeAot, ".text")]
    [InlineData(Flavour.SingleFile, ".text")]
    public async Task A_library_with_flipped_bytes_is_refused_by_its_sha256(Flavour flavour, string section)
    {
        var app = await probes.GetAsync(feed, flavour);
        using var copy = app.Copy();
        var bytes = await File.ReadAllBytesAsync(copy.Library);
        var (offset, size) = SectionOf(copy.Library, section);
        // A few bytes in the middle of the section: still a well-formed ELF file, every segment in place.
        for (var i = 0; i < 4; i++)
        {
            bytes[offset + (size / 2) + i] ^= 0xFF;
        }

        await File.WriteAllBytesAsync(copy.Library, bytes);
        var run = await copy.RunAsync("--expect-noop");
        Assert.Null(Problem(run, copy.Library, "is not the library this application shipped"));
    }

    [Theory]
    [InlineData(Flavour.Jit)]
    [InlineData(Flavour.ReadyToRun)]
    [InlineData(Flavour.NativeAot)]
    public async Task A_valid_library_of_another_build_is_refused(Flavour flavour)
    {
        var app = await probes.GetAsync(feed, flavour);
        var inline = await probes.InlineLibraryAsync(feed);
        Assert.NotEqual(await File.ReadAllBytesAsync(app.Library), await File.ReadAllBytesAsync(inline));

        using var copy = app.Copy();
        File.Copy(inline, copy.Library, overwrite: true);
        var run = await copy.RunAsync("--expect-noop");
        Assert.Null(Problem(run, copy.Library, "is not the library this application shipped"));

        // The same library is loaded when named by the variable: no build recorded what that path should hold.
        var named = await copy.RunAsync("--expect-supported", inline);
        Assert.True(named.ExitCode == 0 && named.Output.Contains("IsSupported=True", StringComparison.Ordinal), named.Output);
    }

    [Theory]
    [InlineData(Flavour.Jit)]
    [InlineData(Flavour.NativeAot)]
    public async Task A_cut_library_named_by_the_variable_is_refused(Flavour flavour)
    {
        var app = await probes.GetAsync(feed, flavour);
        using var copy = app.Copy();
        var whole = await File.ReadAllBytesAsync(copy.Library);
        var cutFile = Path.Combine(copy.Folder, "cut", "libotel_thread_ctx.so");
        Directory.CreateDirectory(Path.GetDirectoryName(cutFile)!);
        foreach (var cut in new[] { 1000, 4096, 6000, whole.Length - 1 })
        {
            await File.WriteAllBytesAsync(cutFile, whole[..cut]);
            var run = await copy.RunAsync("--expect-noop", cutFile);
            Assert.Null(Problem(run, cutFile, "is cut short"));
            Assert.Contains("OTEL_THREAD_CTX_NATIVE_LIBRARY", run.Output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(Flavour.Jit)]
    [InlineData(Flavour.NativeAot)]
    [InlineData(Flavour.SingleFile)]
    public async Task The_shipped_library_loads_and_its_sha256_is_recorded(Flavour flavour)
    {
        var app = await probes.GetAsync(feed, flavour);
        var run = await app.RunAsync("--expect-supported");
        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("UnavailableReason=(none)", run.Output, StringComparison.Ordinal);
        if (flavour == Flavour.Jit)
        {
            var sha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(await File.ReadAllBytesAsync(app.Library)));
            var config = await File.ReadAllTextAsync(Path.Combine(app.Folder, "App.runtimeconfig.json"));
            Assert.Contains($"\"OtelThreadCtx.NativeLibrarySha256.linux-x64\": \"{sha}\"", config, StringComparison.OrdinalIgnoreCase);
        }
    }

    /// <summary>Null when the run exited 0, was a no-op and named <paramref name="library"/> with <paramref name="reason"/>.</summary>
    private static string? Problem((int ExitCode, string Output) run, string library, string reason)
    {
        if (run.ExitCode != 0)
        {
            return $"exit {run.ExitCode}\n{run.Output}";
        }

        var line = run.Output.Split('\n').FirstOrDefault(l => l.StartsWith("UnavailableReason=", StringComparison.Ordinal)) ?? "";
        return run.Output.Contains("IsSupported=False", StringComparison.Ordinal)
               && run.Output.Contains("probe: every expectation held", StringComparison.Ordinal)
               && line.Contains(library, StringComparison.Ordinal)
               && line.Contains(reason, StringComparison.Ordinal)
            ? null
            : $"expected a no-op naming {library} '{reason}'\n{run.Output}";
    }

    /// <summary>File offset and size of a section, read with ELFSharp.</summary>
    private static (int Offset, int Size) SectionOf(string library, string name)
    {
        using var elf = ELFReader.Load<ulong>(library);
        var section = (Section<ulong>)elf.Sections.Single(s => s.Name == name);
        Assert.True(section.Size >= 8, $"{name} is {section.Size} bytes");
        return ((int)section.Offset, (int)section.Size);
    }

    /// <summary>The probe consumer (tests/OtelThreadCtx.ApiProbe's Program.cs against the packed package), built or
    /// published once per flavour for the whole class; each test damages a copy of it.</summary>
    public sealed class PublishedProbes : IDisposable
    {
        private readonly ConcurrentDictionary<Flavour, Lazy<Task<ProbeFolder>>> published = new();
        private readonly List<ConsumerProject> projects = [];
        private Lazy<Task<string>>? inline;

        public Task<ProbeFolder> GetAsync(PackageFeed feed, Flavour flavour) =>
            published.GetOrAdd(flavour, f => new Lazy<Task<ProbeFolder>>(() => PublishAsync(feed, f))).Value;

        /// <summary>The consumer's own inline library (a valid library, verified, of another build than the default).</summary>
        public Task<string> InlineLibraryAsync(PackageFeed feed)
        {
            inline ??= new Lazy<Task<string>>(async () =>
            {
                var app = NewProject(feed);
                var outDir = Path.Combine(app.Directory, "inline");
                var build = await app.DotnetAsync(null, "build", "-c", "Release", "-o", outDir, "-p:OtelThreadCtxInline=true");
                Assert.True(build.ExitCode == 0, build.StandardOutput + build.StandardError);
                var library = Path.Combine(outDir, "runtimes", "linux-x64", "native", "libotel_thread_ctx.so");
                Assert.True(File.Exists(library), $"no inline library at {library}");
                return library;
            });
            return inline.Value;
        }

        private ConsumerProject NewProject(PackageFeed feed)
        {
            var project = new ConsumerProject(feed, extraProperties: "<InvariantGlobalization>true</InvariantGlobalization>",
                body: File.ReadAllText(Repo.Path("tests", "OtelThreadCtx.ApiProbe", "Program.cs")));
            lock (projects)
            {
                projects.Add(project);
            }

            return project;
        }

        private async Task<ProbeFolder> PublishAsync(PackageFeed feed, Flavour flavour)
        {
            var app = NewProject(feed);
            var outDir = Path.Combine(app.Directory, "out");
            string[] how = flavour switch
            {
                Flavour.Jit => ["build", "-c", "Release", "-o", outDir],
                Flavour.ReadyToRun => ["publish", "-c", "Release", "-r", "linux-x64", "--self-contained", "false", "-p:PublishReadyToRun=true", "-o", outDir],
                Flavour.SingleFile => ["publish", "-c", "Release", "-r", "linux-x64", "--self-contained", "false", "-p:PublishSingleFile=true", "-o", outDir],
                _ => ["publish", "-c", "Release", "-r", "linux-x64", "-p:PublishAot=true", "-p:OtelThreadCtxNativeAotStaticLink=false", "-p:CppCompilerAndLinker=clang-19", "-p:TreatWarningsAsErrors=false", "-o", outDir],
            };
            var result = await app.DotnetAsync(null, how);
            Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
            var library = flavour == Flavour.Jit
                ? Path.Combine("runtimes", "linux-x64", "native", "libotel_thread_ctx.so")
                : "libotel_thread_ctx.so";
            Assert.True(File.Exists(Path.Combine(outDir, library)), $"{flavour}: no {library} in {outDir}");
            Assert.Equal(flavour is Flavour.Jit or Flavour.ReadyToRun, File.Exists(Path.Combine(outDir, "App.dll")));
            return new ProbeFolder(outDir, library, flavour is Flavour.NativeAot or Flavour.SingleFile);
        }

        public void Dispose()
        {
            foreach (var project in projects)
            {
                project.Dispose();
            }
        }
    }

    /// <summary>An application folder holding the probe and its library (at <see cref="Library"/>).</summary>
    public sealed class ProbeFolder(string folder, string libraryInFolder, bool native) : IDisposable
    {
        public string Folder { get; } = folder;

        public string Library => Path.Combine(Folder, libraryInFolder);

        /// <summary>A throw-away copy of the whole folder, to damage.</summary>
        public ProbeFolder Copy()
        {
            var copy = Directory.CreateTempSubdirectory("otc-integrity-").FullName;
            foreach (var file in Directory.EnumerateFiles(Folder, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(copy, Path.GetRelativePath(Folder, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }

            return new ProbeFolder(copy, libraryInFolder, native);
        }

        /// <summary>Runs the probe; <paramref name="variable"/> sets OTEL_THREAD_CTX_NATIVE_LIBRARY.</summary>
        public async Task<(int ExitCode, string Output)> RunAsync(string expectation, string? variable = null)
        {
            var environment = new Dictionary<string, string?> { ["OTEL_THREAD_CTX_NATIVE_LIBRARY"] = variable ?? "" };
            if (!native)
            {
                var managed = await Tools.RunAsync(ConsumerProject.DotnetHost, [Path.Combine(Folder, "App.dll"), expectation], environment, Folder);
                return (managed.ExitCode, managed.StandardOutput + managed.StandardError);
            }

            // Copies are written while other cuts start processes: a child forked in that moment holds the copy's write
            // descriptor until its exec, and exec of the copy then fails with ETXTBSY. Starting again is the cure.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var run = await Tools.RunAsync(Path.Combine(Folder, "App"), [expectation], environment, Folder);
                    return (run.ExitCode, run.StandardOutput + run.StandardError);
                }
                catch (System.ComponentModel.Win32Exception e) when (attempt < 5 && (e.InnerException?.Message ?? e.Message).Contains("Text file busy", StringComparison.Ordinal))
                {
                    await Task.Delay(100 * attempt);
                }
            }
        }

        public void Dispose()
        {
            if (Path.GetFileName(Folder).StartsWith("otc-integrity-", StringComparison.Ordinal))
            {
                Directory.Delete(Folder, recursive: true);
            }
        }
    }
}
