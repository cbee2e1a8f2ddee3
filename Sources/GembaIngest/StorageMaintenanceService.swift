public import GembaStorage
public import Logging
public import ServiceLifecycle

/// Runs the storage backend's frequent housekeeping (``TelemetryStore/maintain()``, e.g. SQLite
/// WAL checkpoints) every `interval`, off the ingest path.
public struct StorageMaintenanceService: Service {
    private let store: any TelemetryStore
    private let interval: Duration
    private let logger: Logger

    public init(store: any TelemetryStore, interval: Duration = .milliseconds(500), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // Graceful shutdown cancels the sleep; that ends the loop normally.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await store.maintain()
                } catch {
                    logger.warning("storage maintenance failed; will retry", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
