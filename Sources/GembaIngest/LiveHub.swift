public import GembaCore
internal import Metrics
internal import Synchronization

/// Fans accepted samples out to live subscribers (WebSocket clients), without ever buffering
/// without bound: each subscriber holds up to `maxPending` samples as they came; past that, its
/// backlog keeps only the latest value of each series and counts the dropped samples as skipped.
public final class LiveHub: SampleObserver, Sendable {
    /// What a subscriber wants: one tenant's machines (all of them when `machines` is empty), optionally only some tags.
    public struct Filter: Sendable, Hashable {
        public var tenant: TenantID
        public var machines: Set<AssetPath>
        public var tags: Set<String>

        public init(tenant: TenantID, machines: Set<AssetPath> = [], tags: Set<String> = []) {
            self.tenant = tenant
            self.machines = machines
            self.tags = tags
        }

        func matches(_ key: SeriesKey) -> Bool {
            key.tenant == tenant && (machines.isEmpty || machines.contains(key.machine)) && (tags.isEmpty || tags.contains(key.tag))
        }
    }

    /// New samples for one subscriber since its last read.
    public struct Update: Sendable {
        public var samples: [AcceptedSample]
        /// Samples dropped since the last update because the subscriber fell behind (only the latest of each series was kept).
        public var skipped: Int
    }

    private let subscribers = Mutex<[ObjectIdentifier: Subscription]>([:])
    /// Told whenever a live client comes or goes (the relay feed not counted).
    private let clientWatchers = Mutex<[@Sendable () -> Void]>([])
    private let clients = Gauge(label: "gemba_live_clients")
    private let skippedCounter = Counter(label: "gemba_live_samples_skipped_total")
    private let maxPending: Int

    public init(maxPending: Int = 10_000) { self.maxPending = maxPending }

    /// Starts a subscription; call ``remove(_:)`` when the client goes.
    public func subscribe(_ filter: Filter) -> Subscription {
        add(Subscription(filter: filter, relay: false, maxPending: maxPending, skippedCounter: skippedCounter))
    }

    /// Starts the feed a node relays to the other nodes: every tenant's samples accepted on this
    /// node (never those ``acceptedElsewhere(_:)`` brings), bounded like a client's. Remove it
    /// with ``remove(_:)`` when no other node watches.
    public func subscribeRelay(maxPending: Int) -> Subscription {
        add(Subscription(filter: Filter(tenant: .default), relay: true, maxPending: maxPending, skippedCounter: skippedCounter))
    }

    private func add(_ subscription: Subscription) -> Subscription {
        let count = subscribers.withLock { subscribers in
            subscribers[ObjectIdentifier(subscription)] = subscription
            return subscribers.values.count { !$0.relay }
        }
        clientsChanged(count, by: subscription)
        return subscription
    }

    /// Ends a subscription at once: its buffer is released and a waiting `next()` returns nil.
    public func remove(_ subscription: Subscription) {
        let count = subscribers.withLock { subscribers in
            subscribers[ObjectIdentifier(subscription)] = nil
            return subscribers.values.count { !$0.relay }
        }
        clientsChanged(count, by: subscription)
        subscription.close()
    }

    /// Calls `handler` whenever a live client comes or goes (``subscriberCount`` changed), on the
    /// caller's thread: it must not block.
    public func whenClientsChange(_ handler: @escaping @Sendable () -> Void) {
        clientWatchers.withLock { $0.append(handler) }
    }

    private func clientsChanged(_ count: Int, by subscription: Subscription) {
        clients.record(count)
        guard !subscription.relay else { return }
        for handler in clientWatchers.withLock({ $0 }) { handler() }
    }

    /// Live clients (WebSocket streams) on this node, the relay feed not counted.
    public var subscriberCount: Int { subscribers.withLock { $0.values.count { !$0.relay } } }

    public var isInterested: Bool { subscribers.withLock { !$0.isEmpty } }

