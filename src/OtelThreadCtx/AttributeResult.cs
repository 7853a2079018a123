namespace OtelThreadCtx;

/// <summary>What happened to an attribute written into a record. Never an exception: the hot path reports.</summary>
public enum AttributeResult
{
    /// <summary>Written whole.</summary>
    Written = 0,

    /// <summary>Written, with the value cut to 255 bytes at a UTF-8 character boundary.</summary>
    Truncated = 1,

    /// <summary>Not written: the entry does not fit in the record's 612 attribute bytes. Earlier entries are kept.</summary>
    Dropped = 2,

    /// <summary>Not written: the API is unsupported on this platform or the record is disposed.</summary>
    Unsupported = 3,
}
