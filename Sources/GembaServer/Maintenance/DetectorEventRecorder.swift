public import GembaMaintenance
public import GembaStorage
public import Logging
public import ServiceLifecycle
public import GembaCore
public import GembaDetect
internal import GembaRules
internal import Foundation

/// Stores the detectors' events as they open and close and, for detectors that propose, makes
/// each new event a predictive work order carrying its evidence (a maintenance lead decides).
public struct DetectorEventRecorder: Service {
    let engine: DetectionEngine
    let store: any DetectorEventStore
    let maintenance: MaintenanceService?
    let logger: Logger

    public init(engine: DetectionEngine, store: any DetectorEventStore, maintenance: MaintenanceService?, logger: Logger) {
        self.engine = engine
        self.store = store
        self.maintenance = maintenance
        self.logger = logger
    }

    public func run() async throws {
        for await change in engine.events.cancelOnGracefulShutdown() {
            do {
                try await record(change)
            } catch {
                logger.error("detector event not stored", metadata: ["detector": "\(change.detector.id)", "machine": "\(change.machine)",
                                                                     "error": "\(error)"])
            }
        }
    }

    func record(_ change: DetectionEngine.EventChange) async throws {
        let detector = change.detector
        let event = change.event
        if change.closed {
            try await store.closeEvent(tenant: detector.tenant, detector: detector.id, machine: change.machine.description, start: event.start,
                                       last: event.last, peak: event.peak, peakTime: event.peakTime)
            return
        }
        // A remaining-life event is a moment, closed as it is made.
        let id = try await store.recordEvent(StoredDetectorEvent(
            tenant: detector.tenant, detector: detector.id, machine: change.machine.description, tag: detector.tag, start: event.start,
            last: event.last, peak: event.peak, peakTime: event.peakTime, closed: change.life != nil))
        guard detector.propose, let maintenance else { return }
        let proposal = change.life.map { Self.proposal(change, life: $0, eventID: id) } ?? Self.proposal(change, eventID: id)
        let order = try await maintenance.propose(proposal, tenant: detector.tenant, by: "detector \(detector.id)")
        try await store.linkEvent(tenant: detector.tenant, id: id, workOrder: order.id)
        logger.info("work order proposed by a detector", metadata: ["work_order": "\(order.id)", "machine": "\(change.machine)",
                                                                    "detector": "\(detector.id)", "score": "\(event.peak)"])
    }

    /// A predictive work order from a remaining-life event: the estimate with its 90 % interval, the
    /// watched signal and its remaining life over the fitted window.
    static func proposal(_ change: DetectionEngine.EventChange, life: TrendRUL.Estimate, eventID: Int64) -> MaintenanceService.Proposal {
        let detector = change.detector
        let failure = detector.failure!
        let hours = life.remaining < 10 ? (life.remaining * 10).rounded() / 10 : life.remaining.rounded()
        let direction = failure.above ? "rises to" : "falls to"
        return MaintenanceService.Proposal(
            machine: change.machine, title: "\(detector.tag) heading for failure on \(change.machine.machine)",
            details: "\(detector.tag) \(direction) its failure threshold \(failure.threshold) in about \(hours) h at its trend over the last "
                + "\(RuleText.duration(failure.window)) (detector \(detector.id)). Plan the work before it fails.",
            kind: .predictive, priority: life.remaining * 3_600_000 < Double(failure.horizon) / 4 ? .urgent : .high,
            origin: .init(.detector, reference: String(eventID)),
            evidence: Evidence(summary: "remaining life \(hours) h to \(detector.tag) = \(failure.threshold)", signals: [detector.tag],
                               estimate: .init(quantity: "remaining_life", value: life.remaining, low: life.low, high: life.high, unit: "h",
                                               coverage: 0.9),
                               window: .init(from: change.event.start - failure.window, to: change.event.start + 600_000,
                                             tags: [detector.tag, failure.output])))
    }

    /// A predictive work order from an event: its score, the watched signal and six hours of chart before it.
    static func proposal(_ change: DetectionEngine.EventChange, eventID: Int64) -> MaintenanceService.Proposal {
        let detector = change.detector
        let event = change.event
        let score = (event.peak * 100).rounded() / 100
        return MaintenanceService.Proposal(
            machine: change.machine, title: "Unusual \(detector.tag) on \(change.machine.machine)",
            details: "Detector \(detector.id) (\(detector.kind.rawValue)) scored \(detector.tag) \(score) at "
                + "\(Timestamp(millisecondsSinceEpoch: event.peakTime).rfc3339). Check the machine before it fails.",
            kind: .predictive, priority: event.peak >= 0.9 ? .high : .medium, origin: .init(.detector, reference: String(eventID)),
            evidence: Evidence(summary: "\(detector.tag) anomaly score \(score) (threshold \(detector.threshold))", signals: [detector.tag],
                               scores: [.init(tag: detector.tag, time: event.peakTime, score: event.peak, detector: detector.id)],
                               window: .init(from: event.start - 6 * 3_600_000, to: event.last + 3_600_000,
                                             tags: [detector.tag, detector.output])))
    }
}

extension DetectorEventRecorder {
    /// Labels the detector event a completed work order came from with its outcome: true positive
    /// when the prediction was confirmed, false positive when not.
    public static func label(from order: WorkOrder, by actor: String, tenant: TenantID, in store: any DetectorEventStore) async throws {
        guard order.origin.source == .detector, let reference = order.origin.reference, let id = Int64(reference),
              let confirmed = order.completion?.predictionConfirmed else { return }
        let label: EventLabel = confirmed ? .truePositive : .falsePositive
        _ = try await store.labelEvent(tenant: tenant, id: id, label: label.rawValue, by: actor, at: order.updatedAt,
                                       note: "work order \(order.id): \(order.completion?.findings ?? "")")
    }
}
