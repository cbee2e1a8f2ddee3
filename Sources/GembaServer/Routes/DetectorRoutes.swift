#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
internal import GembaAnalytics
internal import GembaCore
internal import GembaMaintenance
internal import GembaStorage
internal import Hummingbird

/// The anomaly detectors: their configuration, their events, the labels operators give them and
/// how well each has done (precision from labels, recall and lead time against failures).
struct DetectorRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let group = "Maintenance"
        return [
            Endpoint(.get, "/api/v1/detectors", .requires(.readData), group: group,
                     summary: "The anomaly detectors: each running version (active or shadow) with the machines it has learnt on, "
                        + "then the registered detectors not running (their latest version)",
                     responses: [.json(200, "Detectors", AdminRoutes.items(Self.detector))]) { _, context in
                try OEERoutes.encoded(["items": try await detectors(context.tenant)])
            },
            Endpoint(.get, "/api/v1/detector-events", .requires(.readData), group: group, summary: "Detector events starting in a range, newest first",
                     parameters: [Parameter("detector", .string(minLength: 1, maxLength: 64), "One detector's events"),
                                  Parameter("machine", .string(minLength: 1, maxLength: 200), "A machine, or a site/area/line prefix"), .from, .to,
                                  Parameter("limit", .integer(minimum: 1, maximum: 5000), "At most this many (default 1000)")],
                     responses: [.json(200, "Events", AdminRoutes.items(Self.event)), Self.unavailable]) { request, context in
                let (from, to) = try QueryRoutes.range(request, defaultSpan: 7 * 86_400_000)
                let parameters = request.uri.queryParameters
                let events = try await store().detectorEvents(DetectorEventQuery(
                    tenant: context.tenant, detector: parameters.get("detector"), scope: parameters.get("machine"),
                    range: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch,
                    limit: try QueryRoutes.limit(parameters.get("limit"), default: 1000, maximum: 5000)))
                return try OEERoutes.encoded(["items": events.map(EventView.init)])
            },
            Endpoint(.get, "/api/v1/detector-events/{id}", .requires(.readData), group: group, summary: "One detector event",
                     parameters: [.path("id", "The event's id")],
                     responses: [.json(200, "The event", Self.event), .problem(404, "No such event"), Self.unavailable]) { _, context in
                try OEERoutes.encoded(EventView(try await event(context)))
            },
            Endpoint(.post, "/api/v1/detector-events/{id}/label", .requires(.operate), group: group,
                     summary: "Say whether an event was right (true_positive) or wrong (false_positive); null clears the label (audited)",
                     parameters: [.path("id", "The event's id")], body: .json(Self.labelInput),
                     responses: [.json(200, "The event now", Self.event), .problem(404, "No such event"), Self.unavailable]) { request, context in
                let input = try await OEERoutes.decode(LabelInput.self, from: request)
                if let note = input.note, note.count > 1000 { throw Problem.badRequest("\"note\" has at most 1000 characters") }
                let event = try await event(context)
                let caller = try context.requireCaller()
                guard try await store().labelEvent(tenant: context.tenant, id: event.id, label: input.label?.rawValue, by: caller.name,
                                                   at: Timestamp.now().millisecondsSinceEpoch, note: input.note) else {
                    throw Problem.notFound("no detector event \(event.id)")
                }
                await server.audit(context, "detector_event.label", target: String(event.id), detail: "label=\(input.label?.rawValue ?? "none")")
                return try OEERoutes.encoded(EventView(try await self.event(context)))
            },
            Endpoint(.get, "/api/v1/detectors/{detector}/performance", .requires(.readData), group: group,
                     summary: "A detector's precision (from labels), recall and lead time (against failures) over a range, per period",
                     description: "Failures are equipment-failure stops and repair (corrective) work orders on the machines the detector "
                        + "watches. A failure is caught when an event not labelled false came within the horizon before it.",
                     parameters: [Parameter("detector", in: .path, .string(minLength: 1, maxLength: 200), example: "vibration", "The detector's id"), .from, .to,
                                  Parameter("period", .oneOf(["day", "week"]), "The length of each period (default week)"),
                                  Parameter("horizon", .string(minLength: 2, maxLength: 10), example: "7d",
                                            "How long before a failure an event catches it (default 7d)")],
                     responses: [.json(200, "The figures", Self.performance), Self.unavailable]) { request, context in
                try await performance(request, context)
            },
        ]
    }

    private func detectors(_ tenant: TenantID) async throws -> [DetectorView] {
        let engine = server.detection
        let running = (engine?.instances ?? []).filter { $0.id.tenant == tenant }
        let views = running.map { instance in
            DetectorView(instance.detector, version: instance.id.version, status: instance.shadow ? "shadow" : "active",
                         machines: engine?.machines(watchedBy: instance.id.detector, tenant: tenant) ?? [])
        }
        let versions = try await server.detectorRegistry?.list(tenant: tenant, detector: nil) ?? []
        let stopped = Dictionary(grouping: versions, by: \.detector).filter { id, _ in !running.contains { $0.id.detector == id } }
            .compactMap { _, versions in versions.max { $0.version < $1.version } }
            .sorted { $0.detector < $1.detector }
            .compactMap { latest in
                (try? DetectorRegistry.detector(latest)).map { DetectorView($0, version: latest.version, status: latest.status.rawValue, machines: []) }
            }
        return views.sorted { ($0.id, $0.status) < ($1.id, $1.status) } + stopped
    }

    private func store() throws -> any DetectorEventStore {
        guard let store = server.store as? any DetectorEventStore else { throw Problem(.serviceUnavailable, "this store keeps no detector events") }
        return store
    }

    private func event(_ context: GembaRequestContext) async throws -> StoredDetectorEvent {
        let text = try context.parameters.require("id")
        guard let id = Int64(text), let event = try await store().detectorEvent(tenant: context.tenant, id: id) else {
            throw Problem.notFound("no detector event \(text)")
        }
        return event
    }

    private func performance(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let detector = try context.parameters.require("detector")
        let (from, to) = try QueryRoutes.range(request, defaultSpan: 28 * 86_400_000)
        try QueryRoutes.check(from, to, atMostDays: 92)
        let parameters = request.uri.queryParameters
        let period: Int64 = parameters.get("period") == "day" ? 86_400_000 : 7 * 86_400_000
        guard [nil, "day", "week"].contains(parameters.get("period")) else { throw Problem.badRequest("period is day or week") }
        let horizon = try QueryRoutes.duration(parameters.get("horizon") ?? "7d", "horizon", 60_000...(90 * 86_400_000))
        let range = from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch
        let events = try await store().detectorEvents(DetectorEventQuery(tenant: context.tenant, detector: detector,
                                                                         range: (range.lowerBound - horizon)..<range.upperBound, limit: 100_000))
        let machines = Set(events.map(\.machine) + (server.detection?.machines(watchedBy: detector, tenant: context.tenant) ?? []))
        let failures = try await Self.failures(on: machines, in: range, tenant: context.tenant, server: server)
        let result = DetectorPerformance.compute(
            detector: detector, events: events.map { .init(machine: $0.machine, start: $0.start, label: $0.label.flatMap(EventLabel.init)) },
            failures: failures, range: range, horizon: horizon, period: period)
        return try OEERoutes.encoded(result)
    }

    /// Equipment-failure stops (from the OEE engine) and repair work orders (when proposed) on `machines` in `range`.
    static func failures(on machines: Set<String>, in range: Range<Int64>, tenant: TenantID,
                         server: ServerContext) async throws -> [DetectorPerformance.Failure] {
        var failures: [DetectorPerformance.Failure] = []
        for machine in machines.sorted().compactMap({ try? AssetPath($0) }) {
            let stops = try await server.oee?.stops(tenant: tenant, machine: machine, range: range, lookBack: 0) ?? []
            failures += stops.filter(\.reason.isFailure).map { .init(machine: machine.description, time: $0.start) }
        }
        let repairs = try await server.maintenance?.workOrders(WorkOrderQuery(tenant: tenant, limit: 10_000)) ?? []
        failures += repairs.filter { $0.kind == .corrective && range.contains($0.proposedAt) && machines.contains($0.machine.description) }
            .map { .init(machine: $0.machine.description, time: $0.proposedAt) }
        return failures
    }

    static let unavailable = Reply.problem(503, "This store keeps no detector events")
}

