#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
internal import GembaCore
internal import GembaDetect
internal import GembaMaintenance
internal import GembaStorage
internal import Hummingbird

/// The detector registry: versions of each detector's configuration, trained on a history range,
/// evaluated against the plant's labels, run in shadow, promoted and rolled back. Engineers take
/// the steps; everyone reads. Every step is audited.
struct DetectorRegistryRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let group = "Maintenance"
        let detector = Parameter("detector", in: .path, .string(minLength: 1, maxLength: 64), example: "vibration", "The detector's id")
        let version = Parameter("version", in: .path, .integer(minimum: 1, maximum: 1_000_000), example: "1", "The version's number")
        let answers: [Reply] = [.json(200, "The version now", Self.version), .problem(404, "No such detector or version"),
                                .problem(409, "The step does not apply to the version's status"),
                                .problem(422, "The step cannot be taken (the detail says why)"), Self.unavailable]
        return [
            Endpoint(.get, "/api/v1/detectors/{detector}/versions", .requires(.readData), group: group,
                     summary: "Every version of a detector: configuration, status, training range and evaluations, oldest first",
                     parameters: [detector],
                     responses: [.json(200, "Versions", AdminRoutes.items(Self.version)), .problem(404, "No such detector"), Self.unavailable]) { _, context in
                let versions = try await registry().list(tenant: context.tenant, detector: try context.parameters.require("detector"))
                guard !versions.isEmpty else { throw Problem.notFound("no detector \(try context.parameters.require("detector"))") }
                return try OEERoutes.encoded(["items": versions.map(VersionView.init)])
            },
            Endpoint(.post, "/api/v1/detectors/{detector}/versions", .requires(.configure), group: group,
                     summary: "A new version of a detector (a new detector with its first): a draft until trained, shadowed or promoted (audited)",
                     parameters: [detector], body: .json(Self.versionInput),
                     responses: [.json(201, "The version", Self.version), .problem(422, "The configuration cannot run (the detail names the field)"),
                                 Self.unavailable]) { request, context in
                let id = try context.parameters.require("detector")
                let input = try await OEERoutes.decode(VersionInput.self, from: request, userInfo: [VersionInput.detectorID: id])
                if let note = input.note, note.count > 1000 { throw Problem.badRequest("\"note\" has at most 1000 characters") }
                var configured = input.detector
                configured.tenant = context.tenant
                let caller = try context.requireCaller()
                let version = try await refusing { try await registry().create(configured, note: input.note, by: caller.name) }
                await server.audit(context, "detector.version.create", target: "\(id) v\(version.version)", detail: input.note ?? "")
                var response = try OEERoutes.encoded(VersionView(version))
                response.status = .created
                return response
            },
            Endpoint(.get, "/api/v1/detectors/{detector}/versions/{version}", .requires(.readData), group: group,
                     summary: "One version of a detector", parameters: [detector, version],
                     responses: [.json(200, "The version", Self.version), .problem(404, "No such detector or version"), Self.unavailable]) { _, context in
                try OEERoutes.encoded(VersionView(try await find(context)))
            },
            Endpoint(.post, "/api/v1/detectors/{detector}/versions/{version}/train", .requires(.configure), group: group,
                     summary: "Train a version on a history range: it learns every machine in its scope and starts from that when it runs (audited)",
                     description: "Needs the warm-up plus 100 numeric samples of the tag on one machine (within the gate). A fleet_rul "
                        + "version learns the machines' runs to failure instead: the failures given, or those recorded in the range "
                        + "(equipment-failure stops and repair work orders); it needs 2 runs of more than 30 cycles with every signal, "
                        + "and is cross-validated over its runs when there are 4 or more. A version running (active or shadow) is "
                        + "not trained again: make a new version.",
                     parameters: [detector, version], body: .json(Self.trainInput), responses: answers) { request, context in
                let input = try await OEERoutes.decode(TrainInput.self, from: request)
                let range = try RangeInput(from: input.from, to: input.to).range()
                let caller = try context.requireCaller()
                let trained = try await refusing {
                    let registry = try registry()
                    let version = try await find(context)
                    var failures: [DetectorPerformance.Failure] = []
                    let configured = try DetectorRegistry.detector(version)
                    if configured.kind == .fleet {
                        if let given = input.failures {
                            guard given.count <= TrainInput.maximumFailures else {
                                throw Problem.badRequest("failures: at most \(TrainInput.maximumFailures)")
                            }
                            failures = try given.map { try $0.failure() }
                        } else {
                            let machines = try await registry.machines(watchedBy: configured)
                            failures = try await DetectorRoutes.failures(on: machines, in: range, tenant: context.tenant, server: server)
                        }
                    }
                    return try await registry.train(tenant: context.tenant, detector: version.detector, version: version.version, range: range,
                                                    failures: failures, by: caller.name)
                }
                await server.audit(context, "detector.version.train", target: "\(trained.detector) v\(trained.version)",
                                   detail: "from=\(range.lowerBound) to=\(range.upperBound) samples=\(trained.training?.samples ?? 0)")
                return try OEERoutes.encoded(VersionView(trained))
            },
            Endpoint(.put, "/api/v1/detectors/{detector}/versions/{version}/model", .requires(.configure), group: group,
                     summary: "Load a fleet model trained elsewhere as a fleet_rul version's model, in place of training it (audited)",
                     description: "The body is the model `gemba detect train-rul <file> --no-age --model model.json` writes (at most "
                        + "\(Self.maximumModelBytes >> 20) MB). The version's signals are the training file's columns in order, and each "
                        + "of the model's cycles is one of the version's life.cycle. A model that reads the machines' age (trained "
                        + "without --no-age), reads more columns than the version names, or does not hold together is refused with 422.",
                     parameters: [detector, version], body: .json(Self.fleetModel),
                     responses: answers + [.problem(413, "The model is larger than the limit")]) { request, context in
                let model = try await OEERoutes.decode(FleetRULModel.self, from: request, limit: Self.maximumModelBytes)
                let caller = try context.requireCaller()
                let loaded = try await refusing {
                    let version = try await find(context)
                    return try await registry().load(model, tenant: context.tenant, detector: version.detector, version: version.version,
                                                     by: caller.name)
                }
                await server.audit(context, "detector.version.load", target: "\(loaded.detector) v\(loaded.version)",
                                   detail: "cycles=\(model.trainingCycles) signals=\(model.signals.count)")
                return try OEERoutes.encoded(VersionView(loaded))
            },
            Endpoint(.post, "/api/v1/detectors/{detector}/versions/{version}/evaluate", .requires(.configure), group: group,
                     summary: "Replay a version over a history range and judge its events by the plant's labels and failures (audited)",
                     description: "Labelled ranges are the detector events people marked right or wrong on the same tag (of any "
                        + "detector or version); an event of the replay takes the label of the ranges it meets (within 10 minutes). "
                        + "Failures are equipment-failure stops and repair work orders; an event catches one within the horizon before it.",
                     parameters: [detector, version], body: .json(Self.evaluateInput), responses: answers) { request, context in
                try await evaluate(request, context)
            },
        ] + steps(detector, version, answers) + [
            Endpoint(.post, "/api/v1/detectors/{detector}/rollback", .requires(.configure), group: group,
                     summary: "Make the version active before the current one active again (the current one retires) (audited)",
                     parameters: [detector], body: .json(Self.noteInput, required: false),
                     responses: [.json(200, "The version now active", Self.version), .problem(404, "No such detector"),
                                 .problem(409, "No earlier version was ever active"), .problem(422, "Its model cannot be loaded"),
                                 Self.unavailable]) { request, context in
                let note = try await Self.note(request)
                let id = try context.parameters.require("detector")
                let active = try await refusing { try await registry().rollback(tenant: context.tenant, detector: id) }
                await server.audit(context, "detector.rollback", target: "\(id) v\(active.version)", detail: note ?? "")
                return try OEERoutes.encoded(VersionView(active))
            },
        ]
    }

    /// Shadow, promote and retire: the same shape, one step each.
    private func steps(_ detector: Parameter, _ version: Parameter, _ answers: [Reply]) -> [Endpoint] {
        let steps: [(DetectorVersionAction, String)] = [
            (.shadow, "Run a version in shadow beside the active one: its scores are written to <output>.shadow, it raises no events (audited)"),
            (.promote, "Make a version active: it raises events and proposes work; the active one retires (audited)"),
            (.retire, "Stop a running version (active or shadow) (audited)"),
        ]
        return steps.map { action, summary in
            Endpoint(.post, "/api/v1/detectors/{detector}/versions/{version}/\(action.name)", .requires(.configure), group: "Maintenance",
                     summary: summary, parameters: [detector, version], body: .json(Self.noteInput, required: false),
                     responses: answers) { request, context in
                let note = try await Self.note(request)
                let id = try context.parameters.require("detector")
                let changed = try await refusing {
                    try await registry().act(action, tenant: context.tenant, detector: id, version: try number(context))
                }
                await server.audit(context, "detector.\(action.name)", target: "\(id) v\(changed.version)", detail: note ?? "")
                return try OEERoutes.encoded(VersionView(changed))
            }
        }
    }

    private func evaluate(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let input = try await OEERoutes.decode(EvaluateInput.self, from: request)
        let range = try RangeInput(from: input.from, to: input.to).range()
        let horizon = try QueryRoutes.duration(input.horizon ?? "7d", "horizon", 60_000...(90 * 86_400_000))
        let registry = try registry()
        let version = try await find(context)
        let configured = try DetectorRegistry.detector(version)
        let machines = try await registry.machines(watchedBy: configured)
        let labels = try await labelledRanges(configured, range, tenant: context.tenant)
        let failures = try await DetectorRoutes.failures(on: machines, in: range, tenant: context.tenant, server: server)
        let caller = try context.requireCaller()
        let evaluated = try await refusing {
            try await registry.evaluate(tenant: context.tenant, detector: version.detector, version: version.version, range: range,
                                        horizon: horizon, labels: labels, failures: failures, by: caller.name)
        }
        let figures = evaluated.evaluations.last?.figures
        await server.audit(context, "detector.version.evaluate", target: "\(version.detector) v\(version.version)",
                           detail: "from=\(range.lowerBound) to=\(range.upperBound) events=\(figures?.events ?? 0)")
        return try OEERoutes.encoded(VersionView(evaluated))
    }

    /// The detector events people labelled on the detector's tag around `range`: the plant's evaluation data.
    private func labelledRanges(_ detector: DetectionEngine.Detector, _ range: Range<Int64>, tenant: TenantID) async throws -> [LabelledRange] {
        guard let events = server.store as? any DetectorEventStore else { return [] }
        let around = (range.lowerBound - LabelledRange.tolerance - 86_400_000)..<(range.upperBound + LabelledRange.tolerance)
        return try await events.detectorEvents(DetectorEventQuery(tenant: tenant, scope: detector.scope, range: around, limit: 100_000))
            .filter { $0.tag == detector.tag }
            .compactMap { event in
                event.label.flatMap(EventLabel.init).map { LabelledRange(machine: event.machine, start: event.start, end: event.last, label: $0) }
            }
    }

    private func registry() throws -> DetectorRegistry {
        guard let registry = server.detectorRegistry else { throw Problem(.serviceUnavailable, "this store keeps no detector versions") }
        return registry
    }

    private func number(_ context: GembaRequestContext) throws -> Int {
        let text = try context.parameters.require("version")
        guard let number = Int(text), number > 0 else { throw Problem.notFound("no version \(text)") }
        return number
    }

    private func find(_ context: GembaRequestContext) async throws -> DetectorVersion {
        let id = try context.parameters.require("detector")
        let number = try number(context)
        guard let version = try await registry().list(tenant: context.tenant, detector: id).first(where: { $0.version == number }) else {
            throw Problem.notFound("no version \(number) of detector \(id)")
        }
        return version
    }

    /// Runs a registry step, turning its model and configuration errors into problems.
    private func refusing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await refusingModelErrors(body)
        } catch let error as DetectionEngine.ConfigurationError {
            throw Problem(.unprocessableContent, error.description)
        }
    }

    /// The optional `{"note"}` of a step.
    private static func note(_ request: Request) async throws -> String? {
        let note = try await OEERoutes.decodeIfPresent(NoteInput.self, from: request)?.note
        if let note, note.count > 1000 { throw Problem.badRequest("\"note\" has at most 1000 characters") }
        return note
    }

    static let unavailable = Reply.problem(503, "This store keeps no detector versions")
}

