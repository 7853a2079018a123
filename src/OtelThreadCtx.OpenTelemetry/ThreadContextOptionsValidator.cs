using OpenTelemetry.Trace;

namespace OtelThreadCtx.OpenTelemetry;

/// <summary>The startup check of <see cref="ThreadContextOptions"/> against the limits of OTEP 4947.</summary>
internal static class ThreadContextOptionsValidator
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first name that breaks a limit and the fix.</summary>
    public static void Validate(ThreadContextOptions options)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var newKeys = 0;
        foreach (var name in options.AttributeTagNames)
        {
            if (string.IsNullOrEmpty(name))
            {
                throw Invalid("an attribute tag name is empty", "remove it from AttributeTagNames");
            }

            if (!seen.Add(name))
            {
                throw Invalid($"the attribute tag name '{name}' is listed twice", "list each tag once");
            }

            // The rules ThreadContextKeys.Register applies, checked here at startup so that the error names the option.
            if (ThreadContextKeys.NameProblem(name) is { } problem)
            {
                throw Invalid($"the attribute tag name '{(name.Length > 32 ? name[..32] + "…" : name)}' cannot be a key: {problem}", "rename or remove the tag");
            }

            if (!ThreadContextKeys.TryGet(name, out _))
            {
                newKeys++;
            }
        }

        var registered = ThreadContextKeys.Names.Count;
        if (registered + newKeys > ThreadContextKeys.MaxKeys)
        {
            throw Invalid(
                $"{newKeys} new attribute keys would join the {registered} already registered in this process, over the {ThreadContextKeys.MaxKeys} keys a one-byte key index can name",
                "publish fewer distinct tags");
        }

        // Every attribute takes at least its two-byte header in the record: more tags than that can never all be published.
        var most = ThreadContextRecord.AttributeCapacity / 2;
        if (seen.Count > most)
        {
            throw Invalid($"{seen.Count} attribute tags cannot fit in a record's {ThreadContextRecord.AttributeCapacity} attribute bytes (at most {most} even with empty values)", "publish fewer tags");
        }
    }

    private static ArgumentException Invalid(string found, string fix) =>
        new($"AddThreadContext: {found}. OTEP 4947 thread context names each attribute by a one-byte index into the process context's key map. Fix: {fix} (ThreadContextOptions.AttributeTagNames).", "configure");
}
