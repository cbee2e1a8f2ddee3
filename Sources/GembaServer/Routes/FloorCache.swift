internal import GembaAnalytics
internal import GembaCore

/// The floor's answers, shared for a few seconds by every screen that asks for the same machines:
/// computing the current shift of hundreds of machines is the dashboard's most expensive call,
/// and ten screens on a shop floor should cost what one does. One computation per key at a time;
/// callers that arrive meanwhile wait for it. At most `capacity` keys are kept.
actor FloorCache {
    private struct Key: Hashable {
        var tenant: TenantID
        var machines: [AssetPath]
    }

    private var entries: [Key: (time: ContinuousClock.Instant, value: Task<[FloorStatus], any Error>)] = [:]
    private let lifetime: Duration
    private let capacity: Int

    init(lifetime: Duration = .seconds(10), capacity: Int = 256) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    func statuses(tenant: TenantID, machines: [AssetPath], compute: @escaping @Sendable () async throws -> [FloorStatus]) async throws
        -> [FloorStatus] {
        let key = Key(tenant: tenant, machines: machines)
        let now = ContinuousClock.now
        if let entry = entries[key], now - entry.time < lifetime { return try await entry.value.value }
        if entries.count >= capacity { entries = entries.filter { now - $0.value.time < lifetime } }
        if entries.count >= capacity { entries.removeAll() }
        let task = Task { try await compute() }
        entries[key] = (now, task)
        do {
            return try await task.value
        } catch {
            entries[key] = nil  // a failure is not kept
            throw error
        }
    }
}
