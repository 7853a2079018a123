namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>What a tool says it is: flavor, version, vendor, and the banner line that said so. <see cref="Failure"/>:
/// why <c>--version</c> gave no banner at all (it exited non-zero, or could not be run), one line.</summary>
public sealed record ToolIdentity(ToolFlavor Flavor, ToolVersion? Version, string Vendor, string BannerLine, string? Failure = null)
{
    public static ToolIdentity Unreadable(string bannerLine) => new(ToolFlavor.Unknown, null, string.Empty, bannerLine);

    /// <summary><c>--version</c> failed: <paramref name="failure"/> says how, in one line (exit code and first output line).</summary>
    public static ToolIdentity Failed(string failure) => new(ToolFlavor.Unknown, null, string.Empty, string.Empty, failure);

    /// <summary>What --version gave, one line, for messages: the failure, or the banner line quoted.</summary>
    public string Answer => Failure ?? (BannerLine.Length == 0 ? "printed nothing" : $"printed '{BannerLine}'");

    public bool IsKnown => Flavor != ToolFlavor.Unknown && Version is not null;

    public string Describe()
    {
        var vendor = Vendor.Length == 0 ? string.Empty : Vendor + " ";
        return Version is { } version ? $"{vendor}{Flavor} {version}" : $"unrecognised (--version {Answer})";
    }
}
