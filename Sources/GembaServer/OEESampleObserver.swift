internal import GembaAnalytics
internal import GembaIngest

/// Shows the OEE engine every accepted sample, so one older than a machine's stored summaries
/// marks them for recomputation.
struct OEESampleObserver: SampleObserver {
    let engine: OEEEngine

    var isInterested: Bool { true }

    func accepted(_ samples: [AcceptedSample]) {
        for sample in samples {
            engine.noteSample(tenant: sample.key.tenant, machine: sample.key.machine, tag: sample.key.tag,
                              time: sample.sample.time.millisecondsSinceEpoch)
        }
    }
}