// MARK: Views and inputs

struct DetectorView: Encodable {
    var id: String
    /// The registry's version (0: not from the registry).
    var version: Int
    /// active or shadow while it runs; else the latest version's status.
    var status: String
    var kind: String
    var tag: String
    /// A pca or fleet_rul detector's signals; nil for a univariate one.
    var signals: [String]?
    var output: String
    var scope: String?
    var threshold: Double
    var suppressMs: Int64
    var propose: Bool
    var warmup: Int
    var gate: Gate?
    var failure: Failure?
    var life: Life?
    var machines: [String]

    struct Gate: Encodable {
        var tag: String
        var values: [String]
    }

    struct Failure: Encodable {
        var threshold: Double
        var above: Bool
        var horizonMs: Int64
        var windowMs: Int64
        var output: String
    }

    struct Life: Encodable {
        var cycleMs: Int64
        var capMs: Int64
        var horizonMs: Int64
    }

    enum CodingKeys: String, CodingKey {
        case id, version, status, kind, tag, signals, output, scope, threshold, suppressMs, propose, warmup, gate = "while", failure, life, machines
    }

    init(_ detector: DetectionEngine.Detector, version: Int, status: String, machines: [String]) {
        id = detector.id
        self.version = version
        self.status = status
        kind = detector.kind.rawValue
        tag = detector.tag
        signals = detector.signals.isEmpty ? nil : detector.signals
        output = detector.output
        scope = detector.scope
        threshold = detector.threshold
        suppressMs = detector.suppression
        propose = detector.propose
        warmup = detector.warmUp
        gate = detector.gate.map { Gate(tag: $0.tag, values: $0.values) }
        failure = detector.failure.map { Failure(threshold: $0.threshold, above: $0.above, horizonMs: $0.horizon, windowMs: $0.window, output: $0.output) }
        life = detector.life.map { Life(cycleMs: $0.cycle, capMs: $0.cap, horizonMs: $0.horizon) }
        self.machines = machines
    }
}

