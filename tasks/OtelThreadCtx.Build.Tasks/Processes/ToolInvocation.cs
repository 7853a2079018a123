using System.Text;

namespace OtelThreadCtx.Build.Tasks.Processes;

/// <summary>One run of an external tool: an absolute path and its arguments, immutable.</summary>
public sealed record ToolInvocation(string ToolPath, IReadOnlyList<string> Arguments)
{
    /// <summary>The command as a POSIX shell would need it typed, for logs and reports.</summary>
    public string ToCommandLine()
    {
        var builder = new StringBuilder(Quote(ToolPath));
        foreach (var argument in Arguments)
        {
            builder.Append(' ').Append(Quote(argument));
        }

        return builder.ToString();
    }

    /// <summary>Every element, tool first, as stored in compile_commands.json.</summary>
    public IReadOnlyList<string> ToArgv() => [ToolPath, .. Arguments];

    internal static string Quote(string value)
    {
        if (value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=,:+@%".Contains(c)))
        {
            return value;
        }

        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
