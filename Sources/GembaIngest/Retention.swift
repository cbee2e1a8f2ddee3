public import GembaStorage
public import Logging
internal import GembaCore

/// Enforces each tenant's retention: deletes raw samples and rollups older than the tenant
/// keeps them, in small transactions that never stall ingest. Run it with ``PeriodicService``.
public struct Retention: Sendable {
    private let store: any TelemetryStore
    private let logger: Logger

    public init(store: any TelemetryStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// One pass over every tenant.
    public func enforce() async throws {
        for tenant in try await store.tenants() {
            let limits = try await store.limits(tenant: tenant)
            let deleted = try await store.enforceRetention(tenant: tenant, limits: limits, now: Timestamp.now())
            if deleted > 0 {
                logger.info("retention removed expired rows", metadata: ["tenant": "\(tenant)", "storage.rows": "\(deleted)"])
            }
        }
    }
}
