public import GembaMaintenance
public import GembaStorage
public import Logging
public import ServiceLifecycle
public import GembaCore
internal import GembaDetect
internal import GembaRules
internal import Foundation

/// Stores the detectors' events as they open and close (in batches) and, for detectors that
/// propose, makes each new event a predictive work order carrying its evidence (a maintenance lead decides).
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
        // Events are written in batches (one transaction each): a plant's detectors may open many at once.
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await engine.eventsWaiting.wait(upTo: .seconds(1))
            try await drain()
        }
        try await drain()
    }

    /// Stores the events waiting, and proposes work for those that open with a detector that proposes.
    func drain() async throws {
        let (changes, dropped) = engine.takeEvents()
        if dropped > 0 { logger.error("detector events dropped: the recorder fell behind", metadata: ["events.dropped": "\(dropped)"]) }
        guard !changes.isEmpty else { return }
        do {
            let ids = try await store.recordEvents(changes.map(Self.stored))
            for (change, id) in zip(changes, ids) where (!change.closed && !change.updated) || change.life != nil {
                try await propose(change, eventID: id)
            }
        } catch {
            logger.error("detector events not stored", metadata: ["events": "\(changes.count)", "error": "\(error)"])
        }
    }

    /// An event as stored: an opened one new, a closed one updating the open one (by its start); a
    /// remaining-life event is a moment, closed as it is made.
    static func stored(_ change: DetectionEngine.EventChange) -> StoredDetectorEvent {
        let event = change.event
        return StoredDetectorEvent(tenant: change.detector.tenant, detector: change.detector.id, machine: change.machine.description,
                                   tag: change.detector.tag, start: event.start, last: event.last, peak: event.peak, peakTime: event.peakTime,
                                   closed: change.closed || change.life != nil, contributions: contributions(change).flatMap(encoded))
    }

    /// A multivariate detector's explanation of an event: each signal's share, largest first.
    static func contributions(_ change: DetectionEngine.EventChange) -> [Evidence.Contribution]? {
        guard let shares = change.contributions, shares.count == change.detector.signals.count else { return nil }
        return zip(change.detector.signals, shares).map { Evidence.Contribution(signal: $0, share: ($1 * 1000).rounded() / 1000) }
            .sorted { $0.share > $1.share }
    }

    /// The explanation as the store keeps it (JSON).
    static func encoded(_ contributions: [Evidence.Contribution]) -> String? {
        (try? JSONEncoder().encode(contributions)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// "vibration 71 %, power 20 %": the explanation in words (the three largest shares).
    static func words(_ contributions: [Evidence.Contribution]) -> String {
        contributions.prefix(3).map { "\($0.signal) \(Int(($0.share * 100).rounded())) %" }.joined(separator: ", ")
    }

    private func propose(_ change: DetectionEngine.EventChange, eventID: Int64) async throws {
        let detector = change.detector
        guard detector.propose, let maintenance else { return }
        let proposal = change.life.map { Self.proposal(change, life: $0, eventID: eventID) } ?? Self.proposal(change, eventID: eventID)
        let order = try await maintenance.propose(proposal, tenant: detector.tenant, by: "detector \(detector.id)")
        try await store.linkEvent(tenant: detector.tenant, id: eventID, workOrder: order.id)
        logger.info("work order proposed by a detector", metadata: ["work_order": "\(order.id)", "machine": "\(change.machine)",
                                                                    "detector": "\(detector.id)", "score": "\(change.event.peak)"])
    }

    /// A predictive work order from a remaining-life event: the estimate with its 90 % interval, the
    /// watched signal and its remaining life over the fitted window.
    static func proposal(_ change: DetectionEngine.EventChange, life: TrendRUL.Estimate, eventID: Int64) -> MaintenanceService.Proposal {
        let detector = change.detector
        let hours = Self.hours(life.remaining)
        guard let failure = detector.failure else { return fleetProposal(change, life: life, eventID: eventID) }
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

    /// A predictive work order from a `fleet_rul` event: the fleet model's estimate with its
    /// 10–90 % interval, the signals it read and the cycles its window covered.
    static func fleetProposal(_ change: DetectionEngine.EventChange, life: TrendRUL.Estimate, eventID: Int64) -> MaintenanceService.Proposal {
        let detector = change.detector
        let cycle = detector.life?.cycle ?? 3_600_000
        let horizon = detector.life?.horizon ?? 0
        let range = "\(Self.hours(life.low))–\(life.high.map(Self.hours).map { "\($0)" } ?? "?") h"
        return MaintenanceService.Proposal(
            machine: change.machine, title: "Remaining life below \(RuleText.duration(horizon)) on \(change.machine.machine)",
            details: "The fleet model (detector \(detector.id)) estimates about \(Self.hours(life.remaining)) h of remaining life (10–90 %: \(range)) "
                + "from \(detector.signals.joined(separator: ", ")) over the last cycles of \(RuleText.duration(cycle)), matched against "
                + "the runs to failure it was trained on. Plan the work before it fails.",
            kind: .predictive, priority: life.remaining * 3_600_000 < Double(horizon) / 4 ? .urgent : .high,
            origin: .init(.detector, reference: String(eventID)),
            evidence: Evidence(summary: "remaining life \(Self.hours(life.remaining)) h (\(range)) by the fleet model", signals: detector.signals,
                               estimate: .init(quantity: "remaining_life", value: life.remaining, low: life.low, high: life.high, unit: "h",
                                               coverage: 0.8),
                               window: .init(from: change.event.start - 30 * cycle, to: change.event.start + cycle,
                                             tags: detector.signals + [detector.output])))
    }

    /// Hours as a person reads them: tenths below 10, whole hours above.
    private static func hours(_ value: Double) -> Double { value < 10 ? (value * 10).rounded() / 10 : value.rounded() }

    /// A predictive work order from an event: its score, the watched signal and six hours of chart before it.
    static func proposal(_ change: DetectionEngine.EventChange, eventID: Int64) -> MaintenanceService.Proposal {
        let detector = change.detector
        let event = change.event
        let score = (event.peak * 100).rounded() / 100
        if let contributions = contributions(change) {
            let machine = change.machine.machine
            return MaintenanceService.Proposal(
                machine: change.machine, title: "Unusual combination of signals on \(machine)",
                details: "Detector \(detector.id) (pca on \(detector.signals.joined(separator: ", "))) scored \(score) at "
                    + "\(Timestamp(millisecondsSinceEpoch: event.peakTime).rfc3339): \(words(contributions)). Check the machine before it fails.",
                kind: .predictive, priority: event.peak >= 0.9 ? .high : .medium, origin: .init(.detector, reference: String(eventID)),
                evidence: Evidence(summary: "anomaly score \(score) (threshold \(detector.threshold)): \(words(contributions))",
                                   signals: detector.signals,
                                   scores: [.init(tag: detector.output, time: event.peakTime, score: event.peak, detector: detector.id)],
                                   contributions: contributions,
                                   window: .init(from: event.start - 6 * 3_600_000, to: event.last + 3_600_000,
                                                 tags: detector.signals + [detector.output])))
        }
        let drift = detector.kind == .drift
        return MaintenanceService.Proposal(
            machine: change.machine, title: drift ? "\(detector.tag) drifting on \(change.machine.machine)" : "Unusual \(detector.tag) on \(change.machine.machine)",
            details: drift
                ? "Detector \(detector.id) (drift\(detector.residuals ? ", against its daily pattern" : "")) found a lasting change of "
                    + "\(detector.tag) at \(Timestamp(millisecondsSinceEpoch: event.peakTime).rfc3339). Check the sensor and the process."
                : "Detector \(detector.id) (\(detector.kind.rawValue)) scored \(detector.tag) \(score) at "
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
