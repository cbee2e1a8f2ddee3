public import GembaCore
public import GembaStorage
internal import DequeModule
public import Logging
internal import Metrics
public import ServiceLifecycle
internal import Synchronization

/// Where points came from, for metrics and logs.
public enum IngestSource: String, Sendable, CaseIterable {
    case mqtt
    case http
    case lineProtocol = "line_protocol"
    case sparkplug
    /// Modbus and OPC UA devices read by `gemba serve` itself.
    case connector
    /// Anomaly scores of the detectors running in `gemba serve`.
    case detector
}

/// What happened to one submission once its batch was committed.
public struct IngestReceipt: Sendable, Hashable {
    /// Samples stored by this submission's commit.
    public var stored: Int
    /// Samples whose (tag, time) was already stored; the stored one was kept.
    public var duplicates: Int
    /// Points refused at registration (type mismatch, limits), with the index of the point.
    public var rejected: [IndexedPointError]

    public init(stored: Int = 0, duplicates: Int = 0, rejected: [IndexedPointError] = []) {
        self.stored = stored
        self.duplicates = duplicates
        self.rejected = rejected
    }
}

/// A point refused by the pipeline, with its position in the submission.
public struct IndexedPointError: Sendable, Hashable {
    public var index: Int
    public var error: ModelError
}

/// The pipeline could not take the points now; the caller should push back (HTTP 503, stop reading).
public struct IngestOverloaded: Error, Sendable, CustomStringConvertible {
    public var queuedSamples: Int
    public var description: String { "ingest queue full (\(queuedSamples) samples waiting)" }
}

/// Told about accepted samples; must not block (it runs on the submitter's thread or the pipeline's task).
///
/// Samples of registered series are handed over when they are submitted, before they are queued
/// behind a commit, so live views never wait for the disk; samples of series a batch registers
/// follow right after the commit that creates them. A commit that fails (disk full) has then
/// already been shown live; its submitters get the error and retry, so a sample may be shown twice.
public protocol SampleObserver: Sendable {
    /// Whether the observer wants samples now (the live hub without subscribers does not).
    var isInterested: Bool { get }
    func accepted(_ samples: [AcceptedSample])
}

/// The one pipeline behind every ingest source: points are queued (bounded), batched, checked
/// against the registry (auto-registering within limits), committed in one transaction, and only
/// then acknowledged to their submitters. Observers (live fan-out) see samples as they arrive.
public final class IngestPipeline: Service, Sendable {
    public struct Configuration: Sendable {
        /// Samples that may wait in the queue; HTTP submissions past it get ``IngestOverloaded``.
        public var maxQueuedSamples = 1_000_000
        /// Past this, streaming sources (MQTT) are asked to stop reading until the queue drains to half.
        public var pauseThreshold = 500_000
        /// Most samples committed in one transaction. Under load the queue fills while a commit
        /// runs, so batches grow and each B-tree page written carries more samples.
        public var maxBatchSamples = 250_000
        /// While a stream flows (the previous commit ended less than `gatherDelay` ago), a batch of
        /// fewer samples than this is taken only `gatherDelay` after the previous commit ended:
        /// messages arriving one by one then share commits, however slow the stream, instead of each
        /// commit's fixed cost taking the cores from the readers. Work after a quiet spell is
        /// committed at once.
        public var gatherSamples = 1_000
        public var gatherDelay = Duration.milliseconds(1)
        /// With a target, a small batch is taken once the stream is expected to have brought
        /// `gatherTarget` samples, between `gatherDelay` and `longestGatherDelay` after the previous
        /// commit ended (see ``GatherPace``); 0: always `gatherDelay`.
        public var gatherTarget = 0
        public var longestGatherDelay = Duration.zero

        public init() {}
    }

    private struct Submission {
        var points: [Point]
        var source: IngestSource
        /// Per point, its series when observers were already shown it at submission (nil: none was),
        /// resolved against the directory of `generation`; the plan reuses them while it is current.
        var announced: [SeriesRegistry.Known?]?
        var generation: UInt64
        var completion: @Sendable (Result<IngestReceipt, any Error>) -> Void
    }

    private struct Queue {
        var pending: Deque<Submission> = []
        var samples = 0
        var waiter: CheckedContinuation<Void, Never>?
        /// When the last submission was queued, for telling a stalled gather (``GatherPace``).
        var lastArrival = ContinuousClock.now
        var stopping = false
        var drainCallbacks: [@Sendable () -> Void] = []
    }

