using System.Globalization;
using System.Text.RegularExpressions;

namespace OtelThreadCtx.Build.Tasks.Verification;

public sealed record ElfSymbol(int Number, ulong Size, string Type, string Bind, string Visibility, string SectionIndex, string Name, string RawLine)
{
    public string BaseName => Name.Split('@', 2)[0];

    public bool IsDefined => !string.Equals(SectionIndex, "UND", StringComparison.Ordinal);

    /// <summary>st_value: the address of a function or object; for a TLS symbol, its offset in the TLS segment.</summary>
    public ulong Value { get; init; }
}

public sealed record ElfRelocation(string Section, string Type, string? SymbolName, string RawLine)
{
    public string? SymbolBaseName => SymbolName?.Split('@', 2)[0];
}

public sealed record ElfProgramHeader(string Type, string Flags, string RawLine);

public sealed record ElfDynamicEntry(string Tag, string Value, string RawLine);

/// <summary>Reads GNU <c>readelf -W</c> and <c>llvm-readelf -W</c> output for dynamic symbols,
/// relocations, program headers and the dynamic section. A line it does not recognise is an error.</summary>
public static partial class ReadElfReader
{
    [GeneratedRegex(@"^\s*(?<num>\d+):\s+(?<value>[0-9a-fA-F]+)\s+(?<size>0x[0-9a-fA-F]+|\d+)\s+(?<type>\S+)\s+(?<bind>\S+)\s+(?<vis>\S+)(?:\s+\[[^\]]*\])?\s+(?<ndx>\S+)(?:\s+(?<name>\S+))?(?:\s+\(\d+\))?\s*$")]
    private static partial Regex SymbolLine();

    [GeneratedRegex(@"^Symbol table '[^']*' contains \d+ entr(?:y|ies):$")]
    private static partial Regex SymbolTableHeader();

    [GeneratedRegex(@"^\s*Num:\s+Value\s+Size\s+Type\s+Bind\s+Vis\s+Ndx\s+Name\s*$")]
    private static partial Regex SymbolColumns();

    [GeneratedRegex(@"^Relocation section '(?<section>[^']*)' at offset 0x[0-9a-fA-F]+ contains \d+ entr(?:y|ies):$")]
    private static partial Regex RelocationHeader();

    [GeneratedRegex(@"^\s*Offset\s+Info\s+Type\s+Symbol's Value\s+Symbol's Name(?: \+ Addend)?\s*$")]
    private static partial Regex RelocationColumns();

    [GeneratedRegex(@"^(?<offset>[0-9a-fA-F]+)\s+(?<info>[0-9a-fA-F]+)\s+(?<type>R_[A-Z0-9_]+|\(?[0-9a-fA-F]+\)?)\s*(?<rest>.*)$")]
    private static partial Regex RelocationLine();

    [GeneratedRegex(@"^[0-9a-fA-F]+\s+(?<name>\S+)(?:\s+[+-]\s+[0-9a-fA-F]+)?$")]
    private static partial Regex RelocationSymbol();

    [GeneratedRegex(@"^[+-]?\s*[0-9a-fA-F]*$")]
    private static partial Regex RelocationAddendOnly();

    [GeneratedRegex(@"^\s*(?<type>[A-Za-z_0-9+]+)\s+0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+\s+0x[0-9a-fA-F]+\s+(?<flags>R?\s?W?\s?E?)\s+(?:0x[0-9a-fA-F]+|\d+)\s*$")]
    private static partial Regex ProgramHeaderLine();

    [GeneratedRegex(@"^\s*0x[0-9a-fA-F]+\s+\((?<tag>[A-Za-z_0-9]+)\)\s+(?<value>.*?)\s*$")]
    private static partial Regex DynamicLine();

