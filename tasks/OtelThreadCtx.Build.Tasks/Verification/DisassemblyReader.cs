using System.Text.RegularExpressions;

namespace OtelThreadCtx.Build.Tasks.Verification;

/// <summary>One function of <c>objdump -d</c> output: its instruction lines.</summary>
public sealed record DisassembledFunction(string Name, IReadOnlyList<string> Lines, ulong Address = 0);

/// <summary>Splits <c>objdump -d --no-show-raw-insn</c> (GNU or LLVM) output into functions.</summary>
public static partial class DisassemblyReader
{
    [GeneratedRegex(@"^(?<address>[0-9a-f]+) <(?<name>[^>]+)>:\s*$")]
    private static partial Regex FunctionHeader();

    [GeneratedRegex(@"^\s+[0-9a-f]+:\s")]
    private static partial Regex Instruction();

    public static IReadOnlyList<DisassembledFunction> Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var functions = new List<DisassembledFunction>();
        string? name = null;
        ulong address = 0;
        var lines = new List<string>();
        foreach (var line in output.Split('\n'))
        {
            if (FunctionHeader().Match(line) is { Success: true } header)
            {
                if (name is not null)
                {
                    functions.Add(new DisassembledFunction(name, lines, address));
                }

                name = header.Groups["name"].Value;
                address = Convert.ToUInt64(header.Groups["address"].Value, 16);
                lines = [];
            }
            else if (name is not null && Instruction().IsMatch(line))
            {
                lines.Add(line.Trim());
            }
        }

        if (name is not null)
        {
            functions.Add(new DisassembledFunction(name, lines, address));
        }

        if (functions.Count == 0)
        {
            throw new ToolOutputException("objdump -d", output.Split('\n').FirstOrDefault() ?? string.Empty);
        }

        return functions;
    }

    /// <summary>The line of the TLSDESC call sequence in a function (x86-64: <c>lea …(%rip),%rax; call *(%rax)</c>;
    /// aarch64: <c>adrp x0 …; ldr x1, [x0 …]; add x0, x0 …; blr x1</c>), or null.</summary>
    public static string? TlsDescSequence(DisassembledFunction function, string architecture)
    {
        ArgumentNullException.ThrowIfNull(function);
        var lines = function.Lines;
        for (var i = 1; i < lines.Count; i++)
        {
            if (architecture == "arm64")
            {
                if (Regex.IsMatch(lines[i], @"\bblr\s+x1\b") && lines.Take(i).Any(l => Regex.IsMatch(l, @"\bldr\s+x1,\s*\[x0")))
                {
                    return lines[i];
                }
            }
            else if (Regex.IsMatch(lines[i], @"\bcall[q]?\s+\*\(%rax\)") && Regex.IsMatch(lines[i - 1], @"\blea[q]?\s+.*\(%rip\),\s*%rax"))
            {
                return $"{lines[i - 1]} ; {lines[i]}";
            }
        }

        return null;
    }

    /// <summary>The GOT slots this function calls through (x86-64 <c>call *0x…(%rip)  # slot</c>): a call to a symbol whose
    /// address the linker put in the GOT (an external function, or a local one reached the PIC way).</summary>
    public static IReadOnlyList<ulong> IndirectCallSlots(DisassembledFunction function)
    {
        ArgumentNullException.ThrowIfNull(function);
        return function.Lines
            .Select(l => Regex.Match(l, @"\b(?:call|jmp)[q]?\s+\*(?:0x[0-9a-f]+)?\(%rip\)\s+#\s+(?<slot>[0-9a-f]+)"))
            .Where(m => m.Success)
            .Select(m => Convert.ToUInt64(m.Groups["slot"].Value, 16))
            .Distinct()
            .ToList();
    }

    /// <summary>Names of the functions this one calls directly (<c>call addr &lt;name&gt;</c>, <c>bl addr &lt;name&gt;</c>).</summary>
    public static IReadOnlyList<string> Calls(DisassembledFunction function)
    {
        ArgumentNullException.ThrowIfNull(function);
        return function.Lines
            .Select(l => Regex.Match(l, @"\b(?:call[q]?|bl|jmp[q]?|b)\s+[0-9a-f]+\s+<(?<target>[^>+@]+)"))
            .Where(m => m.Success)
            .Select(m => m.Groups["target"].Value)
            .Distinct(StringComparer.Ordinal)
            .ToList();
    }
}