    private let store: any TelemetryStore
    private let configuration: Configuration
    private let logger: Logger
    private let queue = Mutex(Queue())
    private let registry = Mutex(SeriesRegistry())
    private let observers = Mutex<[any SampleObserver]>([])
    /// The registry's series as of its last change (a commit that registered some, a managed-asset
    /// change), for announcing at submission; the generation counts the changes.
    private let directory = Mutex((directory: SeriesDirectory(), generation: UInt64(0)))
    /// Per tenant, the tags whose samples each commit feeds (``WriteBatch/feed``); nil: none.
    private let fedTags = Mutex<StoredFunction<@Sendable () -> [TenantID: Set<String>]>?>(nil)
    private let metrics = IngestMetrics()

    public init(store: any TelemetryStore, configuration: Configuration = Configuration(), logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// Loads the catalogue from storage; call before `run()` accepts traffic.
    public func loadCatalog() async throws {
        let series = try await store.allSeries()
        let machines = try await store.allMachines()
        var limits: [TenantID: TenantLimits] = [:]
        for tenant in try await store.tenants() { limits[tenant] = try await store.limits(tenant: tenant) }
        let retired = try await (store as? any AssetStore)?.retiredMachines() ?? []
        registry.withLock { registry in
            registry.load(series: series, machines: machines)
            for (tenant, value) in limits { registry.setLimits(value, for: tenant) }
            for entry in retired { registry.setRetired(entry.machine, tenant: entry.tenant, true) }
            publish(registry.directory)
        }
        logger.info("catalogue loaded", metadata: ["ingest.series": "\(series.count)", "ingest.machines": "\(machines.count)"])
    }

    /// Applies changed tenant limits to registrations from now on.
    public func setLimits(_ limits: TenantLimits, for tenant: TenantID) {
        registry.withLock { $0.setLimits(limits, for: tenant) }
    }

    /// Changes the registry for a managed asset (registered ahead, retired, moved, deleted) and
    /// refreshes what submissions resolve against.
    public func updateRegistry<T>(_ change: (inout SeriesRegistry) throws(ModelError) -> T) throws(ModelError) -> T {
        try registry.withLock { (registry: inout SeriesRegistry) throws(ModelError) -> T in
            let result = try change(&registry)
            publish(registry.directory)
            return result
        }
    }

    /// Replaces the directory submissions resolve against; call under the registry's lock.
    private func publish(_ directory: SeriesDirectory) {
        self.directory.withLock { $0 = (directory, $0.generation &+ 1) }
    }

    public func addObserver(_ observer: any SampleObserver) {
        observers.withLock { $0.append(observer) }
    }

    /// Makes each commit feed the samples of these tags (asked per commit: per tenant, the tags)
    /// to a store with a sample feed, in the commit's transaction.
    public func feedCommits(of tags: @escaping @Sendable () -> [TenantID: Set<String>]) {
        fedTags.withLock { $0 = StoredFunction(tags) }
    }

    /// Samples waiting to be committed.
    public var queuedSamples: Int { queue.withLock { $0.samples } }

    /// Whether streaming sources should stop reading.
    public var isSaturated: Bool { queue.withLock { $0.samples >= configuration.pauseThreshold } }

    /// Calls `callback` once the queue has drained below half the pause threshold (at once if it already has).
    public func whenDrained(_ callback: @escaping @Sendable () -> Void) {
        let now = queue.withLock { state -> Bool in
            if state.samples < configuration.pauseThreshold / 2 { return true }
            state.drainCallbacks.append(callback)
            return false
        }
        if now { callback() }
    }

    /// Queues points; `completion` runs after the commit that holds them (or with the error that stopped it).
    /// With `force`, the queue bound is not checked: for streaming sources that pause reading instead.
    /// Returns `false` (and does not call `completion`) when the queue is full.
    @discardableResult
    public func submit(_ points: [Point], source: IngestSource, force: Bool = false,
                       completion: @escaping @Sendable (Result<IngestReceipt, any Error>) -> Void) -> Bool {
        metrics.received(source).increment(by: points.count)
        let observers = interestedObservers()
        var live: [AcceptedSample] = []
        var announced: [SeriesRegistry.Known?]?
        var generation: UInt64 = 0
        if !observers.isEmpty {
            let current = self.directory.withLock { $0 }
            live.reserveCapacity(points.count)
            announced = current.directory.series(of: points, into: &live)
            generation = current.generation
        }
        let (accepted, waiter) = queue.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.stopping else { return (false, nil) }
            guard force || state.samples + points.count <= configuration.maxQueuedSamples || state.pending.isEmpty else {
                return (false, nil)
            }
            state.pending.append(Submission(points: points, source: source, announced: announced, generation: generation,
                                            completion: completion))
            state.samples += points.count
            state.lastArrival = .now
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        if !accepted { metrics.overloaded(source).increment(by: points.count) }
        waiter?.resume()
        if accepted, !live.isEmpty { for observer in observers { observer.accepted(live) } }
        return accepted
    }

    /// Counts points a decoder refused before they reached the pipeline (malformed, invalid values).
    public func countRejected(_ errors: [PointError], source: IngestSource) {
        for error in errors { metrics.rejected(source, error.code).increment() }
    }

    /// Queues points and waits for their commit; throws ``IngestOverloaded`` when the queue is full.
    public func submit(_ points: [Point], source: IngestSource) async throws -> IngestReceipt {
        try await withCheckedThrowingContinuation { continuation in
            let queued = submit(points, source: source) { continuation.resume(with: $0) }
            if !queued { continuation.resume(throwing: IngestOverloaded(queuedSamples: queuedSamples)) }
        }
    }

    /// Commits batches until graceful shutdown (or cancellation), then drains what was queued and returns.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                var pace = GatherPace(shortestDelay: configuration.gatherDelay, longestDelay: configuration.longestGatherDelay,
                                      targetSamples: configuration.gatherTarget)
                var previous = ContinuousClock.now - configuration.gatherDelay
                while let batch = await nextBatch(previous: previous, pace: &pace) {
                    await process(batch)
                    previous = .now
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
        logger.info("ingest pipeline drained and stopped")
    }

