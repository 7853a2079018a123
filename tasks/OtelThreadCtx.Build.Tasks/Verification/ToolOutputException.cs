namespace OtelThreadCtx.Build.Tasks.Verification;

/// <summary>A line of nm/readelf output that the readers do not understand. A check never passes over it.</summary>
public sealed class ToolOutputException : Exception
{
    public ToolOutputException(string tool, string line)
        : base($"{tool} printed a line this build cannot read: '{line}'")
    {
        Tool = tool;
        Line = line;
    }

    public ToolOutputException()
    {
        Tool = string.Empty;
        Line = string.Empty;
    }

    public ToolOutputException(string message)
        : base(message)
    {
        Tool = string.Empty;
        Line = string.Empty;
    }

    public ToolOutputException(string message, Exception innerException)
        : base(message, innerException)
    {
        Tool = string.Empty;
        Line = string.Empty;
    }

    public string Tool { get; }

    public string Line { get; }
}
