public import GembaCore

/// Why a work order was proposed, as the person deciding sees it: the signals, the scores that
/// crossed a threshold, each signal's share of a multivariate score, a forecast or remaining-life
/// estimate with its interval, and the chart window to open.
public struct Evidence: Sendable, Hashable, Codable {
    /// One anomaly score on one tag.
    public struct Score: Sendable, Hashable, Codable {
        public var tag: String
        /// ms since the epoch.
        public var time: Int64
        /// 0–1.
        public var score: Double
        public var detector: String?

        public init(tag: String, time: Int64, score: Double, detector: String? = nil) {
            self.tag = tag
            self.time = time
            self.score = score
            self.detector = detector
        }
    }

    /// One signal's part in a multivariate score (shares add up to 1).
    public struct Contribution: Sendable, Hashable, Codable {
        public var signal: String
        public var share: Double

        public init(signal: String, share: Double) {
            self.signal = signal
            self.share = share
        }
    }

    /// A predicted quantity with its interval: remaining useful life, a forecast value.
    public struct Estimate: Sendable, Hashable, Codable {
        /// What is estimated (`remaining_life`, `vibration at +12 steps`).
        public var quantity: String
        public var value: Double
        public var low: Double
        /// Nil when the interval has no upper bound (a trend that may not be heading for failure at all).
        public var high: Double?
        /// `h`, `cycles`, `mm/s`…
        public var unit: String
        /// The interval's coverage (0.8 for 10–90 %).
        public var coverage: Double

        public init(quantity: String, value: Double, low: Double, high: Double?, unit: String, coverage: Double) {
            self.quantity = quantity
            self.value = value
            self.low = low
            self.high = high
            self.unit = unit
            self.coverage = coverage
        }
    }

    /// The chart to open: these tags over this range (ms since the epoch).
    public struct Window: Sendable, Hashable, Codable {
        public var from: Int64
        public var to: Int64
        public var tags: [String]

        public init(from: Int64, to: Int64, tags: [String]) {
            self.from = from
            self.to = to
            self.tags = tags
        }
    }

    public var summary: String?
    public var signals: [String]
    public var scores: [Score]
    public var contributions: [Contribution]
    public var estimate: Estimate?
    public var window: Window?

    enum CodingKeys: String, CodingKey { case summary, signals, scores, contributions, estimate, window }

    /// Lists left out read as empty.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(summary: try container.decodeIfPresent(String.self, forKey: .summary),
                  signals: try container.decodeIfPresent([String].self, forKey: .signals) ?? [],
                  scores: try container.decodeIfPresent([Score].self, forKey: .scores) ?? [],
                  contributions: try container.decodeIfPresent([Contribution].self, forKey: .contributions) ?? [],
                  estimate: try container.decodeIfPresent(Estimate.self, forKey: .estimate),
                  window: try container.decodeIfPresent(Window.self, forKey: .window))
    }

    /// At most this many signals, scores and contributions each.
    public static let maximumItems = 200

    /// Refuses evidence no detector or person could mean: too many items, numbers that are not
    /// finite, scores and shares outside 0–1, an interval not around its value, a window backwards.
    public func validate() throws(ModelError) {
        guard signals.count <= Self.maximumItems, scores.count <= Self.maximumItems, contributions.count <= Self.maximumItems else {
            throw ModelError(.invalid, "evidence holds at most \(Self.maximumItems) signals, scores and contributions each")
        }
        let texts = [summary ?? ""] + signals + scores.map(\.tag) + scores.compactMap(\.detector) + contributions.map(\.signal)
            + [estimate?.quantity ?? "", estimate?.unit ?? ""] + (window?.tags ?? [])
        guard texts.allSatisfy({ $0.count <= 1_000 }) else { throw ModelError(.invalid, "evidence texts are at most 1000 characters") }
        guard scores.allSatisfy({ (0...1).contains($0.score) }), contributions.allSatisfy({ (0...1).contains($0.share) }) else {
            throw ModelError(.invalid, "evidence scores and contribution shares lie between 0 and 1")
        }
        if let estimate {
            guard [estimate.value, estimate.low, estimate.high ?? estimate.value].allSatisfy(\.isFinite), estimate.low <= estimate.value,
                  estimate.value <= estimate.high ?? estimate.value, (0...1).contains(estimate.coverage) else {
                throw ModelError(.invalid, "an estimate needs finite low <= value <= high (high may be left out) and a coverage between 0 and 1")
            }
        }
        if let window, window.from >= window.to { throw ModelError(.invalid, "the evidence window's from must be before its to") }
    }

    public init(summary: String? = nil, signals: [String] = [], scores: [Score] = [], contributions: [Contribution] = [],
                estimate: Estimate? = nil, window: Window? = nil) {
        self.summary = summary
        self.signals = signals
        self.scores = scores
        self.contributions = contributions
        self.estimate = estimate
        self.window = window
    }
}
