namespace OtelThreadCtx.Tool;

/// <summary>The exit codes every command returns (docs/tool.md lists them; CI keys on them).</summary>
internal static class ExitCodes
{
    /// <summary>Everything checked conforms / was read.</summary>
    public const int Ok = 0;

    /// <summary>Read fine, but something does not conform (a file fails a check, the process publishes nothing usable).</summary>
    public const int NotConformant = 1;

    /// <summary>The command line is wrong.</summary>
    public const int Usage = 2;

    /// <summary>An input could not be read: a file missing or not ELF, no such process.</summary>
    public const int InputError = 3;

    /// <summary>Not allowed to read the process (ptrace permission).</summary>
    public const int PermissionDenied = 4;
}
