using Microsoft.Build.Framework;
using OtelThreadCtx.Build.Tasks.Diagnostics;
using OtelThreadCtx.Build.Tasks.Publishing;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Makes each destination byte-equal to its source, whatever the timestamps: the SDK's copies skip a source
/// that is older than the destination (publish's PreserveNewest) or of the same size and time, so after a switch of
/// mode an output folder could keep the other mode's library. Compares size and SHA-256 and replaces a differing
/// destination whole (<see cref="AtomicFile"/>: a hard link into the NuGet cache is replaced, never written into).</summary>
public sealed class CopyNativeLibraryTask : OtelThreadCtxTask
{
    [Required]
    public ITaskItem[] SourceFiles { get; set; } = [];

    [Required]
    public ITaskItem[] DestinationFiles { get; set; } = [];

    /// <summary>$(OtelThreadCtxMode), for the message.</summary>
    public string Mode { get; set; } = string.Empty;

    [Output]
    public ITaskItem[] ReplacedFiles { get; private set; } = [];

    protected override Task<bool> ExecuteAsync()
    {
        if (SourceFiles.Length != DestinationFiles.Length)
        {
            Log.LogError("CopyNativeLibraryTask: {0} source files but {1} destination files.", SourceFiles.Length, DestinationFiles.Length);
            return Task.FromResult(false);
        }

        var replaced = new List<ITaskItem>();
        for (var i = 0; i < SourceFiles.Length; i++)
        {
            var source = Path.GetFullPath(SourceFiles[i].ItemSpec);
            var destination = Path.GetFullPath(DestinationFiles[i].ItemSpec);
            if (AtomicFile.SameContent(source, destination))
            {
                continue;
            }

            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                AtomicFile.Copy(source, destination);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Report(new BuildDiagnostic(DiagnosticCodes.PublishFailed,
                    $"OtelThreadCtx: could not put the {Mode} library {source} at {destination}: {e.Message.ReplaceLineEndings(" ")} " +
                    "The file there is not the library of this build. Fix: free space on (or make writable) that folder's file system, then build again."));
                return Task.FromResult(false);
            }

            Log.LogMessage(MessageImportance.High, "OtelThreadCtx: {0} held another library than this {1} build's; replaced it with {2}.", destination, Mode, source);
            replaced.Add(DestinationFiles[i]);
        }

        ReplacedFiles = [.. replaced];
        return Task.FromResult(true);
    }
}
