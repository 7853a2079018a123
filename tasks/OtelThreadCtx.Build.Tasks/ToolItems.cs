using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using OtelThreadCtx.Build.Tasks.Toolchain;
using OtelThreadCtx.Build.Tasks.Verification;

namespace OtelThreadCtx.Build.Tasks;

/// <summary>Moves a resolved tool between tasks as an MSBuild item (path + metadata).</summary>
internal static class ToolItems
{
    public static ITaskItem ToItem(ResolvedTool tool)
    {
        var item = new TaskItem(tool.Path);
        item.SetMetadata("Kind", tool.Kind.ToString());
        item.SetMetadata("Origin", tool.Origin.ToString());
        item.SetMetadata("Flavor", tool.Identity.Flavor.ToString());
        item.SetMetadata("Version", tool.Identity.Version?.ToString() ?? string.Empty);
        item.SetMetadata("Vendor", tool.Identity.Vendor);
        item.SetMetadata("Banner", tool.Identity.BannerLine);
        item.SetMetadata("VersionFailure", tool.Identity.Failure ?? string.Empty);
        return item;
    }

    public static ResolvedTool? FromItem(ITaskItem? item, ToolKind kind)
    {
        if (item is null || string.IsNullOrWhiteSpace(item.ItemSpec))
        {
            return null;
        }

        _ = Enum.TryParse<ToolOrigin>(item.GetMetadata("Origin"), out var origin);
        _ = Enum.TryParse<ToolFlavor>(item.GetMetadata("Flavor"), out var flavor);
        var identity = new ToolIdentity(flavor, ToolVersion.TryParse(item.GetMetadata("Version")), item.GetMetadata("Vendor"), item.GetMetadata("Banner"),
            item.GetMetadata("VersionFailure") is { Length: > 0 } failure ? failure : null);
        return new ResolvedTool(kind, item.ItemSpec, origin, identity);
    }

    public static ToolReport ToReport(ResolvedTool tool) => new(
        tool.Path, tool.Identity.Flavor.ToString(), tool.Identity.Version?.ToString(), tool.Identity.Vendor, tool.Origin.ToString(), tool.Identity.BannerLine);
}
