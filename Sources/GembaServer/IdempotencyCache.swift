internal import DequeModule
internal import GembaCore
internal import Synchronization

/// Remembers the responses to HTTP ingest requests that carried an `Idempotency-Key`, so that a
/// retried batch is answered from memory instead of being stored twice. Bounded: the oldest
/// entries go first, and entries expire after `lifetime`.
public final class IdempotencyCache: Sendable {
    /// A remembered response.
    public struct Entry: Sendable {
        public var status: Int
        public var body: [UInt8]
        public var contentType: String
    }

    enum Lookup {
        /// Not seen: the caller now owns the key and must ``finish`` or ``abandon`` it.
        case claimed
        case inProgress
        case done(Entry)
    }

    private struct Key: Hashable {
        var tenant: TenantID
        var key: String
    }

    private struct State {
        var entries: [Key: (entry: Entry?, time: Int64)] = [:]
        /// Keys in claim order, with their claim time (a key claimed again after expiry appears twice).
        var order: Deque<(key: Key, time: Int64)> = []
    }

    private let state = Mutex(State())
    private let capacity: Int
    private let lifetime: Int64

    public init(capacity: Int = 10_000, lifetimeMilliseconds: Int64 = 24 * 3_600_000) {
        self.capacity = capacity
        self.lifetime = lifetimeMilliseconds
    }

    func claim(_ key: String, tenant: TenantID, now: Int64) -> Lookup {
        state.withLock { state in
            let id = Key(tenant: tenant, key: key)
            if let found = state.entries[id], now - found.time < lifetime {
                return found.entry.map(Lookup.done) ?? .inProgress
            }
            state.entries[id] = (nil, now)
            state.order.append((id, now))
            while state.order.count > capacity, let oldest = state.order.popFirst() {
                if state.entries[oldest.key]?.time == oldest.time { state.entries[oldest.key] = nil }
            }
            return .claimed
        }
    }

    /// Records the answer to a claimed key; it lives `lifetime` from the claim.
    func finish(_ key: String, tenant: TenantID, entry: Entry) {
        state.withLock { $0.entries[Key(tenant: tenant, key: key)]?.entry = entry }
    }

    /// Forgets a claimed key whose request did not complete (overload, error), so a retry is processed.
    func abandon(_ key: String, tenant: TenantID) {
        state.withLock { $0.entries[Key(tenant: tenant, key: key)] = nil }
    }
}