    /// Samples accepted on this node: to its clients and to the relay feed.
    public func accepted(_ samples: [AcceptedSample]) {
        deliver(samples, toRelay: true)
    }

    /// Samples another node accepted (relayed through the broker): to this node's clients only.
    public func acceptedElsewhere(_ samples: [AcceptedSample]) {
        deliver(samples, toRelay: false)
    }

    private func deliver(_ samples: [AcceptedSample], toRelay: Bool) {
        let current = subscribers.withLock { Array($0.values) }
        for subscription in current {
            if subscription.relay {
                if toRelay { subscription.deliver(samples) }
                continue
            }
            let wanted = samples.filter { subscription.filter.matches($0.key) }
            if !wanted.isEmpty { subscription.deliver(wanted) }
        }
    }

    /// One subscriber's bounded mailbox.
    public final class Subscription: Sendable {
        public let filter: Filter
        /// The relay feed: every tenant, local samples only.
        let relay: Bool
        private let maxPending: Int
        private let skippedCounter: Counter

        private struct State {
            var pending = Backlog()
            var waiter: CheckedContinuation<Update?, Never>?
            var closed = false
        }

        private let state = Mutex(State())

        init(filter: Filter, relay: Bool, maxPending: Int, skippedCounter: Counter) {
            self.filter = filter
            self.relay = relay
            self.maxPending = maxPending
            self.skippedCounter = skippedCounter
        }

        func deliver(_ samples: [AcceptedSample]) {
            let (waiter, update, collapsed) = state.withLock { state -> (CheckedContinuation<Update?, Never>?, Update?, Int) in
                guard !state.closed else { return (nil, nil, 0) }
                let collapsed = state.pending.append(samples, limit: maxPending)
                guard let waiter = state.waiter else { return (nil, nil, collapsed) }
                state.waiter = nil
                return (waiter, state.pending.take(), collapsed)
            }
            if collapsed > 0 { skippedCounter.increment(by: collapsed) }
            waiter?.resume(returning: update)
        }

        /// Waits for new samples; nil once the subscription is removed.
        public func next() async -> Update? {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Update?? in
                    if state.closed { return .some(nil) }
                    if !state.pending.isEmpty { return .some(state.pending.take()) }
                    state.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }

        func close() {
            let waiter = state.withLock { state -> CheckedContinuation<Update?, Never>? in
                state.closed = true
                state.pending = Backlog()
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }

        /// Samples not yet read. Up to the limit they are kept as they came; past it the backlog
        /// switches to one slot per series holding its newest sample, so a reader that falls
        /// behind costs one hash look-up per sample however many series stream (even more
        /// series than the limit), and memory stays bounded by the series count.
        struct Backlog {
            private(set) var samples: [AcceptedSample] = []
            private(set) var skipped = 0
            /// Past the limit: one slot per series, series → index in `samples`.
            private var collapsing = false
            private var slots: [Int64: Int] = [:]

            var isEmpty: Bool { samples.isEmpty }

            /// Adds new samples; returns how many older ones were dropped for newer ones of their series.
            mutating func append(_ new: [AcceptedSample], limit: Int) -> Int {
                if !collapsing {
                    samples += new
                    guard samples.count > limit else { return 0 }
                    let all = samples
                    samples = []
                    collapsing = true
                    return keepNewest(all)
                }
                return keepNewest(new)
            }

            /// Hands the backlog to the reader and starts an empty one.
            mutating func take() -> Update {
                defer { self = Backlog() }
                return Update(samples: samples, skipped: skipped)
            }

            private mutating func keepNewest(_ new: [AcceptedSample]) -> Int {
                var dropped = 0
                for sample in new {
                    if let slot = slots[sample.seriesID] {
                        dropped += 1
                        if samples[slot].sample.time <= sample.sample.time { samples[slot] = sample }
                    } else {
                        slots[sample.seriesID] = samples.count
                        samples.append(sample)
                    }
                }
                skipped += dropped
                return dropped
            }
        }
    }
}