    public static IReadOnlyList<ElfSymbol> ParseSymbols(string output)
    {
        var symbols = new List<ElfSymbol>();
        foreach (var line in Lines(output))
        {
            if (SymbolTableHeader().IsMatch(line) || SymbolColumns().IsMatch(line)
                || line.StartsWith("Dynamic symbol information is not available", StringComparison.Ordinal))
            {
                continue;
            }

            var m = SymbolLine().Match(line);
            if (!m.Success)
            {
                throw new ToolOutputException("readelf --dyn-syms", line);
            }

            var sizeText = m.Groups["size"].Value;
            var size = sizeText.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? ulong.Parse(sizeText[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)
                : ulong.Parse(sizeText, CultureInfo.InvariantCulture);
            symbols.Add(new ElfSymbol(
                int.Parse(m.Groups["num"].Value, CultureInfo.InvariantCulture), size,
                m.Groups["type"].Value, m.Groups["bind"].Value, m.Groups["vis"].Value, m.Groups["ndx"].Value,
                m.Groups["name"].Success ? m.Groups["name"].Value : string.Empty, line)
            {
                Value = ulong.Parse(m.Groups["value"].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture),
            });
        }

        return symbols;
    }

    public static IReadOnlyList<ElfRelocation> ParseRelocations(string output)
    {
        var relocations = new List<ElfRelocation>();
        string? section = null;
        foreach (var line in Lines(output))
        {
            if (RelocationHeader().Match(line) is { Success: true } header)
            {
                section = header.Groups["section"].Value;
                continue;
            }

            if (RelocationColumns().IsMatch(line) || line.StartsWith("There are no relocations in this file", StringComparison.Ordinal))
            {
                continue;
            }

            var m = RelocationLine().Match(line);
            if (section is null || !m.Success)
            {
                throw new ToolOutputException("readelf -r", line);
            }

            var rest = m.Groups["rest"].Value.Trim();
            string? symbol = null;
            if (RelocationSymbol().Match(rest) is { Success: true } withSymbol)
            {
                symbol = withSymbol.Groups["name"].Value;
            }
            else if (!RelocationAddendOnly().IsMatch(rest))
            {
                throw new ToolOutputException("readelf -r", line);
            }

            relocations.Add(new ElfRelocation(section, m.Groups["type"].Value, symbol, line));
        }

        return relocations;
    }

    public static IReadOnlyList<ElfProgramHeader> ParseProgramHeaders(string output)
    {
        var headers = new List<ElfProgramHeader>();
        var inTable = false;
        foreach (var line in Lines(output))
        {
            var trimmed = line.Trim();
            if (trimmed.StartsWith("Program Headers:", StringComparison.Ordinal))
            {
                inTable = true;
                continue;
            }

            if (trimmed.StartsWith("Section to Segment mapping", StringComparison.Ordinal))
            {
                break;
            }

            if (!inTable || trimmed.StartsWith("Type ", StringComparison.Ordinal) || trimmed.StartsWith("[Requesting program interpreter", StringComparison.Ordinal))
            {
                continue;
            }

            var m = ProgramHeaderLine().Match(line);
            if (!m.Success)
            {
                throw new ToolOutputException("readelf -l", line);
            }

            headers.Add(new ElfProgramHeader(m.Groups["type"].Value, m.Groups["flags"].Value.Replace(" ", string.Empty, StringComparison.Ordinal), line));
        }

        if (!inTable)
        {
            throw new ToolOutputException("readelf -l", "(no 'Program Headers:' table in the output)");
        }

        return headers;
    }

    public static IReadOnlyList<ElfDynamicEntry> ParseDynamicSection(string output)
    {
        var entries = new List<ElfDynamicEntry>();
        foreach (var line in Lines(output))
        {
            var trimmed = line.Trim();
            if (trimmed.StartsWith("Dynamic section at offset", StringComparison.Ordinal) || trimmed.StartsWith("Tag ", StringComparison.Ordinal))
            {
                continue;
            }

            var m = DynamicLine().Match(line);
            if (!m.Success)
            {
                throw new ToolOutputException("readelf -d", line);
            }

            entries.Add(new ElfDynamicEntry(m.Groups["tag"].Value, m.Groups["value"].Value, line));
        }

        return entries;
    }

    private static IEnumerable<string> Lines(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        return output.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0);
    }
}
