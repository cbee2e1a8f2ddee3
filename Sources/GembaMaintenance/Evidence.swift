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
        public var high: Double
        /// `h`, `cycles`, `mm/s`…
        public var unit: String
        /// The interval's coverage (0.8 for 10–90 %).
        public var coverage: Double

        public init(quantity: String, value: Double, low: Double, high: Double, unit: String, coverage: Double) {
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
