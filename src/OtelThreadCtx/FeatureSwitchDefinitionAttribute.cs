#if !NET9_0_OR_GREATER
namespace System.Diagnostics.CodeAnalysis;

/// <summary>The .NET 9 attribute, for this net8.0 assembly: ILLink and ILC (.NET 9 and later) read it by name and fold
/// the property it marks to the value of the named feature switch when the application sets that switch for trimming.
/// ILLink.Substitutions.xml says the same for older tools.</summary>
[AttributeUsage(AttributeTargets.Property, Inherited = false)]
internal sealed class FeatureSwitchDefinitionAttribute(string switchName) : Attribute
{
    public string SwitchName { get; } = switchName;
}
#endif
