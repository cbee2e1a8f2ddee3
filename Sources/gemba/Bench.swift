import ArgumentParser

/// Placeholder replaced below by the real benchmark command.
struct Bench: AsyncParsableCommand {}
