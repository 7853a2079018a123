namespace OtelThreadCtx.Tests;

/// <summary>The key registry refuses what AddThreadContext refuses, whichever way a key arrives.</summary>
[Collection(NativeCollection.Name)]
public sealed class ThreadContextKeysTests
{
    [Theory]
    [InlineData("threadlocal.schema_version", "'threadlocal.' namespace")]
    [InlineData("threadlocal.custom", "'threadlocal.' namespace")]
    [InlineData("long", "256 UTF-8 bytes long (at most 255)")]
    [InlineData("é", "256 UTF-8 bytes long (at most 255)")] // 128 × 2 bytes: counted in UTF-8, not in chars
    public void A_reserved_or_overlong_name_is_refused_and_never_published(string name, string problem)
    {
        name = name switch { "long" => new string('k', 256), "é" => new string('é', 128), _ => name };
        var before = ThreadContextKeys.Names.Count;

        var error = Assert.Throws<ArgumentException>(() => ThreadContextKeys.Register(name));

        Assert.Contains(problem, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(name, ThreadContextKeys.Names);
        Assert.False(ThreadContextKeys.TryGet(name, out _));
        Assert.True(ThreadContextKeys.Names.Count >= before);
    }

    [Fact]
    public void A_name_at_the_limit_is_a_key()
    {
        var name = "k." + new string('x', ThreadContextKeys.MaxNameLength - 2);
        var key = ThreadContextKeys.Register(name);
        Assert.Equal(name, ThreadContextKeys.Names[key.Index]);
    }
}
