using System.Text.Json;
using System.Text.Json.Serialization;

namespace OtelThreadCtx.Tool.Output;

/// <summary>--json output: one source-generated (trim- and AOT-safe) serializer context for every report.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true, UseStringEnumConverter = true)]
[JsonSerializable(typeof(CheckReport))]
[JsonSerializable(typeof(InspectReport))]
[JsonSerializable(typeof(WatchReport))]
internal sealed partial class ToolJsonContext : JsonSerializerContext;

internal static class Json
{
    /// <summary>The version of the --json schema (docs/tool.md); bumped on any incompatible change.</summary>
    public const int SchemaVersion = 1;

    public const string ToolName = "otel-thread-ctx";

    public static void Write<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        Console.Out.WriteLine(JsonSerializer.Serialize(value, info));
    }
}
