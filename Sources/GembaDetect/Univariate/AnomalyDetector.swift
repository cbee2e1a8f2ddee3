/// A streaming detector on one series: each sample is scored from the samples before it only (no
/// look-ahead, no whole-series minimum or maximum), then learnt from. Scores lie in [0, 1].
public protocol AnomalyDetector: Sendable {
    /// The detector's name in reports (`robust`, `knn`, `context`).
    var name: String { get }
    /// Scores `value` (sampled at `time`, milliseconds) against what came before, then learns it.
    mutating func score(_ value: Double, at time: Int64) -> Double
    /// The bytes of state the detector keeps: its own fields and the buffers they hold.
    var stateBytes: Int { get }
}

/// Heap bytes an array holds (its header and its capacity).
func heapBytes<Element>(_ array: [Element]) -> Int {
    32 + array.capacity * MemoryLayout<Element>.stride
}

/// The univariate detector families, by name.
public enum DetectorKind: String, CaseIterable, Sendable, Codable {
    case robust, seasonal, knn, context, ensemble

    public func make() -> any AnomalyDetector {
        switch self {
        case .robust: RobustBaselineDetector()
        case .seasonal: SeasonalDetector()
        case .knn: NearestNeighbourDetector()
        case .context: ContextDetector()
        case .ensemble: EnsembleDetector()
        }
    }
}

/// A detector of any family with its learnt state, to keep and restore (JSON through `Codable`:
/// `{"knn": {…}}`). Exactly one family's field is set; scoring mutates it in place, so its buffers
/// are never copied. A saved state this version cannot read (a family's state from an older
/// release) decodes as a fresh detector of its family, which learns again.
public struct AnyDetector: Sendable, Codable {
    private var robust: RobustBaselineDetector?
    private var seasonal: SeasonalDetector?
    private var knn: NearestNeighbourDetector?
    private var context: ContextDetector?
    private var ensemble: EnsembleDetector?

    public init(_ kind: DetectorKind) {
        switch kind {
        case .robust: robust = RobustBaselineDetector()
        case .seasonal: seasonal = SeasonalDetector()
        case .knn: knn = NearestNeighbourDetector()
        case .context: context = ContextDetector()
        case .ensemble: ensemble = EnsembleDetector()
        }
    }

    /// Holding no family: the state of a detector that is not univariate keeps it.
    public static var none: AnyDetector { AnyDetector() }

    private init() {}

    enum CodingKeys: String, CodingKey {
        case robust, seasonal, knn, context, ensemble
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard let key = container.allKeys.first, let kind = DetectorKind(rawValue: key.rawValue) else {
            self.init()
            return
        }
        self.init(kind)
        switch kind {
        case .robust: robust = (try? container.decode(RobustBaselineDetector.self, forKey: key)) ?? robust
        case .seasonal: seasonal = (try? container.decode(SeasonalDetector.self, forKey: key)) ?? seasonal
        case .knn: knn = (try? container.decode(NearestNeighbourDetector.self, forKey: key)) ?? knn
        case .context: context = (try? container.decode(ContextDetector.self, forKey: key)) ?? context
        case .ensemble: ensemble = (try? container.decode(EnsembleDetector.self, forKey: key)) ?? ensemble
        }
    }

    /// The family; nil for a decoded value that holds none (a file from elsewhere).
    public var kind: DetectorKind? {
        robust != nil ? .robust : seasonal != nil ? .seasonal : knn != nil ? .knn : context != nil ? .context : ensemble != nil ? .ensemble : nil
    }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        if knn != nil { return knn!.score(value, at: time) }
        if ensemble != nil { return ensemble!.score(value, at: time) }
        if seasonal != nil { return seasonal!.score(value, at: time) }
        if context != nil { return context!.score(value, at: time) }
        if robust != nil { return robust!.score(value, at: time) }
        return 0
    }
}
