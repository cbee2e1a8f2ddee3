internal import GembaAnalytics
internal import GembaIngest

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
