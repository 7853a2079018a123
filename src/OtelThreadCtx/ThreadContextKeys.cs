using System.Collections.Immutable;

namespace OtelThreadCtx;

/// <summary>The append-only registry that maps attribute names to key indexes (at most 256), in the order
/// readers find them in <c>threadlocal.attribute_key_map</c>. Registering the same name again returns the
/// same key.</summary>
public static class ThreadContextKeys
{
    /// <summary>The most keys OTEP 4947 allows (the index is one byte).</summary>
    public const int MaxKeys = 256;

    /// <summary>The longest key name accepted, in UTF-8 bytes. OTEP 4947 does not bound key names, but each one is carried
    /// in the process context every reader loads; a name this long is a mistake, not a key.</summary>
    public const int MaxNameLength = 255;

    /// <summary>The namespace the process context reserves for the thread-context schema (<c>threadlocal.schema_version</c>,
    /// <c>threadlocal.attribute_key_map</c>): no key is named in it.</summary>
    public const string ReservedPrefix = "threadlocal.";

    private static readonly object Gate = new();
    private static string[] names = [];
    private static ImmutableDictionary<string, byte> indexes = ImmutableDictionary<string, byte>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>Raised, under the registry's lock, after a key is appended and before its index is returned,
    /// so that a process-context publisher can publish the new map before any record uses the index.</summary>
    public static event Action<IReadOnlyList<string>>? KeysChanged;

    /// <summary>The registered names, in index order.</summary>
    public static IReadOnlyList<string> Names => Volatile.Read(ref names);

    /// <summary>Registers <paramref name="name"/> (or finds it) and returns its key.</summary>
    /// <exception cref="ArgumentException">The name is empty, longer than <see cref="MaxNameLength"/> UTF-8 bytes, or in
    /// the reserved <see cref="ReservedPrefix"/> namespace.</exception>
    /// <exception cref="InvalidOperationException">256 keys are already registered.</exception>
    public static ThreadContextKey Register(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (indexes.TryGetValue(name, out var existing))
        {
            return new ThreadContextKey(existing, name);
        }

        if (NameProblem(name) is { } problem)
        {
            throw new ArgumentException($"'{(name.Length > 32 ? name[..32] + "…" : name)}' cannot be a thread-context key: {problem}.", nameof(name));
        }

        lock (Gate)
        {
            if (indexes.TryGetValue(name, out existing))
            {
                return new ThreadContextKey(existing, name);
            }

            if (names.Length >= MaxKeys)
            {
                throw new InvalidOperationException(
                    $"The thread-context key registry is full ({MaxKeys} keys, the limit of OTEP 4947); '{name}' was not added. Register fewer distinct attribute names.");
            }

            var index = (byte)names.Length;
            string[] updated = [.. names, name];
            KeysChanged?.Invoke(updated);
            Volatile.Write(ref names, updated);
            indexes = indexes.Add(name, index);
            return new ThreadContextKey(index, name);
        }
    }

    /// <summary>Why <paramref name="name"/> cannot be a key (the fix included), or null when it can.</summary>
    public static string? NameProblem(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            return "it is empty";
        }

        var length = System.Text.Encoding.UTF8.GetByteCount(name);
        if (length > MaxNameLength)
        {
            return $"it is {length} UTF-8 bytes long (at most {MaxNameLength}); use the attribute's semantic-convention name";
        }

        return name.StartsWith(ReservedPrefix, StringComparison.Ordinal)
            ? $"it is in the '{ReservedPrefix}' namespace, which the process context reserves for the thread-context schema; rename it"
            : null;
    }

    /// <summary>Finds a registered key without adding one.</summary>
    public static bool TryGet(string name, out ThreadContextKey key)
    {
        if (name is not null && indexes.TryGetValue(name, out var index))
        {
            key = new ThreadContextKey(index, name);
            return true;
        }

        key = default;
        return false;
    }
}