// MARK: Views and inputs

struct VersionView: Encodable {
    var detector: String
    var version: Int
    var status: String
    var configuration: DetectionEngine.Detector?
    var note: String?
    var createdBy: String
    var createdAt: Int64
    var training: DetectorVersion.Training?
    var evaluations: [DetectorVersion.Evaluation]
    var activatedAt: Int64?
    var retiredAt: Int64?
    var error: String?

    init(_ version: DetectorVersion) {
        detector = version.detector
        self.version = version.version
        status = version.status.rawValue
        configuration = try? DetectorRegistry.detector(version)
        note = version.note
        createdBy = version.createdBy
        createdAt = version.createdAt
        training = version.training
        evaluations = version.evaluations
        activatedAt = version.activatedAt
        retiredAt = version.retiredAt
        error = version.error
    }
}

/// A new version: the detector's configuration (its id from the path, its tenant the caller's) and why.
struct VersionInput: Decodable {
    /// The decoder's user info key holding the detector's id (from the path).
    static let detectorID = CodingUserInfoKey(rawValue: "detector")!

    var detector: DetectionEngine.Detector
    var note: String?

    init(from decoder: any Decoder) throws {
        struct Extra: Decodable {
            var id: String?
            var tenant: String?
            var note: String?
        }
        let extra = try Extra(from: decoder)
        guard extra.tenant == nil else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\"tenant\" is not given: a version belongs to the caller's tenant"))
        }
        let path = decoder.userInfo[Self.detectorID] as? String ?? ""
        guard extra.id == nil || extra.id == path else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "\"id\" differs from the path's"))
        }
        detector = try DetectionEngine.Detector(decoding: decoder, id: path)
        note = extra.note
    }
}

