using OtelThreadCtx.ProcessContext;

namespace OtelThreadCtx;

/// <summary>The process-wide OTEP 4719 context that thread-context readers need: resource attributes plus
/// <c>threadlocal.schema_version</c> and <c>threadlocal.attribute_key_map</c>. One per process. Registering a new
/// key in <see cref="ThreadContextKeys"/> republishes the map before the key's index is handed out, so a reader
/// never meets an index it cannot resolve. Never throws to the application: failures show in <see cref="Status"/>.</summary>
public static class OtelProcessContext
{
    private static readonly object Gate = new();
    private static ProcessContextWriter? writer;
    private static List<KeyValuePair<string, object?>> attributes = [];

    /// <summary>How (or whether) the context is published.</summary>
    public static ProcessContextStatus Status => writer?.Status ?? ProcessContextStatus.NotPublished;

    /// <summary>Publishes (or republishes) the process context. <paramref name="resourceAttributes"/> come first;
    /// with <paramref name="includeEnvironment"/>, <c>service.name</c>, <c>service.instance.id</c>,
    /// <c>deployment.environment.name</c> and <c>service.version</c> from <c>OTEL_SERVICE_NAME</c> and
    /// <c>OTEL_RESOURCE_ATTRIBUTES</c> are added where the caller did not set them.</summary>
    public static ProcessContextStatus Publish(IEnumerable<KeyValuePair<string, object?>>? resourceAttributes = null, bool includeEnvironment = true)
    {
        if (!OperatingSystem.IsLinux())
        {
            return ProcessContextStatus.NotPublished;
        }

        var list = resourceAttributes?.ToList() ?? [];
        if (includeEnvironment)
        {
            foreach (var (key, value) in ResourceAttributes.FromEnvironment(Environment.GetEnvironmentVariable))
            {
                if (!list.Any(kv => kv.Key == key))
                {
                    list.Add(new(key, value));
                }
            }
        }

        lock (Gate)
        {
            attributes = list;
            if (writer is null)
            {
                writer = new ProcessContextWriter(LinuxProcessContextSystem.Instance);
                ThreadContextKeys.KeysChanged += OnKeysChanged;
            }

            return Republish(ThreadContextKeys.Names);
        }
    }

    /// <summary>Publishes with the environment's attributes unless already published.</summary>
    public static ProcessContextStatus EnsurePublished()
    {
        lock (Gate)
        {
            return writer is not null ? writer.Status : Publish();
        }
    }

    private static void OnKeysChanged(IReadOnlyList<string> keys)
    {
        lock (Gate)
        {
            Republish(keys);
        }
    }

    private static ProcessContextStatus Republish(IReadOnlyList<string> keys)
    {
        try
        {
            return writer!.Publish(ProcessContextPayload.Encode(attributes, keys));
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or OutOfMemoryException)
        {
            return ProcessContextStatus.NotAvailable;
        }
    }
}
