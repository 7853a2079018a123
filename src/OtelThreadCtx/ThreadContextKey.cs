namespace OtelThreadCtx;

/// <summary>An attribute key registered in <see cref="ThreadContextKeys"/>: its index in the process-wide
/// <c>threadlocal.attribute_key_map</c>.</summary>
public readonly record struct ThreadContextKey(byte Index, string Name);
