using System.Globalization;
using System.Text.RegularExpressions;

namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>Lists, in order, the files that may be a tool: the explicit property, the LLVM root,
/// versioned then unversioned names on PATH (newest first), then <c>/usr/lib/llvm-NN/bin</c>
/// (newest first). The Rust toolchain's LLD is found separately (<see cref="RustLldLocator"/>).</summary>
public static partial class ToolSearch
{
    [GeneratedRegex(@"^llvm-(\d+)$")]
    private static partial Regex LlvmInstallFolder();

    /// <summary>The names a tool goes by, most specific first. <paramref name="allowGcc"/> adds gcc and cc
    /// for the default build, after every clang.</summary>
    public static IReadOnlyList<string> BaseNames(ToolKind kind, bool allowGcc) => kind switch
    {
        ToolKind.CCompiler => allowGcc ? ["clang", "gcc", "cc"] : ["clang"],
        ToolKind.Linker => ["ld.lld"],
        ToolKind.Nm => ["nm", "llvm-nm"],
        ToolKind.ReadElf => ["readelf", "llvm-readelf"],
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Names found inside an LLVM bin folder (no GNU names there).</summary>
    private static IReadOnlyList<string> LlvmNames(ToolKind kind) => kind switch
    {
        ToolKind.CCompiler => ["clang"],
        ToolKind.Linker => ["ld.lld"],
        ToolKind.Nm => ["llvm-nm"],
        ToolKind.ReadElf => ["llvm-readelf"],
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Every existing candidate file, in search order, without duplicates.</summary>
    public static IReadOnlyList<ToolCandidate> Candidates(ToolKind kind, ToolSearchOptions options, bool allowGcc)
    {
        ArgumentNullException.ThrowIfNull(options);
        var found = new List<ToolCandidate>();
        var seen = new HashSet<string>(StringComparer.Ordinal);

        void Add(string path, ToolOrigin origin)
        {
            if (IsExecutableFile(path) && seen.Add(Path.GetFullPath(path)))
            {
                found.Add(new ToolCandidate(Path.GetFullPath(path), origin));
            }
        }

        if (!string.IsNullOrWhiteSpace(options.LlvmRoot))
        {
            foreach (var name in LlvmNames(kind))
            {
                Add(Path.Combine(options.LlvmRoot, "bin", name), ToolOrigin.LlvmRoot);
            }
        }

        foreach (var baseName in BaseNames(kind, allowGcc))
        {
            // Versioned names (clang-19, ld.lld-22 …) across PATH, newest first.
            var versioned = new List<(int Version, int Order, string Path)>();
            for (var order = 0; order < options.SearchPath.Count; order++)
            {
                var folder = options.SearchPath[order];
                if (!Directory.Exists(folder))
                {
                    continue;
                }

                foreach (var file in SafeEnumerate(folder, baseName + "-*"))
                {
                    var suffix = Path.GetFileName(file)[(baseName.Length + 1)..];
                    if (int.TryParse(suffix, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
                    {
                        versioned.Add((version, order, file));
                    }
                }
            }

            foreach (var entry in versioned.OrderByDescending(v => v.Version).ThenBy(v => v.Order))
            {
                Add(entry.Path, ToolOrigin.SearchPath);
            }

            foreach (var folder in options.SearchPath)
            {
                Add(Path.Combine(folder, baseName), ToolOrigin.SearchPath);
            }
        }

        foreach (var binFolder in LlvmInstallBinFolders(options.LlvmInstallRoot))
        {
            foreach (var name in LlvmNames(kind))
            {
                Add(Path.Combine(binFolder, name), ToolOrigin.LlvmInstallDirectory);
            }
        }

        return found;
    }

    /// <summary>The places searched, for "where it looked" in error messages.</summary>
    public static IReadOnlyList<string> DescribeSearch(ToolKind kind, ToolSearchOptions options, bool allowGcc)
    {
        ArgumentNullException.ThrowIfNull(options);
        var places = new List<string>();
        if (options.ExplicitPaths.TryGetValue(kind, out var explicitPath) && !string.IsNullOrWhiteSpace(explicitPath))
        {
            places.Add($"{kind.PropertyName()}={explicitPath}");
        }

        if (!string.IsNullOrWhiteSpace(options.LlvmRoot))
        {
            places.Add($"OtelThreadCtxLlvmRoot={options.LlvmRoot}/bin");
        }

        var names = string.Join(", ", BaseNames(kind, allowGcc).Select(n => $"{n}, {n}-NN"));
        places.Add($"PATH ({string.Join(':', options.SearchPath)}) for {names}");
        places.Add($"{Path.Combine(options.LlvmInstallRoot, "llvm-NN", "bin")}");
        return places;
    }

    private static IEnumerable<string> LlvmInstallBinFolders(string root)
    {
        if (!Directory.Exists(root))
        {
            return [];
        }

        return SafeEnumerateDirectories(root, "llvm-*")
            .Select(dir => (Dir: dir, Match: LlvmInstallFolder().Match(Path.GetFileName(dir))))
            .Where(x => x.Match.Success)
            .OrderByDescending(x => int.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture))
            .Select(x => Path.Combine(x.Dir, "bin"));
    }

    internal static bool IsExecutableFile(string path)
    {
        try
        {
            if (!File.Exists(path))
            {
                return false;
            }

            if (OperatingSystem.IsWindows())
            {
                return true;
            }

            var mode = File.GetUnixFileMode(path);
            return (mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static IEnumerable<string> SafeEnumerate(string folder, string pattern)
    {
        try
        {
            return Directory.GetFiles(folder, pattern);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static IEnumerable<string> SafeEnumerateDirectories(string folder, string pattern)
    {
        try
        {
            return Directory.GetDirectories(folder, pattern);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
