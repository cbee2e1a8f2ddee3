import ArgumentParser
struct Publish: AsyncParsableCommand {}
struct Subscribe: AsyncParsableCommand {}
