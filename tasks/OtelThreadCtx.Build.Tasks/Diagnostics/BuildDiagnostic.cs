namespace OtelThreadCtx.Build.Tasks.Diagnostics;

/// <summary>A build error or warning with its stable code (OTC####) and a message that says
/// what was found, where the build looked, and the fix.</summary>
public sealed record BuildDiagnostic(string Code, string Message)
{
    public override string ToString() => $"{Code}: {Message}";
}
