using System.Globalization;

namespace OtelThreadCtx.Tool.Live;

/// <summary>One line of /proc/&lt;pid&gt;/maps.</summary>
internal sealed record MapEntry(ulong Start, ulong End, string Permissions, ulong Offset, string Name)
{
    public bool IsFile => Name.StartsWith('/');
}

/// <summary>A mapped ELF file: its path and load bias (where its vaddr 0 landed).</summary>
internal sealed record MappedModule(string Path, ulong Bias, ulong Start, ulong End);

/// <summary>/proc/&lt;pid&gt;/maps parsed.</summary>
internal static class ProcessMaps
{
    public static IReadOnlyList<MapEntry> Read(int pid)
    {
        var list = new List<MapEntry>();
        foreach (var line in File.ReadLines($"/proc/{pid}/maps"))
        {
            // start-end perms offset dev inode name
            var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 5)
            {
                continue;
            }

            var range = parts[0].Split('-');
            list.Add(new MapEntry(
                ulong.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                ulong.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                parts[1],
                ulong.Parse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                parts.Length > 5 ? parts[5].Trim() : ""));
        }

        return list;
    }

    /// <summary>The first mapping of each file path with offset 0 gives the module; the extent spans all its mappings.</summary>
    public static IReadOnlyList<MappedModule> Modules(IReadOnlyList<MapEntry> maps)
    {
        var modules = new List<MappedModule>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in maps)
        {
            if (!m.IsFile || m.Offset != 0 || !seen.Add(m.Name))
            {
                continue;
            }

            var end = maps.Where(x => x.Name == m.Name).Max(x => x.End);
            modules.Add(new MappedModule(m.Name, m.Start, m.Start, end));
        }

        return modules;
    }
}
