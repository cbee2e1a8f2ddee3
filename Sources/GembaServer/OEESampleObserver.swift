internal import GembaCore
public import GembaAnalytics
public import GembaIngest
public import GembaStorage
public import Logging

extension OEEEngine {
    /// An engine over the store's summaries that sees every sample the pipeline accepts, so late
    /// data marks the summaries it touches; nil when the store keeps no analytics.
    public static func attached(to pipeline: IngestPipeline, store: any TelemetryStore, logger: Logger) -> OEEEngine? {
        guard let analytics = store as? any AnalyticsStore else { return nil }
        let engine = OEEEngine(telemetry: store, store: analytics, logger: logger)
        pipeline.addObserver(OEESampleObserver(engine: engine))
        return engine
    }
}

/// Shows the OEE engine the accepted samples that may be late (older than the newest stored
/// summary), so one older than its machine's summaries marks them for recomputation. Live samples
/// cost one comparison; before any summary exists the observer takes no samples at all.
struct OEESampleObserver: SampleObserver {
    let engine: OEEEngine

    var isInterested: Bool { engine.hasSummaries }

    func accepted(_ samples: [AcceptedSample]) {
        for sample in samples where engine.mayBeLate(sample.sample.time.millisecondsSinceEpoch) {
            engine.noteSample(tenant: sample.key.tenant, machine: sample.key.machine, tag: sample.key.tag,
                              time: sample.sample.time.millisecondsSinceEpoch)
        }
    }
}
