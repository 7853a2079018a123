using System.Text.RegularExpressions;

namespace OtelThreadCtx.Build.Tasks.Verification;

/// <summary>One line of <c>nm</c> output.</summary>
public sealed record NmSymbol(string? Address, char Type, string Name, string RawLine)
{
    /// <summary>The name without a symbol version (<c>free@GLIBC_2.2.5</c> → <c>free</c>).</summary>
    public string BaseName => Name.Split('@', 2)[0];
}

/// <summary>Reads GNU <c>nm</c> and <c>llvm-nm</c> output (default BSD format), with or without <c>-D</c>.</summary>
public static partial class NmReader
{
    [GeneratedRegex(@"^(?:(?<addr>[0-9a-fA-F]+)\s+|\s+)(?<type>[A-Za-z?\-])\s+(?<name>\S.*)$")]
    private static partial Regex SymbolLine();

    public static IReadOnlyList<NmSymbol> Parse(string output, string toolName = "nm")
    {
        ArgumentNullException.ThrowIfNull(output);
        var symbols = new List<NmSymbol>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0)
            {
                continue;
            }

            var match = SymbolLine().Match(line);
            if (!match.Success)
            {
                throw new ToolOutputException(toolName, line);
            }

            var address = match.Groups["addr"].Success ? match.Groups["addr"].Value : null;
            symbols.Add(new NmSymbol(address, match.Groups["type"].Value[0], match.Groups["name"].Value.Trim(), line));
        }

        return symbols;
    }

    /// <summary>Whether nm's standard error says the file simply has no symbol table (stripped).</summary>
    public static bool ReportsNoSymbols(string standardError) =>
        standardError.Contains("no symbols", StringComparison.Ordinal);
}
