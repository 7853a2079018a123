using OtelThreadCtx.Build.Tasks.Toolchain;

namespace OtelThreadCtx.Build.Tasks.Tests;

public class VersionBannerParserTests
{
    [Theory]
    [InlineData("clang-19-debian.txt", ToolFlavor.Clang, "19.1.7", "Debian")]
    [InlineData("lld-19-debian.txt", ToolFlavor.Lld, "19.1.7", "Debian")]
    [InlineData("rust-lld.txt", ToolFlavor.Lld, "22.1.2", "Rust")]
    [InlineData("gcc-12-debian.txt", ToolFlavor.Gcc, "12.2.0", "Debian 12.2.0-14+deb12u1")]
    [InlineData("nm-gnu.txt", ToolFlavor.GnuBinutils, "2.40.0", "GNU Binutils for Debian")]
    [InlineData("readelf-gnu.txt", ToolFlavor.GnuBinutils, "2.40.0", "GNU Binutils for Debian")]
    [InlineData("llvm-nm-19-debian.txt", ToolFlavor.Llvm, "19.1.7", "Debian")]
    [InlineData("llvm-readelf-19-debian.txt", ToolFlavor.Llvm, "19.1.7", "Debian")]
    [InlineData("ld-bfd-gnu.txt", ToolFlavor.GnuLd, "2.40.0", "GNU Binutils for Debian")]
    public void Captured_banners_parse(string file, ToolFlavor flavor, string version, string vendor)
    {
        var identity = VersionBannerParser.Parse(Fixture.Read("banners", file));

        Assert.Equal(flavor, identity.Flavor);
        Assert.Equal(version, identity.Version?.ToString());
        Assert.Equal(vendor, identity.Vendor);
    }

    [Theory]
    [InlineData("Ubuntu clang version 18.1.3 (1ubuntu1)\nTarget: x86_64-pc-linux-gnu\nThread model: posix\n", ToolFlavor.Clang, "18.1.3", "Ubuntu")]
    [InlineData("clang version 20.1.8 (https://github.com/llvm/llvm-project 87f0227cb60147a26a1eeb4fb06e3b505e9c7261)\nTarget: x86_64-unknown-linux-gnu\n", ToolFlavor.Clang, "20.1.8", "")]
    [InlineData("Ubuntu LLD 18.1.3 (compatible with GNU linkers)\n", ToolFlavor.Lld, "18.1.3", "Ubuntu")]
    [InlineData("LLD 17.0.6 (compatible with GNU linkers)\n", ToolFlavor.Lld, "17.0.6", "")]
    [InlineData("Homebrew clang version 19.1.7\nTarget: arm64-apple-darwin24.2.0\n", ToolFlavor.Clang, "19.1.7", "Homebrew")]
    [InlineData("Apple clang version 16.0.0 (clang-1600.0.26.6)\nTarget: arm64-apple-darwin24.2.0\n", ToolFlavor.AppleClang, "16.0.0", "Apple")]
    [InlineData("Debian clang version 14.0.6\nTarget: x86_64-pc-linux-gnu\n", ToolFlavor.Clang, "14.0.6", "Debian")]
    [InlineData("LLVM (http://llvm.org/):\n  LLVM version 14.0.6\n  Optimized build.\n", ToolFlavor.Llvm, "14.0.6", "")]
    [InlineData("cc (Ubuntu 13.2.0-23ubuntu4) 13.2.0\nCopyright (C) 2023 Free Software Foundation, Inc.\n", ToolFlavor.Gcc, "13.2.0", "Ubuntu 13.2.0-23ubuntu4")]
    [InlineData("gcc (GCC) 14.2.1 20240912 (Red Hat 14.2.1-3)\nCopyright (C) 2024 Free Software Foundation, Inc.\n", ToolFlavor.Gcc, "14.2.1", "GCC")]
    public void Banners_from_other_vendors_parse(string banner, ToolFlavor flavor, string version, string vendor)
    {
        var identity = VersionBannerParser.Parse(banner);

        Assert.Equal(flavor, identity.Flavor);
        Assert.Equal(version, identity.Version?.ToString());
        Assert.Equal(vendor, identity.Vendor);
    }

    [Fact]
    public void Apple_ld_is_recognised_so_it_can_be_refused()
    {
        var identity = VersionBannerParser.Parse("@(#)PROGRAM:ld PROJECT:ld-1115.7.3\nBUILD 00:06:26 Oct 21 2024\n");

        Assert.Equal(ToolFlavor.AppleLd, identity.Flavor);
    }

    [Theory]
    [InlineData("")]
    [InlineData("some-wrapper 1.0\n")]
    [InlineData("clang version\n")]
    public void Unknown_banners_are_unreadable_with_the_line_kept(string banner)
    {
        var identity = VersionBannerParser.Parse(banner);

        Assert.False(identity.IsKnown);
        Assert.Equal(ToolFlavor.Unknown, identity.Flavor);
        Assert.Equal(banner.Trim(), identity.BannerLine);
        Assert.StartsWith("printed ", identity.Answer, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', identity.Answer);
    }
}
