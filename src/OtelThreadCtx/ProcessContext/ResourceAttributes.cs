namespace OtelThreadCtx.ProcessContext;

/// <summary>The standard resource attributes that the OpenTelemetry environment variables set.</summary>
internal static class ResourceAttributes
{
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
}
