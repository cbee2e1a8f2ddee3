public import Logging
public import ServiceLifecycle

/// Runs `work` every `interval` until graceful shutdown; a failing pass is logged and retried
/// at the next interval. Storage maintenance and retention both run this way.
public struct PeriodicService: Service {
    private let name: String
    private let interval: Duration
    private let logger: Logger
    private let work: @Sendable () async throws -> Void
    private let lastPass: Bool

    /// With `lastPass`, `work` runs once more after graceful shutdown began (a flush of what is in memory).
    public init(_ name: String, every interval: Duration, lastPass: Bool = false, logger: Logger,
                work: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.lastPass = lastPass
        self.logger = logger
        self.work = work
    }

    public func run() async throws {
        // Graceful shutdown cancels the sleep; that ends the loop normally.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await work()
                } catch where !Task.isCancelled {
                    logger.warning("periodic task failed; will retry", metadata: ["task": "\(name)", "error": "\(error)"])
                } catch {
                    break  // cancelled: the service is stopping
                }
                try await Task.sleep(for: interval)
            }
        }
        guard lastPass else { return }
        do {
            try await work()
        } catch {
            logger.error("last pass at shutdown failed", metadata: ["task": "\(name)", "error": "\(error)"])
        }
    }
}
