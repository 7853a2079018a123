namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>What a tool says it is: flavor, version, vendor, and the banner line that said so.</summary>
public sealed record ToolIdentity(ToolFlavor Flavor, ToolVersion? Version, string Vendor, string BannerLine)
{
    public static ToolIdentity Unreadable(string bannerLine) => new(ToolFlavor.Unknown, null, string.Empty, bannerLine);

    public bool IsKnown => Flavor != ToolFlavor.Unknown && Version is not null;

    public string Describe()
    {
        var vendor = Vendor.Length == 0 ? string.Empty : Vendor + " ";
        return Version is { } version ? $"{vendor}{Flavor} {version}" : $"unrecognised ('{BannerLine}')";
    }
}
