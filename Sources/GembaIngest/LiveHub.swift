public import GembaCore
internal import Metrics
internal import Synchronization

/// Fans accepted samples out to live subscribers (WebSocket clients), without ever buffering
/// without bound: each subscriber holds at most `maxPending` samples; past that, its backlog is
/// collapsed to the latest value of each series and the collapsed samples are counted as skipped.
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
    private let clients = Gauge(label: "gemba_live_clients")
    private let skippedCounter = Counter(label: "gemba_live_samples_skipped_total")
    private let maxPending: Int

    public init(maxPending: Int = 10_000) { self.maxPending = maxPending }

    /// Starts a subscription; call ``remove(_:)`` when the client goes.
    public func subscribe(_ filter: Filter) -> Subscription {
        let subscription = Subscription(filter: filter, maxPending: maxPending, skippedCounter: skippedCounter)
        let count = subscribers.withLock { subscribers in
            subscribers[ObjectIdentifier(subscription)] = subscription
            return subscribers.count
        }
        clients.record(count)
        return subscription
    }

    /// Ends a subscription at once: its buffer is released and a waiting `next()` returns nil.
    public func remove(_ subscription: Subscription) {
        let count = subscribers.withLock { subscribers in
            subscribers[ObjectIdentifier(subscription)] = nil
            return subscribers.count
        }
        clients.record(count)
        subscription.close()
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    public var isInterested: Bool { subscriberCount > 0 }

    public func accepted(_ samples: [AcceptedSample]) {
        let current = subscribers.withLock { Array($0.values) }
        for subscription in current {
            let wanted = samples.filter { subscription.filter.matches($0.key) }
            if !wanted.isEmpty { subscription.deliver(wanted) }
        }
    }

    /// One subscriber's bounded mailbox.
    public final class Subscription: Sendable {
        public let filter: Filter
        private let maxPending: Int
        private let skippedCounter: Counter

        private struct State {
            var pending: [AcceptedSample] = []
            var skipped = 0
            var waiter: CheckedContinuation<Update?, Never>?
            var closed = false
        }

        private let state = Mutex(State())

        init(filter: Filter, maxPending: Int, skippedCounter: Counter) {
            self.filter = filter
            self.maxPending = maxPending
            self.skippedCounter = skippedCounter
        }

        func deliver(_ samples: [AcceptedSample]) {
            let (waiter, update, collapsed) = state.withLock { state -> (CheckedContinuation<Update?, Never>?, Update?, Int) in
                guard !state.closed else { return (nil, nil, 0) }
                state.pending += samples
                var collapsed = 0
                if state.pending.count > maxPending {
                    let before = state.pending.count
                    state.pending = Self.latestPerSeries(state.pending)
                    collapsed = before - state.pending.count
                    state.skipped += collapsed
                }
                guard let waiter = state.waiter else { return (nil, nil, collapsed) }
                state.waiter = nil
                let update = Update(samples: state.pending, skipped: state.skipped)
                state.pending = []
                state.skipped = 0
                return (waiter, update, collapsed)
            }
            if collapsed > 0 { skippedCounter.increment(by: collapsed) }
            waiter?.resume(returning: update)
        }

        /// Waits for new samples; nil once the subscription is removed.
        public func next() async -> Update? {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Update?? in
                    if state.closed { return .some(nil) }
                    if !state.pending.isEmpty {
                        defer { state.pending = []; state.skipped = 0 }
                        return .some(Update(samples: state.pending, skipped: state.skipped))
                    }
                    state.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }

        func close() {
            let waiter = state.withLock { state -> CheckedContinuation<Update?, Never>? in
                state.closed = true
                state.pending = []
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }

        /// Keeps only the newest sample of each series, in their original order.
        static func latestPerSeries(_ samples: [AcceptedSample]) -> [AcceptedSample] {
            var newest: [Int64: Int] = [:]
            for (index, sample) in samples.enumerated() {
                if let previous = newest[sample.seriesID], samples[previous].sample.time > sample.sample.time { continue }
                newest[sample.seriesID] = index
            }
            return newest.values.sorted().map { samples[$0] }
        }
    }
}
