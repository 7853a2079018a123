using System.Text;

namespace OtelThreadCtx.Build.Tasks.Processes;

/// <summary>One run of an external tool: an absolute path and its arguments, immutable.</summary>
public sealed record ToolInvocation(string ToolPath, IReadOnlyList<string> Arguments)
{
    /// <summary>Environment variables set (or, with a null value, removed) for this run only.</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    /// <summary>The command as a POSIX shell would need it typed, for logs and reports.</summary>
    public string ToCommandLine()
    {
        var builder = new StringBuilder();
        foreach (var (name, value) in Environment.Where(e => e.Value is not null).OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            builder.Append(name).Append('=').Append(Quote(value!)).Append(' ');
        }

        builder.Append(Quote(ToolPath));
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

        if (value.Any(char.IsControl))
        {
            // bash's $'…' form keeps control characters (CARGO_ENCODED_RUSTFLAGS separates flags with \x1f) visible.
            var escaped = new StringBuilder("$'");
            foreach (var c in value)
            {
                escaped.Append(c switch
                {
                    '\\' => "\\\\",
                    '\'' => "\\'",
                    _ when char.IsControl(c) => $"\\x{(int)c:x2}",
                    _ => c.ToString(),
                });
            }

            return escaped.Append('\'').ToString();
        }

        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}
