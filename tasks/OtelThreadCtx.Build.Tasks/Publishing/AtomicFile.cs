using System.Security.Cryptography;

namespace OtelThreadCtx.Build.Tasks.Publishing;

/// <summary>Writes a file whole or not at all: the bytes go to a temporary name in the destination's own folder, are
/// flushed to the disk, and the temporary file is renamed over the destination (rename(2) is atomic within one file
/// system). A full disk or an interrupted build leaves the old file, or none, never a partial one under the real name.
/// The destination's inode is replaced, never written into, so a hard link into the NuGet cache is never changed.</summary>
public static class AtomicFile
{
    /// <summary>The temporary name beside <paramref name="destination"/>; <see cref="IsTemporary"/> recognises it.</summary>
    public static string TemporaryName(string destination) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(destination))!, $".{Path.GetFileName(destination)}.{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");

    public static bool IsTemporary(string path) =>
        Path.GetFileName(path) is { } name && name.StartsWith('.') && name.EndsWith(".tmp", StringComparison.Ordinal);

    /// <summary>Copies <paramref name="source"/> whole, with its permission bits (a linked library keeps its execute
    /// bits, as the SDK's own copies do).</summary>
    public static void Copy(string source, string destination)
    {
        using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read);
        UnixFileMode? mode = OperatingSystem.IsWindows() ? null : File.GetUnixFileMode(source);
        Write(destination, output => input.CopyTo(output), mode);
    }

    public static void WriteAllText(string destination, string text) =>
        Write(destination, output =>
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            output.Write(bytes);
        });

    public static void WriteAllLines(string destination, IEnumerable<string> lines) =>
        WriteAllText(destination, string.Concat(lines.Select(l => l + "\n")));

    private static void Write(string destination, Action<FileStream> fill, UnixFileMode? mode = null)
    {
        var temporary = TemporaryName(destination);
        try
        {
            using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                fill(output);
                output.Flush(flushToDisk: true);
            }

            if (mode is { } bits && !OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temporary, bits);
            }

            // The new file is as new as this build, whatever the source's time: the gate compares times.
            File.SetLastWriteTimeUtc(temporary, DateTime.UtcNow);
            File.Move(temporary, destination, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }

    /// <summary>True when both files exist with the same length and SHA-256.</summary>
    public static bool SameContent(string a, string b)
    {
        var first = new FileInfo(a);
        var second = new FileInfo(b);
        return first.Exists && second.Exists && first.Length == second.Length && Sha256(a) == Sha256(b);
    }
}