struct NoteInput: Decodable {
    var note: String?
}

/// A history range in epoch milliseconds, at most 92 days.
struct RangeInput: Decodable {
    var from: Int64
    var to: Int64

    init(from: Int64, to: Int64) {
        self.from = from
        self.to = to
    }

    func range() throws -> Range<Int64> {
        guard QueryRoutes.queryableTimes.contains(from), QueryRoutes.queryableTimes.contains(to) else {
            throw Problem.badRequest("from and to lie between 1970 and 9999 (epoch milliseconds)")
        }
        guard from < to else { throw Problem.badRequest("from must be before to") }
        guard to - from <= 92 * 86_400_000 else { throw Problem.badRequest("a range spans at most 92 days") }
        return from..<to
    }
}

/// A training's range and, for a fleet_rul version, the failures its runs end at (those recorded when absent).
struct TrainInput: Decodable {
    struct Failure: Decodable {
        var machine: String
        var at: Int64

        func failure() throws -> DetectorPerformance.Failure {
            guard let path = try? AssetPath(machine) else { throw Problem.badRequest("failures: \"\(machine)\" is not a machine path") }
            return .init(machine: path.description, time: at)
        }
    }

    /// As many as a body of 256 KB holds with room to spare.
    static let maximumFailures = 2_000

