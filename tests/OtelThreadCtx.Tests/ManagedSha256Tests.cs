using System.Security.Cryptography;

namespace OtelThreadCtx.Tests;

/// <summary>The wrapper's own SHA-256 (no OpenSSL at start-up) against the platform's, on every length around the
/// padding boundaries and on the real library.</summary>
public sealed class ManagedSha256Tests
{
    [Fact]
    public void Agrees_with_the_platform_SHA256_on_every_length_up_to_three_blocks()
    {
        var random = new Random(4947);
        for (var length = 0; length <= 200; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            var actual = new byte[ManagedSha256.HashSizeInBytes];

            ManagedSha256.HashData(data, actual);

            Assert.Equal(Convert.ToHexString(SHA256.HashData(data)), Convert.ToHexString(actual));
        }
    }

    [Fact]
    public void Agrees_with_the_platform_SHA256_on_the_library_and_a_known_vector()
    {
        var library = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "libotel_thread_ctx.so"));
        var actual = new byte[ManagedSha256.HashSizeInBytes];

        ManagedSha256.HashData(library, actual);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(library)), Convert.ToHexString(actual));

        ManagedSha256.HashData("abc"u8, actual);
        Assert.Equal("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD", Convert.ToHexString(actual));
    }
}
