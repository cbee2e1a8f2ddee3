public import GembaStorage
public import Logging
internal import GembaCore
public import ServiceLifecycle

/// Enforces each tenant's retention in the background: every `interval`, deletes raw samples and
/// rollups older than the tenant keeps them, in small transactions that never stall ingest.
public struct RetentionService: Service {
    private let store: any TelemetryStore
    private let interval: Duration
    private let logger: Logger

    public init(store: any TelemetryStore, interval: Duration = .seconds(600), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // Graceful shutdown cancels the sleep; that ends the loop normally.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await enforceOnce()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One pass over every tenant.
    public func enforceOnce() async {
        do {
            for tenant in try await store.tenants() {
                let limits = try await store.limits(tenant: tenant)
                let deleted = try await store.enforceRetention(tenant: tenant, limits: limits, now: Timestamp.now())
                if deleted > 0 {
                    logger.info("retention removed expired rows", metadata: ["tenant": "\(tenant)", "storage.rows": "\(deleted)"])
                }
            }
        } catch {
            logger.error("retention pass failed; will retry", metadata: ["error": "\(error)"])
        }
    }
}
