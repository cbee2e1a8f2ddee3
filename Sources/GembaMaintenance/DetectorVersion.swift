public import GembaCore

/// One version of a detector, per tenant: its configuration, the history range its model was
/// trained on, its evaluations, and where it stands. A detector has at most one active version
/// (scoring, raising events) and one shadow version (scores recorded under `<output>.shadow`, no
/// events) at a time. Versions are never edited: a change of configuration is a new version. Pure.
public struct DetectorVersion: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        /// Configured, never trained: it learns from its first live samples when it runs.
        case draft
        /// Trained on a history range: it starts from what it learnt there.
        case trained
        /// Runs beside the active version; its scores are recorded, it raises no events.
        case shadow
        case active
        /// Ran once and was replaced, rolled back or stopped.
        case retired
        /// Its model could not be loaded (see `error`); train it again to use it.
        case failed
    }

    /// The history a version's model learnt from.
    public struct Training: Sendable, Hashable, Codable {
        /// The range, ms since the epoch, `[from, to)`.
        public var from: Int64
        public var to: Int64
        public var samples: Int
        public var machines: Int
        public var at: Int64
        public var by: String
        /// For a fleet remaining-life model: the runs to failure it learnt from.
        public var runs: Int?
        /// For a fleet remaining-life model: how well it estimated machines it had not learnt.
        public var crossValidation: CrossValidation?
        /// True for a fleet model loaded from a file (trained elsewhere): `from` and `to` are then
        /// the time it was loaded, and `samples` its training cycles.
        public var imported: Bool?

        public init(from: Int64, to: Int64, samples: Int, machines: Int, at: Int64, by: String, runs: Int? = nil,
                    crossValidation: CrossValidation? = nil, imported: Bool? = nil) {
            self.imported = imported
            self.from = from
            self.to = to
            self.samples = samples
            self.machines = machines
            self.at = at
            self.by = by
            self.runs = runs
            self.crossValidation = crossValidation
        }
    }

    /// A fleet model's cross-validation: runs to failure held out fold by fold and estimated at
    /// random points by a model trained on the others.
    public struct CrossValidation: Sendable, Hashable, Codable {
        public var folds: Int
        public var estimates: Int
        /// Root mean square error, hours (the truth capped at the model's cap).
        public var rmseHours: Double
        /// The same in cycles, comparable with published figures.
        public var rmseCycles: Double
        /// NASA's asymmetric score per estimate (late estimates cost more), on cycles.
        public var nasaScorePerEstimate: Double
        /// How often the truth fell within the 10–90 % interval.
        public var intervalCoverage: Double

        public init(folds: Int, estimates: Int, rmseHours: Double, rmseCycles: Double, nasaScorePerEstimate: Double, intervalCoverage: Double) {
            self.folds = folds
            self.estimates = estimates
            self.rmseHours = rmseHours
            self.rmseCycles = rmseCycles
            self.nasaScorePerEstimate = nasaScorePerEstimate
            self.intervalCoverage = intervalCoverage
        }
    }

    /// A version replayed over a history range and judged against what the plant labelled there.
    public struct Evaluation: Sendable, Hashable, Codable {
        public var from: Int64
        public var to: Int64
        public var samples: Int
        public var machines: Int
        /// How long before a failure an event counts as catching it (ms).
        public var horizon: Int64
        /// Events the version raised in the replay, judged by the labelled ranges they meet.
        public var figures: DetectorPerformance.Figures
        /// Labelled ranges the replay was judged against.
        public var labelledRanges: Int
        /// Whether the range overlaps the one the model was trained on: figures on data it learnt flatter it.
        public var inSample: Bool
        public var at: Int64
        public var by: String

        public init(from: Int64, to: Int64, samples: Int, machines: Int, horizon: Int64, figures: DetectorPerformance.Figures,
                    labelledRanges: Int, inSample: Bool, at: Int64, by: String) {
            self.from = from
            self.to = to
            self.samples = samples
            self.machines = machines
            self.horizon = horizon
            self.figures = figures
            self.labelledRanges = labelledRanges
            self.inSample = inSample
            self.at = at
            self.by = by
        }
    }

    public var tenant: TenantID
    public var detector: String
    /// 1, 2, … per detector.
    public var version: Int
    /// The configuration as the API takes it (a JSON object).
    public var configuration: String
    public var status: Status
    /// Why the version was made (a person's words, or where it came from).
    public var note: String?
    public var createdBy: String
    public var createdAt: Int64
    public var training: Training?
    /// The newest evaluations, oldest first (at most ``maximumEvaluations``).
    public var evaluations: [Evaluation]
    /// When it last became active: a rollback returns to the version active most recently before the current.
    public var activatedAt: Int64?
    public var retiredAt: Int64?
    /// Why its model could not be loaded.
    public var error: String?

    public static let maximumEvaluations = 10

    public init(tenant: TenantID, detector: String, version: Int, configuration: String, status: Status = .draft, note: String? = nil,
                createdBy: String, createdAt: Int64) {
        self.tenant = tenant
        self.detector = detector
        self.version = version
        self.configuration = configuration
        self.status = status
        self.note = note
        self.createdBy = createdBy
        self.createdAt = createdAt
        evaluations = []
    }

    /// Whether the version runs in the engine (active or shadow).
    public var isRunning: Bool { status == .active || status == .shadow }
}

