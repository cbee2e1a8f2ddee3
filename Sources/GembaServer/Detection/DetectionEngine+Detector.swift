public import GembaCore
public import GembaDetect
internal import GembaRules

extension DetectionEngine {
    /// One configured detector: an anomaly detector on one tag of every machine in its scope, and
    /// optionally the tag's trend to a failure threshold (remaining useful life).
    public struct Detector: Sendable, Hashable, Codable {
        /// Learn and score only while another tag of the machine has one of these values (vibration
        /// only while `state` is `producing`): what a stopped machine reads says nothing of its health.
        public struct Gate: Sendable, Hashable, Codable {
            public var tag: String
            public var values: [String]

            enum CodingKeys: String, CodingKey { case tag, values = "in" }

            public init(tag: String, values: [String]) {
                self.tag = tag
                self.values = values
            }
        }

        /// The watched tag's trend to a failure threshold: its remaining life in hours is written
        /// as a tag, and an estimate below `horizon` makes an event (proposing work when the detector proposes).
        public struct Failure: Sendable, Hashable, Codable {
            public var threshold: Double
            /// Fails when the tag rises to the threshold (vibration, temperature); false: when it falls to it (a pressure).
            public var above: Bool
            /// An estimate below it raises an event (ms).
            public var horizon: Int64
            /// How much of the recent course the trend is fitted to (ms), in one-minute means.
            public var window: Int64
            /// The tag the remaining life is written to (`<tag>.rul_h` unless named).
            public var output: String

            enum CodingKeys: String, CodingKey { case threshold, above, horizon, window, output }

            public init(threshold: Double, above: Bool = true, horizon: Int64, window: Int64 = 1_200_000, output: String) {
                self.threshold = threshold
                self.above = above
                self.horizon = horizon
                self.window = window
                self.output = output
            }

            public init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                let duration = { (key: CodingKeys, fallback: Int64?) throws -> Int64 in
                    guard let text = try container.decodeIfPresent(String.self, forKey: key) else {
                        guard let fallback else { throw DecodingError.keyNotFound(key, .init(codingPath: container.codingPath, debugDescription: "")) }
                        return fallback
                    }
                    guard let value = RuleText.parseDuration(text) else {
                        throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not a duration such as 20m or 2h")
                    }
                    return value
                }
                self.init(threshold: try container.decode(Double.self, forKey: .threshold),
                          above: try container.decodeIfPresent(Bool.self, forKey: .above) ?? true,
                          horizon: try duration(.horizon, nil), window: try duration(.window, 1_200_000),
                          output: try container.decodeIfPresent(String.self, forKey: .output) ?? "")
            }

            /// Writes what ``init(from:)`` reads (durations as `30m`).
            public func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(threshold, forKey: .threshold)
                try container.encode(above, forKey: .above)
                try container.encode(RuleText.duration(horizon), forKey: .horizon)
                try container.encode(RuleText.duration(window), forKey: .window)
                try container.encode(output, forKey: .output)
            }

