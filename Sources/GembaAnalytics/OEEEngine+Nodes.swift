internal import GembaCore
public import GembaStorage

/// Several nodes on one database: each node's engine caches settings, calendars, reasons and where
/// summaries end, and any node may build, store or drop summaries. What one engine changes it
/// announces (``announceChanges(to:)``); the others ``follow(_:)`` it, so no node keeps answering
/// from a stale cache or misses a late sample for summaries another node stored. (Machines moved
/// or deleted reach the other nodes' engines with the asset change that moved or deleted them.)
extension OEEEngine {
    /// A change another node's engine must follow.
    public struct Change: NodeChange, Equatable {
        public enum Kind: String, Codable, Sendable {
            /// A machine's production settings (`key`: the machine).
            case settings
            /// A site's shift calendar (`key`: the site).
            case calendar
            /// The tenant's reason catalogue.
            case catalogue
            /// A machine's summaries stored up to `end`.
            case summarized
            /// Some of a machine's summaries dropped.
            case invalidated
        }

        public var kind: Kind
        public var tenant: String
        public var key: String
        public var end: Int64?

        init(_ kind: Kind, tenant: TenantID, key: String = "", end: Int64? = nil) {
            self.kind = kind
            self.tenant = tenant.rawValue
            self.key = key
            self.end = end
        }
    }

    /// Sends every change this engine makes to `announce`, which tells the other nodes.
    public func announceChanges(to announce: @escaping @Sendable (Change) async -> Void) {
        announcer.withLock { $0 = StoredFunction(announce) }
    }

    func announce(_ change: Change) async {
        guard let announce = announcer.withLock({ $0 })?.function else { return }
        await announce(change)
    }

    /// Follows a change another node made: drops what the cache holds about it, and makes builds
    /// that began before it not store. Changes naming an unknown machine or tenant are ignored.
    public func follow(_ change: Change) {
        guard let tenant = TenantID(change.tenant) else { return }
        let key = (try? AssetPath(change.key)).map { MachineKey(tenant: tenant, machine: $0) }
        switch change.kind {
        case .settings:
            guard let key else { return }
            cache.withLock { cache in
                cache.settings[key] = nil
                cache.generation[key, default: 0] += 1
            }
        case .calendar:
            cache.withLock { cache in
                cache.calendars[SiteKey(tenant: tenant, site: change.key)] = nil
                cache.epoch += 1
            }
        case .catalogue:
            cache.withLock { cache in
                cache.catalogues[tenant] = nil
                cache.epoch += 1
            }
        case .summarized:
            guard let key, let end = change.end else { return }
            noteSummarized(key, until: end)
        case .invalidated:
            guard let key else { return }
            cache.withLock { $0.generation[key, default: 0] += 1 }
        }
    }

    /// After changes may have been missed (another node's announcements while this one could not
    /// hear them): every cached setting, calendar and catalogue is dropped, builds under way do
    /// not store, and where summaries end is read again.
    public func resynchronise() async throws {
        cache.withLock { cache in
            cache.settings.removeAll()
            cache.calendars.removeAll()
            cache.catalogues.removeAll()
            cache.epoch += 1
        }
        try await start()
    }
}
