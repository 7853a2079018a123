[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// One Activity publisher per process: every test class here starts one through a TracerProvider.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