            /// The one-minute means the trend keeps.
            static let step: Int64 = 60_000
        }

        /// A `fleet_rul` detector's cycle and horizon: each machine's signals are averaged over
        /// every cycle (one row of the fleet model per cycle), the model estimates the remaining
        /// life from the latest rows, and an estimate below `horizon` raises an event.
        public struct Life: Sendable, Hashable, Codable {
            /// How long one cycle lasts (ms): the period its signals' means cover.
            public var cycle: Int64
            /// Remaining life is learnt up to this long (ms; 125 cycles unless given): early in a
            /// machine's life wear does not show, so "at least that long" is all there is to learn.
            public var cap: Int64
            /// An estimate below it raises an event (ms).
            public var horizon: Int64

            enum CodingKeys: String, CodingKey { case cycle, cap, horizon }

            public init(cycle: Int64, cap: Int64? = nil, horizon: Int64) {
                self.cycle = cycle
                self.cap = cap ?? 125 * cycle
                self.horizon = horizon
            }

            public init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                self.init(cycle: try Self.duration(.cycle, in: container)!, cap: try Self.duration(.cap, in: container, optional: true),
                          horizon: try Self.duration(.horizon, in: container)!)
            }

            public func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(RuleText.duration(cycle), forKey: .cycle)
                try container.encode(RuleText.duration(cap), forKey: .cap)
                try container.encode(RuleText.duration(horizon), forKey: .horizon)
            }

            private static func duration(_ key: CodingKeys, in container: KeyedDecodingContainer<CodingKeys>, optional: Bool = false) throws -> Int64? {
                guard let text = try optional ? container.decodeIfPresent(String.self, forKey: key) : container.decode(String.self, forKey: key)
                else { return nil }
                guard let value = RuleText.parseDuration(text) else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "not a duration such as 1h or 2d")
                }
                return value
            }

            /// Hours in `cycles` cycles.
            func hours(_ cycles: Double) -> Double { cycles * Double(cycle) / 3_600_000 }
        }

        /// A detector's family: one of the univariate ones on a tag, `pca` on several signals of a
        /// machine together, `drift` on a tag's level, or `fleet_rul`, a fleet model of remaining life.
        public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
            case robust, seasonal, knn, context, ensemble, pca, drift
            case fleet = "fleet_rul"

            /// The univariate anomaly family; nil for `pca`, `drift` and `fleet_rul`.
            public var univariate: DetectorKind? { DetectorKind(rawValue: rawValue) }

            /// Whether it reads several signals of a machine (`pca`, `fleet_rul`) rather than one tag.
            public var readsSignals: Bool { self == .pca || self == .fleet }

            /// Whether it runs only from a model trained in the registry (`pca`, `fleet_rul`): it does not learn live.
            public var runsOnlyOnceTrained: Bool { self == .pca || self == .fleet }

            public init(_ kind: DetectorKind) { self = Kind(rawValue: kind.rawValue)! }
        }

        public var id: String
        public var kind: Kind
        /// The tag it watches (for `pca` and `fleet_rul`, the first of its signals: each of its
        /// readings scores the signals' latest values; each of its cycles closes the others').
        public var tag: String
        /// For `pca`: the machine's signals scored together (2–16 tags, `tag` first); for
        /// `fleet_rul`, those the fleet model reads (1–24); empty for a univariate detector.
        public var signals: [String]
        /// For `drift`: against the tag's daily pattern (a forecast's residuals) rather than its level.
        public var residuals = false
        /// The tag its scores are written to (`<tag>.anomaly` unless named).
        public var output: String
        public var tenant: TenantID
        /// Only machines within this subtree (a site, area or line path); every machine when nil.
        public var scope: String?
        /// A score at or above it opens an event (0–1, default 0.5).
        public var threshold: Double
        /// How long an event stays open after its last score over the threshold, taking in later
        /// ones (ms, default 30 minutes): one burst, one event. Also the least time between two
        /// remaining-life events of one machine.
        public var suppression: Int64
        /// Whether each event proposes a predictive work order (a maintenance lead decides).
        public var propose: Bool
        /// Samples a detector learns on each machine before it scores (0 until then; default 100).
        public var warmUp: Int
        public var gate: Gate?
        public var failure: Failure?
        /// For `fleet_rul`: its cycle, cap and horizon.
        public var life: Life?

        enum CodingKeys: String, CodingKey {
            case id, kind, tag, signals, residuals, output, tenant, scope, threshold, suppress, propose, warmUp = "warmup", gate = "while", failure
            case life
        }

        /// How long a signal's last value stands for it in a `pca` reading (ms).
        public static let signalStaleness: Int64 = 600_000

        /// A univariate detector on `tag`.
        public init(id: String, kind: DetectorKind, tag: String, output: String? = nil, tenant: TenantID = .default, scope: String? = nil,
                    threshold: Double = 0.5, suppression: Int64 = 1_800_000, propose: Bool = false, warmUp: Int = 100, gate: Gate? = nil,
                    failure: Failure? = nil) {
            self.init(id: id, kind: Kind(kind), tag: tag, signals: [], output: output, tenant: tenant, scope: scope, threshold: threshold,
                      suppression: suppression, propose: propose, warmUp: warmUp, gate: gate, failure: failure)
        }

        /// A multivariate (`pca`) detector on `signals` of each machine, writing its score to `output` (`<id>.anomaly` unless named).
        public init(id: String, signals: [String], output: String? = nil, tenant: TenantID = .default, scope: String? = nil,
                    threshold: Double = 0.5, suppression: Int64 = 1_800_000, propose: Bool = false, gate: Gate? = nil) {
            self.init(id: id, kind: .pca, tag: signals.first ?? "", signals: signals, output: output ?? id + ".anomaly", tenant: tenant,
                      scope: scope, threshold: threshold, suppression: suppression, propose: propose, warmUp: 0, gate: gate, failure: nil)
        }

        /// A fleet remaining-life (`fleet_rul`) detector on `signals` of each machine, writing the
        /// estimate in hours to `output` (`<id>.rul_h` unless named). It runs once trained.
        public init(id: String, fleetSignals signals: [String], life: Life, output: String? = nil, tenant: TenantID = .default,
                    scope: String? = nil, suppression: Int64 = 1_800_000, propose: Bool = false, gate: Gate? = nil) {
            self.init(id: id, kind: .fleet, tag: signals.first ?? "", signals: signals, output: output, tenant: tenant, scope: scope,
                      threshold: 0.5, suppression: suppression, propose: propose, warmUp: 0, gate: gate, failure: nil)
            self.life = life
        }

        init(id: String, kind: Kind, tag: String, signals: [String], output: String?, tenant: TenantID, scope: String?, threshold: Double,
             suppression: Int64, propose: Bool, warmUp: Int, gate: Gate?, failure: Failure?) {
            self.id = id
            self.kind = kind
            self.tag = tag
            self.signals = signals
            self.output = output ?? Self.defaultOutput(kind, id: id, tag: tag)
            self.tenant = tenant
            self.scope = scope
            self.threshold = threshold
            self.suppression = suppression
            self.propose = propose
            self.warmUp = warmUp
            self.gate = gate
            self.failure = failure
            if self.failure?.output.isEmpty == true { self.failure?.output = tag + ".rul_h" }
        }

        /// `<id>.anomaly` for `pca`, `<id>.rul_h` for `fleet_rul`, `<tag>.drift` for `drift`, else `<tag>.anomaly`.
        private static func defaultOutput(_ kind: Kind, id: String, tag: String) -> String {
            switch kind {
            case .pca: id + ".anomaly"
            case .fleet: id + ".rul_h"
            case .drift: tag + ".drift"
            case .robust, .seasonal, .knn, .context, .ensemble: tag + ".anomaly"
            }
        }

        public init(from decoder: any Decoder) throws {
            try self.init(decoding: decoder, id: nil)
        }

        /// Reads a configuration; `id`, when given, is the detector's (the API takes it from the path) and the body's is not read.
        init(decoding decoder: any Decoder, id: String?) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let tenant = try container.decodeIfPresent(String.self, forKey: .tenant)
            guard let tenantID = tenant.map({ TenantID($0) }) ?? .default else {
                throw DecodingError.dataCorruptedError(forKey: .tenant, in: container, debugDescription: "not a tenant id")
            }
            let suppress = try container.decodeIfPresent(String.self, forKey: .suppress)
            guard let suppression = suppress.map(RuleText.parseDuration) ?? 1_800_000 else {
                throw DecodingError.dataCorruptedError(forKey: .suppress, in: container, debugDescription: "not a duration such as 30m or 2h")
            }
            let kind = try container.decode(Kind.self, forKey: .kind)
            var signals = try container.decodeIfPresent([String].self, forKey: .signals) ?? []
            let tag: String
            if kind.readsSignals {
                // The tag named (or the first signal) leads: its readings score the signals' latest values.
                tag = try container.decodeIfPresent(String.self, forKey: .tag) ?? signals.first ?? ""
                signals = [tag] + signals.filter { $0 != tag }
            } else {
                tag = try container.decode(String.self, forKey: .tag)
            }
            self.init(id: try id ?? container.decode(String.self, forKey: .id), kind: kind, tag: tag, signals: signals,
                      output: try container.decodeIfPresent(String.self, forKey: .output),
                      tenant: tenantID, scope: try container.decodeIfPresent(String.self, forKey: .scope),
                      threshold: try container.decodeIfPresent(Double.self, forKey: .threshold) ?? 0.5, suppression: suppression,
                      propose: try container.decodeIfPresent(Bool.self, forKey: .propose) ?? false,
                      warmUp: try container.decodeIfPresent(Int.self, forKey: .warmUp) ?? (kind.readsSignals ? 0 : 100),
                      gate: try container.decodeIfPresent(Gate.self, forKey: .gate),
                      failure: try container.decodeIfPresent(Failure.self, forKey: .failure))
            residuals = try container.decodeIfPresent(Bool.self, forKey: .residuals) ?? false
            life = try container.decodeIfPresent(Life.self, forKey: .life)
        }

        /// Writes what ``init(from:)`` reads: the configuration as files and the API give it.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(kind, forKey: .kind)
            try container.encode(tag, forKey: .tag)
            if !signals.isEmpty { try container.encode(signals, forKey: .signals) }
            if residuals { try container.encode(residuals, forKey: .residuals) }
            try container.encode(output, forKey: .output)
            try container.encode(tenant.rawValue, forKey: .tenant)
            try container.encodeIfPresent(scope, forKey: .scope)
            try container.encode(threshold, forKey: .threshold)
            try container.encode(RuleText.duration(suppression), forKey: .suppress)
            try container.encode(propose, forKey: .propose)
            try container.encode(warmUp, forKey: .warmUp)
            try container.encodeIfPresent(gate, forKey: .gate)
            try container.encodeIfPresent(failure, forKey: .failure)
            try container.encodeIfPresent(life, forKey: .life)
        }

        /// Refuses a detector that cannot run, naming it and the field.
        func validate() throws(ConfigurationError) {
            func refuse(_ text: String) -> ConfigurationError { ConfigurationError(description: "detector \"\(id)\": \(text)") }
            guard (1...64).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw refuse("the id is 1-64 of A-Z a-z 0-9 - _ .")
            }
            switch kind {
            case .pca:
                guard (2...16).contains(signals.count), Set(signals).count == signals.count else {
                    throw refuse("a pca detector scores 2 to 16 different signals together")
                }
            case .fleet:
                guard (1...24).contains(signals.count), Set(signals).count == signals.count else {
                    throw refuse("a fleet_rul detector reads 1 to 24 different signals")
                }
                guard let life else { throw refuse("a fleet_rul detector needs life: {\"cycle\", \"horizon\"}") }
                guard (60_000...(7 * 86_400_000)).contains(life.cycle) else { throw refuse("life.cycle must lie between 1m and 7d") }
                guard (10...100_000).contains(life.cap / life.cycle) else { throw refuse("life.cap must lie between 10 and 100000 cycles") }
                guard (60_000...(365 * 86_400_000)).contains(life.horizon) else { throw refuse("life.horizon must lie between 1m and 365d") }
            case .robust, .seasonal, .knn, .context, .ensemble, .drift:
                guard signals.isEmpty else { throw refuse("signals apply to pca and fleet_rul detectors; a \(kind.rawValue) detector watches one tag") }
            }
            if kind.readsSignals, failure != nil { throw refuse("failure applies to a univariate detector") }
            if kind != .fleet, life != nil { throw refuse("life applies to a fleet_rul detector") }
            if residuals, kind != .drift { throw refuse("residuals apply to a drift detector") }
            if kind == .drift, failure != nil { throw refuse("failure applies to a robust, seasonal, knn, context or ensemble detector") }
            let tags = [("tag", tag), ("output", output)] + (gate.map { [("while.tag", $0.tag)] } ?? [])
                + signals.map { ("signals", $0) }
                + (failure.map { [("failure.output", $0.output)] } ?? [])
            for (field, name) in tags where (try? Tag.validate(name: name)) == nil {
                throw refuse("\(field) \"\(name)\" is not a tag name (1-64 of A-Z a-z 0-9 - _ .)")
            }
            if let scope, (try? AssetSubtree(scope)) == nil { throw refuse("scope \"\(scope)\" is not an asset path") }
            guard (0...100_000).contains(warmUp) else { throw refuse("warmup must be 0 to 100000 samples, not \(warmUp)") }
            guard threshold > 0, threshold <= 1 else { throw refuse("threshold must lie above 0 and at most 1, not \(threshold)") }
            guard suppression >= 0 else { throw refuse("suppress must not be negative") }
            if let gate, gate.values.isEmpty || gate.values.count > 50 { throw refuse("while.in lists 1 to 50 values") }
            if let failure {
                guard failure.threshold.isFinite else { throw refuse("failure.threshold must be a number") }
                guard (60_000...(365 * 86_400_000)).contains(failure.horizon) else { throw refuse("failure.horizon must lie between 1m and 365d") }
                guard (5 * Failure.step...(7 * 86_400_000)).contains(failure.window) else { throw refuse("failure.window must lie between 5m and 7d") }
            }
        }
    }
}
