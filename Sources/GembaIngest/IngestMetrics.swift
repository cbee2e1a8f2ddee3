internal import GembaCore
internal import Metrics
internal import Synchronization

/// The pipeline's swift-metrics instruments, created once per label set.
final class IngestMetrics: Sendable {
    let queueDepth = Gauge(label: "gemba_ingest_queue_samples")
    let batchSize = Recorder(label: "gemba_ingest_batch_samples", aggregate: true)
    let commitDuration = Metrics.Timer(label: "gemba_ingest_commit_seconds")
    let commitFailures = Counter(label: "gemba_ingest_commit_failures_total")
    /// How long the latest gathered batch waited after the previous commit (``GatherPace``).
    let gatherDelay = Gauge(label: "gemba_ingest_gather_delay_seconds")

    private let receivedBySource: [IngestSource: Counter]
    private let storedBySource: [IngestSource: Counter]
    private let duplicatesBySource: [IngestSource: Counter]
    private let overloadedBySource: [IngestSource: Counter]
    private let rejectedCounters = Mutex<[String: Counter]>([:])

    init() {
        func bySource(_ label: String) -> [IngestSource: Counter] {
            Dictionary(uniqueKeysWithValues: IngestSource.allCases.map {
                ($0, Counter(label: label, dimensions: [("source", $0.rawValue)]))
            })
        }
        receivedBySource = bySource("gemba_ingest_samples_received_total")
        storedBySource = bySource("gemba_ingest_samples_stored_total")
        duplicatesBySource = bySource("gemba_ingest_samples_duplicate_total")
        overloadedBySource = bySource("gemba_ingest_samples_overloaded_total")
    }

    func received(_ source: IngestSource) -> Counter { receivedBySource[source]! }
    func stored(_ source: IngestSource) -> Counter { storedBySource[source]! }
    func duplicates(_ source: IngestSource) -> Counter { duplicatesBySource[source]! }
    func overloaded(_ source: IngestSource) -> Counter { overloadedBySource[source]! }

    /// Samples rejected, by source and reason (`invalid_value`, `type_mismatch`, `limit_exceeded`, `malformed`, …).
    func rejected(_ source: IngestSource, _ reason: ModelError.Code) -> Counter {
        let key = source.rawValue + "|" + reason.name
        return rejectedCounters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "gemba_ingest_samples_rejected_total",
                                  dimensions: [("source", source.rawValue), ("reason", reason.name)])
            counters[key] = counter
            return counter
        }
    }
}
