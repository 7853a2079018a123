using System.Text.Json;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks.Publishing;

/// <summary>Whether a library is the one its verification report describes: the report parses, names the mode and
/// target asked for, and records the library's exact size and SHA-256 (and its debug file's SHA-256 when there is
/// one). The gate trusts a published library only then; the publish step checks the same before it publishes.</summary>
public static class ReportMatch
{
    /// <summary>Null when <paramref name="library"/> matches <paramref name="report"/>; otherwise why not, one line. A report
    /// of failed checks matches only while <paramref name="unverifiedMarker"/> (the warnings-mode marker) exists.</summary>
    public static string? Mismatch(string library, string report, string? debugFile, string? mode, string? target, string? unverifiedMarker)
    {
        var libraryInfo = new FileInfo(library);
        if (!libraryInfo.Exists)
        {
            return $"{library} does not exist";
        }

        if (!File.Exists(report))
        {
            return $"its report {report} does not exist";
        }

        VerificationReport? record;
        try
        {
            record = VerificationReport.FromJson(File.ReadAllText(report));
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException)
        {
            return $"its report {report} does not parse ({e.Message.ReplaceLineEndings(" ")})";
        }

        if (record is null || record.Sha256 is null || record.Size is null)
        {
            return $"its report {report} records no size and SHA-256 (schema {record?.SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"})";
        }

        if (mode is not null && !string.Equals(record.Mode, mode, StringComparison.Ordinal))
        {
            return $"its report {report} is for a {record.Mode} library, not {mode}";
        }

        if (target is not null && !string.Equals(record.Target, target, StringComparison.Ordinal))
        {
            return $"its report {report} is for {record.Target}, not {target}";
        }

        if (!record.Passed && (string.IsNullOrEmpty(unverifiedMarker) || !File.Exists(unverifiedMarker)))
        {
            return $"its report {report} says the library failed verification, and it is not kept as unverified ({unverifiedMarker} is missing)";
        }

        if (libraryInfo.Length != record.Size)
        {
            return $"{library} is {libraryInfo.Length} bytes but its report records {record.Size}";
        }

        var sha256 = AtomicFile.Sha256(library);
        if (!string.Equals(sha256, record.Sha256, StringComparison.Ordinal))
        {
            return $"{library} has SHA-256 {sha256} but its report records {record.Sha256}";
        }

        if (!string.IsNullOrEmpty(debugFile))
        {
            if (record.DebugSha256 is null)
            {
                return $"its report {report} records no debug file, but one is expected at {debugFile}";
            }

            if (!File.Exists(debugFile))
            {
                return $"{debugFile} does not exist";
            }

            var debugSha256 = AtomicFile.Sha256(debugFile);
            if (!string.Equals(debugSha256, record.DebugSha256, StringComparison.Ordinal))
            {
                return $"{debugFile} has SHA-256 {debugSha256} but its report records {record.DebugSha256}";
            }
        }

        return null;
    }
}