struct EventView: Encodable {
    var id: Int64
    var detector: String
    var machine: String
    var tag: String
    var start: Int64
    var last: Int64
    var peak: Double
    var peakTime: Int64
    var closed: Bool
    var label: String?
    var labelledBy: String?
    var labelledAt: Int64?
    var note: String?
    var workOrder: String?
    /// A multivariate detector's explanation: each signal's share at the peak, largest first.
    var contributions: [Evidence.Contribution]?

    init(_ event: StoredDetectorEvent) {
        id = event.id
        detector = event.detector
        machine = event.machine
        tag = event.tag
        start = event.start
        last = event.last
        peak = event.peak
        peakTime = event.peakTime
        closed = event.closed
        label = event.label
        labelledBy = event.labelledBy
        labelledAt = event.labelledAt
        note = event.note
        workOrder = event.workOrder
        contributions = event.contributions.flatMap { try? JSONDecoder().decode([Evidence.Contribution].self, from: Data($0.utf8)) }
    }
}

/// `POST /api/v1/detector-events/{id}/label`: `label` present and null clears it.
struct LabelInput: Decodable {
    var label: EventLabel?
    var note: String?

    enum CodingKeys: String, CodingKey { case label, note }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.contains(.label) else {
            throw DecodingError.keyNotFound(CodingKeys.label, .init(codingPath: [], debugDescription: "label is required"))
        }
        label = try container.decodeIfPresent(EventLabel.self, forKey: .label)
        note = try container.decodeIfPresent(String.self, forKey: .note)
    }
}

extension DetectorRoutes {
    static let time = WorkOrderRoutes.time
    static let detector = Schema.object([
        "id": .string, "version": Schema.integer.described("The registry's version (0: not from the registry)"),
        "status": Schema.oneOf(["active", "shadow"] + DetectorVersion.Status.allCases.map(\.rawValue).filter { !["active", "shadow"].contains($0) })
            .described("active or shadow while it runs, else its latest version's status"),
        "kind": .oneOf(DetectionEngine.Detector.Kind.allCases.map(\.rawValue)), "tag": .string,
        "signals": Schema.array(.string).described("A pca detector's signals, scored together; those a fleet_rul detector's model reads"),
        "output": .string, "scope": .string,
        "threshold": .number, "suppressMs": .integer, "propose": .boolean, "warmup": .integer,
        "while": Schema.object(["tag": .string, "values": .array(.string)]).described("Learns only while this tag has one of these values"),
        "failure": Schema.object(["threshold": .number, "above": .boolean, "horizonMs": .integer, "windowMs": .integer, "output": .string])
            .described("The tag's trend to a failure threshold: remaining life in hours written to output"),
        "life": Schema.object(["cycleMs": .integer, "capMs": .integer, "horizonMs": .integer])
            .described("fleet_rul: the cycle its rows average, the remaining life learnt at most, the horizon of its events; remaining life in hours written to output"),
        "machines": .array(.string),
    ], optional: ["signals", "scope", "while", "failure", "life"]).named("Detector")
    static let labels = EventLabel.allCases.map(\.rawValue)
    static let event = Schema.object([
        "id": .integer, "detector": .string, "machine": TelemetrySchemas.machinePath, "tag": .string, "start": time, "last": time,
        "peak": Schema.number.described("The highest score, 0–1"), "peakTime": time, "closed": .boolean, "label": .oneOf(labels),
        "labelledBy": .string, "labelledAt": time, "note": .string, "workOrder": .string,
        "contributions": Schema.array(.object(["signal": .string, "share": .number]))
            .described("A pca detector's explanation: each signal's share of the score at the peak"),
    ], optional: ["label", "labelledBy", "labelledAt", "note", "workOrder", "contributions"]).named("DetectorEvent")
    static let labelInput = Schema.object([
        "label": Schema.oneOf([.oneOf(labels), Schema([("type", .text("null"))])]).described("true_positive, false_positive, or null to clear"),
        "note": .string(maxLength: 1000),
    ], optional: ["note"]).named("DetectorEventLabelInput")
    static let figures = Schema.object([
        "events": .integer, "truePositives": .integer, "falsePositives": .integer, "unlabelled": .integer, "precision": .number,
        "failures": .integer, "caught": .integer, "recall": .number, "medianLeadTime": Schema.integer.described("ms"),
    ], optional: ["precision", "recall", "medianLeadTime"]).named("DetectorFigures")
    static let performance = Schema.object([
        "detector": .string, "total": figures, "periods": .array(.object(["start": time, "end": time, "figures": figures])),
    ]).named("DetectorPerformance")
}
