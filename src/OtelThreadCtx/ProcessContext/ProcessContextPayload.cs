using System.Globalization;
using Google.Protobuf;
using OtelThreadCtx.Protocol.Common;
using OtelThreadCtx.Protocol.ProcessContextV1Development;
using OtelThreadCtx.Protocol.Resource;

namespace OtelThreadCtx.ProcessContext;

/// <summary>Encodes the OTEP 4719 payload: an <c>opentelemetry.proto.processcontext.v1development.ProcessContext</c>
/// whose <c>resource</c> holds the resource attributes and whose <c>attributes</c> hold OTEP 4947's
/// <c>threadlocal.schema_version</c> and <c>threadlocal.attribute_key_map</c>.</summary>
internal static class ProcessContextPayload
{
    public const string SchemaVersionKey = "threadlocal.schema_version";
    public const string KeyMapKey = "threadlocal.attribute_key_map";

    /// <summary>Until OTEP 4947 is merged, readers look for this schema version.</summary>
    public const string SchemaVersion = "tlsdesc_v1_dev";

    /// <summary>Keys this library owns: they go in <c>ProcessContext.attributes</c>, never in the resource.</summary>
    private const string ThreadLocalPrefix = "threadlocal.";

    /// <summary>The payload for <paramref name="resourceAttributes"/> (a repeated key: the first one is kept, as the
    /// OTEP wants unique keys; <c>threadlocal.*</c> keys are dropped) and the thread-context key map.</summary>
    public static byte[] Encode(IEnumerable<KeyValuePair<string, object?>> resourceAttributes, IReadOnlyList<string> keyMap)
    {
        var resource = new Resource();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in resourceAttributes)
        {
            if (key.StartsWith(ThreadLocalPrefix, StringComparison.Ordinal) || !seen.Add(key))
            {
                continue;
            }

            resource.Attributes.Add(new KeyValue { Key = key, Value = ToAnyValue(value) });
        }

        var map = new ArrayValue();
        foreach (var name in keyMap)
        {
            map.Values.Add(new AnyValue { StringValue = name });
        }

        var context = new Protocol.ProcessContextV1Development.ProcessContext
        {
            Resource = resource,
            Attributes =
            {
                new KeyValue { Key = SchemaVersionKey, Value = new AnyValue { StringValue = SchemaVersion } },
                new KeyValue { Key = KeyMapKey, Value = new AnyValue { ArrayValue = map } },
            },
        };
        return context.ToByteArray();
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