/// A step on a detector's versions.
public enum DetectorVersionAction: Sendable, Hashable {
    /// Its model was trained (the caller stores the model).
    case train(DetectorVersion.Training)
    case evaluate(DetectorVersion.Evaluation)
    case shadow
    case promote
    /// Stops it (active or shadow).
    case retire
    /// Its model could not be loaded.
    case fail(String)

    /// The name the audit log uses.
    public var name: String {
        switch self {
        case .train: "train"
        case .evaluate: "evaluate"
        case .shadow: "shadow"
        case .promote: "promote"
        case .retire: "retire"
        case .fail: "fail"
        }
    }

    /// The statuses the action applies in.
    var applies: Set<DetectorVersion.Status> {
        switch self {
        case .train: [.draft, .trained, .failed]
        case .evaluate: Set(DetectorVersion.Status.allCases).subtracting([.failed])
        case .shadow: [.draft, .trained, .retired]
        case .promote: [.draft, .trained, .shadow, .retired]
        case .retire: [.active, .shadow]
        case .fail: Set(DetectorVersion.Status.allCases)
        }
    }
}

/// The rules of a detector's versions: one active and one shadow at most, promotion retires the
/// active one, a rollback returns to the version active before it. Pure.
public enum DetectorVersions {
    /// The number the next version of a detector gets.
    public static func next(after versions: [DetectorVersion]) -> Int { (versions.map(\.version).max() ?? 0) + 1 }

    /// Takes `action` on version `number` of one detector's `versions` at `time` and answers the
    /// versions it changed (the one acted on first). Throws ``ModelError`` `.notFound` for an
    /// unknown version and `.conflict` when the action does not apply in its status.
    public static func apply(_ action: DetectorVersionAction, to number: Int, in versions: [DetectorVersion],
                             at time: Int64) throws(ModelError) -> [DetectorVersion] {
        guard var version = versions.first(where: { $0.version == number }) else {
            throw ModelError(.notFound, "no version \(number) of this detector")
        }
        guard action.applies.contains(version.status) else {
            let allowed = DetectorVersion.Status.allCases.filter(action.applies.contains).map(\.rawValue).joined(separator: ", ")
            throw ModelError(.conflict, "version \(number) is \(version.status.rawValue); \(action.name) applies only to \(allowed)")
        }
        var others: [DetectorVersion] = []
        switch action {
        case .train(let training):
            version.status = .trained
            version.training = training
            version.error = nil
        case .evaluate(let evaluation):
            version.evaluations = Array((version.evaluations + [evaluation]).suffix(DetectorVersion.maximumEvaluations))
        case .shadow:
            others = replace(.shadow, in: versions, except: number, at: time)
            version.status = .shadow
        case .promote:
            others = replace(.active, in: versions, except: number, at: time)
            version.status = .active
            version.activatedAt = time
            version.retiredAt = nil
        case .retire:
            version.status = .retired
            version.retiredAt = time
        case .fail(let error):
            version.status = .failed
            version.error = error
        }
        return [version] + others
    }

    /// Makes the version active most recently before the current one active again (the current one
    /// retires; without a current one, the latest retired restarts). Throws `.conflict` when no
    /// version was ever active before.
    public static func rollback(_ versions: [DetectorVersion], at time: Int64) throws(ModelError) -> [DetectorVersion] {
        let current = versions.first { $0.status == .active }
        let candidates = versions.filter { $0.status == .retired && $0.activatedAt != nil && $0.version != current?.version }
        guard let target = candidates.max(by: { ($0.activatedAt!, $0.version) < ($1.activatedAt!, $1.version) }) else {
            throw ModelError(.conflict, "no earlier version of this detector was ever active")
        }
        return try apply(.promote, to: target.version, in: versions, at: time)
    }

    /// The version holding `status` (other than `number`), put back: a replaced shadow to trained
    /// or draft, a replaced active version to retired.
    private static func replace(_ status: DetectorVersion.Status, in versions: [DetectorVersion], except number: Int,
                                at time: Int64) -> [DetectorVersion] {
        versions.filter { $0.status == status && $0.version != number }.map { version in
            var version = version
            if status == .active {
                version.status = .retired
                version.retiredAt = time
            } else {
                version.status = version.training == nil ? .draft : .trained
            }
            return version
        }
    }
}

/// A range of a machine's history people labelled: a detector event they marked right or wrong.
/// A later version's replay is judged by the labelled ranges its events meet. Pure.
public struct LabelledRange: Sendable, Hashable {
    public var machine: String
    /// ms since the epoch, inclusive.
    public var start: Int64
    public var end: Int64
    public var label: EventLabel

    public init(machine: String, start: Int64, end: Int64, label: EventLabel) {
        self.machine = machine
        self.start = start
        self.end = end
        self.label = label
    }

    /// How far apart an event and a labelled range may lie and still meet (ms): events of two
    /// versions of one detector on one burst start within minutes of each other.
    public static let tolerance: Int64 = 10 * 60_000

    /// The label of the ranges an event from `start` to `end` on `machine` meets: a true positive
    /// when any of them is one (the anomaly was real), a false positive when all are, nil when it meets none.
    public static func label(machine: String, start: Int64, end: Int64, in ranges: [LabelledRange]) -> EventLabel? {
        let met = ranges.filter { $0.machine == machine && $0.start - tolerance <= end && start <= $0.end + tolerance }
        if met.isEmpty { return nil }
        return met.contains { $0.label == .truePositive } ? .truePositive : .falsePositive
    }
}
