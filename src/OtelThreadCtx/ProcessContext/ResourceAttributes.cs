using System.Globalization;
using Google.Protobuf;
using OtelThreadCtx.Protocol.Common;
using OtelThreadCtx.Protocol.Resource;

namespace OtelThreadCtx.ProcessContext;

/// <summary>Builds the OTEP 4719 payload: the user's resource attributes, the standard ones from
/// <c>OTEL_SERVICE_NAME</c>/<c>OTEL_RESOURCE_ATTRIBUTES</c>, and the thread-context keys.</summary>
internal static class ResourceAttributes
{
    public const string SchemaVersionKey = "threadlocal.schema_version";
    public const string KeyMapKey = "threadlocal.attribute_key_map";

    /// <summary>Until OTEP 4947 is merged, readers look for this schema version.</summary>
    public const string SchemaVersion = "tlsdesc_v1_dev";

    private static readonly string[] StandardKeys = ["service.name", "service.instance.id", "deployment.environment.name", "service.version"];

    /// <summary>The standard attributes the environment sets: OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES.</summary>
    public static Dictionary<string, string> FromEnvironment(Func<string, string?> getVariable)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (getVariable("OTEL_RESOURCE_ATTRIBUTES") is { Length: > 0 } list)
        {
            foreach (var pair in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    continue;
                }

                var key = Uri.UnescapeDataString(pair[..eq].Trim());
                if (StandardKeys.Contains(key, StringComparer.Ordinal))
                {
                    result[key] = Uri.UnescapeDataString(pair[(eq + 1)..].Trim());
                }
            }
        }

        if (getVariable("OTEL_SERVICE_NAME") is { Length: > 0 } serviceName)
        {
            result["service.name"] = serviceName;
        }

        return result;
    }

    public static byte[] Encode(IEnumerable<KeyValuePair<string, object?>> attributes, IReadOnlyList<string> keyMap)
    {
        var resource = new Resource();
        foreach (var (key, value) in attributes)
        {
            if (key is SchemaVersionKey or KeyMapKey)
            {
                continue;
            }

            resource.Attributes.Add(new KeyValue { Key = key, Value = ToAnyValue(value) });
        }

        resource.Attributes.Add(new KeyValue { Key = SchemaVersionKey, Value = new AnyValue { StringValue = SchemaVersion } });
        var map = new ArrayValue();
        foreach (var name in keyMap)
        {
            map.Values.Add(new AnyValue { StringValue = name });
        }

        resource.Attributes.Add(new KeyValue { Key = KeyMapKey, Value = new AnyValue { ArrayValue = map } });
        return resource.ToByteArray();
    }

    private static AnyValue ToAnyValue(object? value) => value switch
    {
        null => new AnyValue { StringValue = string.Empty },
        string s => new AnyValue { StringValue = s },
        bool b => new AnyValue { BoolValue = b },
        int or long or short or byte or uint => new AnyValue { IntValue = Convert.ToInt64(value, CultureInfo.InvariantCulture) },
        double or float => new AnyValue { DoubleValue = Convert.ToDouble(value, CultureInfo.InvariantCulture) },
        byte[] bytes => new AnyValue { BytesValue = ByteString.CopyFrom(bytes) },
        // Resource attribute arrays (string[], long[], bool[], double[]: what OpenTelemetry .NET resources hold).
        System.Collections.IEnumerable items => new AnyValue { ArrayValue = new ArrayValue { Values = { items.Cast<object?>().Select(ToAnyValue) } } },
        _ => new AnyValue { StringValue = Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty },
    };
}
