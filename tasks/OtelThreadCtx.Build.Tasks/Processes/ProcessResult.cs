namespace OtelThreadCtx.Build.Tasks.Processes;

/// <summary>What an external tool printed and how it exited.</summary>
public sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>Both streams, for messages and reports.</summary>
    public string CombinedOutput =>
        string.IsNullOrEmpty(StandardError) ? StandardOutput : StandardOutput + StandardError;
}
