using System.Globalization;

namespace OtelThreadCtx.Build.Tasks.Toolchain;

/// <summary>A major.minor.patch version as printed in a banner.</summary>
public readonly record struct ToolVersion(int Major, int Minor, int Patch) : IComparable<ToolVersion>
{
    public static ToolVersion Parse(string major, string? minor, string? patch) => new(
        int.Parse(major, CultureInfo.InvariantCulture),
        string.IsNullOrEmpty(minor) ? 0 : int.Parse(minor, CultureInfo.InvariantCulture),
        string.IsNullOrEmpty(patch) ? 0 : int.Parse(patch, CultureInfo.InvariantCulture));

    /// <summary>"major.minor.patch" as <see cref="ToString"/> writes it (item metadata); null when empty or unreadable.</summary>
    public static ToolVersion? TryParse(string? text)
    {
        var parts = (text ?? string.Empty).Split('.');
        return parts.Length == 3 && parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            ? Parse(parts[0], parts[1], parts[2])
            : null;
    }

    public int CompareTo(ToolVersion other) =>
        Major != other.Major ? Major.CompareTo(other.Major)
        : Minor != other.Minor ? Minor.CompareTo(other.Minor)
        : Patch.CompareTo(other.Patch);

    public static bool operator <(ToolVersion left, ToolVersion right) => left.CompareTo(right) < 0;
    public static bool operator >(ToolVersion left, ToolVersion right) => left.CompareTo(right) > 0;
    public static bool operator <=(ToolVersion left, ToolVersion right) => left.CompareTo(right) <= 0;
    public static bool operator >=(ToolVersion left, ToolVersion right) => left.CompareTo(right) >= 0;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Major}.{Minor}.{Patch}");
}
