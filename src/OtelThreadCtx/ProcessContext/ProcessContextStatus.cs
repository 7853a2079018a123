namespace OtelThreadCtx.ProcessContext;

/// <summary>How the process context is published, as readers will find it in <c>/proc/&lt;pid&gt;/maps</c>.</summary>
public enum ProcessContextStatus
{
    /// <summary>Not published (not yet, or this platform has no support).</summary>
    NotPublished,

    /// <summary>A memfd mapping: <c>/memfd:OTEL_CTX (deleted)</c>.</summary>
    Memfd,

    /// <summary>memfd was refused; an anonymous mapping named <c>[anon:OTEL_CTX]</c>.</summary>
    AnonymousMapping,

    /// <summary>Neither a memfd nor a named anonymous mapping could be made: readers could not find it.</summary>
    NotAvailable,
}