    var from: Int64
    var to: Int64
    var failures: [Failure]?
}

struct EvaluateInput: Decodable {
    var from: Int64
    var to: Int64
    var horizon: String?
}

extension DetectorRegistryRoutes {
    static let time = WorkOrderRoutes.time
    static let configuration = Schema.object([
        "id": .string, "tenant": .string, "kind": .oneOf(DetectionEngine.Detector.Kind.allCases.map(\.rawValue)),
        "tag": .string(minLength: 1, maxLength: 64),
        "signals": Schema.array(.string(minLength: 1, maxLength: 64)).described("pca: the machine's signals scored together (2–16); fleet_rul: those its model reads (1–24)"),
        "residuals": Schema.boolean.described("drift: against the tag's daily pattern rather than its level"),
        "output": Schema.string(minLength: 1, maxLength: 64).described("Where scores are written (<tag>.anomaly unless named)"),
        "scope": Schema.string(minLength: 1, maxLength: 200).described("Only machines within this site, area or line"),
        "threshold": Schema.number.described("A score at or above it opens an event (above 0, at most 1; default 0.5)"),
        "suppress": Schema.string(minLength: 2, maxLength: 10).described("How long an event takes in later scores (default 30m)"),
        "propose": Schema.boolean.described("Each event proposes a work order"),
        "warmup": Schema.integer(minimum: 0, maximum: 100_000).described("Samples learnt before scoring (default 100)"),
        "while": Schema.object(["tag": .string, "in": .array(.string)]).described("Learns only while this tag has one of these values"),
        "failure": Schema.object(["threshold": .number, "above": .boolean, "horizon": .string, "window": .string, "output": .string],
                                 optional: ["above", "window", "output"])
            .described("The tag's trend to a failure threshold: remaining life in hours written to output"),
        "life": Schema.object(["cycle": .string, "cap": .string, "horizon": .string], optional: ["cap"])
            .described("fleet_rul: each cycle's signal means make a row of the fleet model; cap: the remaining life learnt at most (125 cycles); an estimate below horizon raises an event"),
    ], optional: ["signals", "residuals", "output", "scope", "threshold", "suppress", "propose", "warmup", "while", "failure", "life"])
    static let versionInput = Schema.object([
        "kind": .oneOf(DetectionEngine.Detector.Kind.allCases.map(\.rawValue)), "tag": .string(minLength: 1, maxLength: 64),
        "signals": Schema.array(.string(minLength: 1, maxLength: 64)).described("pca: the machine's signals scored together (2–16); fleet_rul: those its model reads (1–24)"),
        "residuals": Schema.boolean.described("drift: against the tag's daily pattern rather than its level"),
        "output": .string(minLength: 1, maxLength: 64),
        "scope": .string(minLength: 1, maxLength: 200), "threshold": .number, "suppress": .string(minLength: 2, maxLength: 10), "propose": .boolean,
        "warmup": .integer(minimum: 0, maximum: 100_000), "while": Schema.object(["tag": .string, "in": .array(.string)]),
        "failure": Schema.object(["threshold": .number, "above": .boolean, "horizon": .string, "window": .string, "output": .string],
                                 optional: ["above", "window", "output"]),
        "life": Schema.object(["cycle": .string, "cap": .string, "horizon": .string], optional: ["cap"])
            .described("fleet_rul: each cycle's signal means make a row of the fleet model; cap: the remaining life learnt at most (125 cycles); an estimate below horizon raises an event"),
        "note": Schema.string(maxLength: 1000).described("Why this version"),
    ], optional: ["tag", "signals", "residuals", "output", "scope", "threshold", "suppress", "propose", "warmup", "while", "failure", "life",
                  "note"])
        .named("DetectorVersionInput")
    static let figures = DetectorRoutes.figures
    /// The largest fleet model a version takes: C-MAPSS FD001's 100 engines make about 4 MB.
    static let maximumModelBytes = 32 << 20
    static let fleetModel = Schema.object([
        "features": Schema.object(["short": .integer, "window": .integer, "age": .boolean], optional: ["age"]),
        "cap": .number, "neighbours": .integer, "signals": .array(.integer),
        "mean": .array(.number), "deviation": .array(.number), "points": .array(.number), "targets": .array(.number),
    ]).described("A fleet model as gemba detect train-rul --model writes it").named("FleetRULModel")
    static let version = Schema.object([
        "detector": .string, "version": .integer, "status": .oneOf(DetectorVersion.Status.allCases.map(\.rawValue)),
        "configuration": configuration.named("DetectorConfiguration"), "note": .string, "createdBy": .string, "createdAt": time,
        "training": Schema.object(["from": time, "to": time, "samples": Schema.integer.described("Samples learnt (fleet_rul: cycles)"),
                                   "machines": .integer, "at": time, "by": .string,
                                   "runs": Schema.integer.described("fleet_rul: runs to failure learnt"),
                                   "imported": Schema.boolean.described("fleet_rul: a model loaded from a file (from and to are when)"),
                                   "crossValidation": Schema.object([
                                       "folds": .integer, "estimates": .integer, "rmseHours": .number, "rmseCycles": .number,
                                       "nasaScorePerEstimate": .number,
                                       "intervalCoverage": Schema.number.described("Share of estimates whose 10–90 % interval held the truth"),
                                   ]).described("fleet_rul, with 4 runs or more: runs held out and estimated at random points")],
                                  optional: ["runs", "crossValidation", "imported"])
            .described("The history range the model learnt"),
        "evaluations": .array(.object(["from": time, "to": time, "samples": .integer, "machines": .integer,
                                       "horizon": Schema.integer.described("ms"), "figures": figures, "labelledRanges": .integer,
                                       "inSample": Schema.boolean.described("The range overlaps the training range (figures flatter the version)"),
                                       "at": time, "by": .string])),
        "activatedAt": time, "retiredAt": time, "error": Schema.string.described("Why its model could not be loaded"),
    ], optional: ["configuration", "note", "training", "activatedAt", "retiredAt", "error"]).named("DetectorVersion")
    static let trainInput = Schema.object([
        "from": time, "to": time,
        "failures": Schema.array(.object(["machine": .string(minLength: 1, maxLength: 200), "at": time]), maxItems: TrainInput.maximumFailures)
            .described("fleet_rul: the failures the machines' runs end at (those recorded in the range when absent)"),
    ], optional: ["failures"]).named("DetectorTrainingInput")
    static let evaluateInput = Schema.object(["from": time, "to": time,
                                              "horizon": Schema.string(minLength: 2, maxLength: 10).described("default 7d")],
                                             optional: ["horizon"]).named("DetectorEvaluationInput")
    static let noteInput = Schema.object(["note": .string(maxLength: 1000)], optional: ["note"]).named("DetectorStepInput")
}