    /// Refuses new submissions and lets `run()` return once the queue is empty.
    private func stop() {
        let waiter = queue.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopping = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits for work; returns submissions totalling at most `maxBatchSamples` (at least one), or nil
    /// once stopped and drained. A small queue is taken when `pace` says, after the `previous`
    /// commit ended.
    private func nextBatch(previous: ContinuousClock.Instant, pace: inout GatherPace) async -> [Submission]? {
        while true {
            let due = pace.due(previousEnd: previous)
            var gathered = false
            if queue.withLock({ !$0.pending.isEmpty && !$0.stopping && $0.samples < configuration.gatherSamples }),
               ContinuousClock.now < due {
                metrics.gatherDelay.record((due - previous).inSeconds)
                try? await Task.sleep(until: due, clock: .continuous)
                gathered = true
            }
            let (taken, count, lastArrival, stopped, callbacks) = queue.withLock {
                state -> ([Submission], Int, ContinuousClock.Instant, Bool, [@Sendable () -> Void]) in
                var taken: [Submission] = []
                var count = 0
                while let first = state.pending.first, taken.isEmpty || count + first.points.count <= configuration.maxBatchSamples {
                    taken.append(state.pending.removeFirst())
                    count += first.points.count
                }
                state.samples -= count
                var callbacks: [@Sendable () -> Void] = []
                if state.samples < configuration.pauseThreshold / 2, !state.drainCallbacks.isEmpty {
                    swap(&callbacks, &state.drainCallbacks)
                }
                return (taken, count, state.lastArrival, state.stopping, callbacks)
            }
            metrics.queueDepth.record(queuedSamples)
            for callback in callbacks { callback() }
            if !taken.isEmpty {
                pace.taken(samples: count, at: .now, lastArrival: lastArrival, waited: gathered)
                return taken
            }
            if stopped { return nil }
            await withCheckedContinuation { continuation in
                let resumeNow = queue.withLock { state -> Bool in
                    if !state.pending.isEmpty || state.stopping { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }
    }

    private func process(_ submissions: [Submission]) async {
        let points = submissions.flatMap(\.points)
        await loadMissingLimits(points)
        let tags = fedTags.withLock { $0 }?.function() ?? [:]
        let (batch, rejected) = registry.withLock { registry in
            var (batch, rejected) = registry.plan(points, known: Self.reusableSeries(of: submissions, current: directory.withLock { $0.generation }))
            if !tags.isEmpty { batch.feed = Self.feed(of: batch, tags: tags, keys: registry) }
            return (batch, rejected)
        }
        let started = ContinuousClock.now
        let result: WriteResult
        do {
            // Not cancellable: a batch that was taken from the queue is committed or failed, never abandoned.
            let store = self.store
            result = try await Task { try await store.commit(batch) }.value
        } catch {
            logger.error("commit failed; submitters get the error", metadata: ["error": "\(error)", "ingest.samples": "\(points.count)"])
            metrics.commitFailures.increment()
            for submission in submissions { submission.completion(.failure(error)) }
            return
        }
        metrics.commitDuration.recordNanoseconds((ContinuousClock.now - started).inNanoseconds)
        metrics.batchSize.record(batch.samples.count)
        registry.withLock { registry in
            registry.committed(batch, result)
            if !result.series.isEmpty { publish(registry.directory) }
        }
        announceRest(of: submissions, batch, rejected: rejected, result)
        let receipts = Self.receipts(counts: submissions.map(\.points.count), rejected: rejected, stored: result.stored)
        for (submission, receipt) in zip(submissions, receipts) {
            metrics.stored(submission.source).increment(by: receipt.stored)
            metrics.duplicates(submission.source).increment(by: receipt.duplicates)
            for rejection in receipt.rejected { metrics.rejected(submission.source, rejection.error.code).increment() }
            submission.completion(.success(receipt))
        }
    }

    /// The batch's samples of the fed tags, in order (new series under their negative ids).
    private static func feed(of batch: WriteBatch, tags: [TenantID: Set<String>], keys registry: SeriesRegistry) -> [AcceptedSample] {
        var fed: [AcceptedSample] = []
        for entry in batch.samples {
            guard let key = entry.series < 0 ? batch.newSeries[Int(-entry.series - 1)].key : registry.key(of: entry.series),
                  tags[key.tenant]?.contains(key.tag) == true else { continue }
            fed.append(AcceptedSample(seriesID: entry.series, key: key, sample: entry.sample))
        }
        return fed
    }

    /// Per point of the batch, the series it was resolved to at submission when that was against
    /// the directory still `current` (the registry unchanged since); nil when no submission has any.
    private static func reusableSeries(of submissions: [Submission], current: UInt64) -> [SeriesRegistry.Known?]? {
        guard submissions.contains(where: { $0.announced != nil && $0.generation == current }) else { return nil }
        return submissions.flatMap { submission in
            submission.generation == current ? submission.announced ?? Array(repeating: nil, count: submission.points.count)
                : Array(repeating: nil, count: submission.points.count)
        }
    }

    private func loadMissingLimits(_ points: [Point]) async {
        let known = registry.withLock { Set($0.limits.keys) }
        let missing = Set(points.map(\.series.tenant)).subtracting(known)
        for tenant in missing {
            let limits = (try? await store.limits(tenant: tenant)) ?? TenantLimits()
            registry.withLock { $0.setLimits(limits, for: tenant) }
        }
    }

    /// Splits the batch's outcome back to its submissions: `rejected` holds point indexes over the
    /// whole batch; `stored` has one flag per planned sample, in point order minus the rejected.
    static func receipts(counts: [Int], rejected: [(index: Int, error: ModelError)], stored: [Bool]) -> [IngestReceipt] {
        var receipts = [IngestReceipt](repeating: IngestReceipt(), count: counts.count)
        walk(counts: counts, rejected: rejected) { submission, offset, outcome in
            switch outcome {
            case .rejected(let error): receipts[submission].rejected.append(IndexedPointError(index: offset, error: error))
            case .planned(let entry) where stored[entry]: receipts[submission].stored += 1
            case .planned: receipts[submission].duplicates += 1
            }
        }
        return receipts
    }

    /// What planning made of one point: refused, or the index of its entry in the batch.
    enum PointOutcome {
        case rejected(ModelError)
        case planned(entry: Int)
    }

    /// Walks the points of a batch's submissions in order (`counts` points each), telling for each
    /// its submission, its offset in it, and its outcome; `rejected` holds point indexes over the whole
    /// batch, and the batch's entries follow the points minus the rejected ones.
    static func walk(counts: [Int], rejected: [(index: Int, error: ModelError)],
                     _ body: (_ submission: Int, _ offset: Int, _ outcome: PointOutcome) -> Void) {
        var rejectedIndex = 0, entry = 0, point = 0
        for (submission, count) in counts.enumerated() {
            for offset in 0..<count {
                defer { point += 1 }
                if rejectedIndex < rejected.count, rejected[rejectedIndex].index == point {
                    body(submission, offset, .rejected(rejected[rejectedIndex].error))
                    rejectedIndex += 1
                } else {
                    body(submission, offset, .planned(entry: entry))
                    entry += 1
                }
            }
        }
    }

    private func interestedObservers() -> [any SampleObserver] {
        observers.withLock { $0 }.filter(\.isInterested)
    }

    /// After a commit, shows observers the stored samples they were not shown at submission
    /// (those of series this batch registered, or registered while the submission waited).
    private func announceRest(of submissions: [Submission], _ batch: WriteBatch, rejected: [(index: Int, error: ModelError)],
                              _ result: WriteResult) {
        let observers = interestedObservers()
        guard !observers.isEmpty else { return }
        var accepted: [AcceptedSample] = []
        registry.withLock { registry in
            Self.walk(counts: submissions.map(\.points.count), rejected: rejected) { submission, offset, outcome in
                let shown = submissions[submission].announced.map { $0[offset] != nil } ?? false
                guard case .planned(let index) = outcome, result.stored[index], !shown else { return }
                let entry = batch.samples[index]
                let id = entry.series < 0 ? result.series[Int(-entry.series - 1)].id : entry.series
                guard let key = registry.key(of: id) else { return }
                accepted.append(AcceptedSample(seriesID: id, key: key, sample: entry.sample))
            }
        }
        guard !accepted.isEmpty else { return }
        for observer in observers { observer.accepted(accepted) }
    }
}
