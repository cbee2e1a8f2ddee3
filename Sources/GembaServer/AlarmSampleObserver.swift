import GembaAnalytics
public import GembaCore
public import GembaIngest
public import GembaRules
public import GembaStorage
public import Logging

extension AlarmEngine {
    /// An engine over the store's rules that sees every sample the pipeline accepts, at submission
    /// (before the commit, like the live views), so a sample changes an alarm within the same call;
    /// or, when `fed` (several nodes may share the store), one whose samples come from the store's
    /// sample feed (``feedPass(_:batch:)``), which each commit of this pipeline feeds with the tags
    /// rules read. State categories come from the standard state words (`breakdown` →
    /// `unplanned_stop`); nil when the store keeps no alarms.
    public static func attached(to pipeline: IngestPipeline, store: any TelemetryStore, router: (any NotificationRouting)? = nil,
                                fed: Bool = false, logger: Logger) -> AlarmEngine? {
        guard let alarms = store as? any AlarmStore else { return nil }
        let settings = MachineProductionSettings()
        let engine = AlarmEngine(store: alarms, stateCategory: { value in
            settings.reason(forStateValue: value).split(separator: "/").first.map(String.init)
        }, router: router, logger: logger)
        if fed {
            pipeline.feedCommits { [weak engine] in engine?.tagsRead ?? [:] }
        } else {
            pipeline.addObserver(AlarmSampleObserver(engine: engine))
        }
        return engine
    }

    /// One pass of the evaluating node on a store's sample feed: reads `batch` commits at a time,
    /// oldest first, evaluates their samples in time order, ticks the clock, writes the changes,
    /// and only then removes the rows it read. A node that dies in between leaves them to the
    /// next, which replays them. Answers whether notifications were written.
    public func feedPass(_ feed: any SampleFeedStore, batch: Int = 20) async throws -> Bool {
        var notified = false
        while true {
            let entries = try await feed.pendingFeed(limit: batch)
            let samples = Self.inTimeOrder(entries.flatMap(\.samples))
            if !samples.isEmpty { accepted(samples) }
            tick(now: Timestamp.now().millisecondsSinceEpoch)
            if try await flush() { notified = true }
            try await feed.consumeFeed(entries.map(\.id))
            if entries.count < batch { return notified }
        }
    }

    /// The samples of several commits in time order (ties, such as one message's tags, in the order
    /// given, so they stay together): two nodes commit samples of one machine at once, and the
    /// transaction that started first, which the feed answers first, may hold the later sample. A
    /// machine's signals take no sample older than their newest, so unsorted, the earlier one
    /// would count for nothing. (Times compare cheaply; the order across machines does not matter.)
    static func inTimeOrder(_ samples: [AcceptedSample]) -> [AcceptedSample] {
        guard samples.count > 1 else { return samples }
        let times = samples.map(\.sample.time.millisecondsSinceEpoch)
        guard zip(times, times.dropFirst()).contains(where: { $0 > $1 }) else { return samples }
        let order = times.indices.sorted { a, b in times[a] != times[b] ? times[a] < times[b] : a < b }
        return order.map { samples[$0] }
    }

    /// Loads rules, instances and every machine's latest samples of the tags rules read, and its
    /// metadata. The latest samples of `unevaluated` series are left out: their samples are yet to
    /// be evaluated, in order (a node taking over from the sample feed replays them).
    public func start(store: any TelemetryStore, unevaluated: Set<SeriesKey> = []) async throws {
        var machines: [(tenant: TenantID, machine: AssetPath, tags: Set<String>, latest: [String: Sample], metadata: [String: String])] = []
        let rules = try await (store as? any AlarmStore)?.allRules() ?? []
        for tenant in Set(rules.map(\.tenant)) {
            let series = try await store.series(tenant: tenant, machine: nil)
            let latest = try await store.latest(series: series.map(\.id))
            let details = try await (store as? any AssetStore)?.assetDetails(tenant: tenant) ?? []
            let metadata = Dictionary(details.filter { $0.level == .machine }.map { ($0.path, $0.metadata) }, uniquingKeysWith: { $1 })
            for (machine, entries) in Dictionary(grouping: series, by: \.key.machine) {
                var values: [String: Sample] = [:]
                for entry in entries where !unevaluated.contains(entry.key) {
                    if let sample = latest[entry.id] { values[entry.key.tag] = Sample(time: sample.time, value: sample.value.restored(as: entry.tag.valueType), quality: sample.quality) }
                }
                machines.append((tenant, machine, Set(entries.map(\.key.tag)), values, metadata[machine.description] ?? [:]))
            }
        }
        try await load(machines: machines, now: Timestamp.now().millisecondsSinceEpoch)
    }
}


/// Hands the alarm engine every accepted sample; the engine evaluates only the rules reading its tag.
struct AlarmSampleObserver: SampleObserver {
    let engine: AlarmEngine

    var isInterested: Bool { engine.hasRules }

    func accepted(_ samples: [AcceptedSample]) {
        engine.accepted(samples)
    }
}
