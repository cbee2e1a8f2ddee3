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
    case robust, knn, context

    public func make() -> any AnomalyDetector {
        switch self {
        case .robust: RobustBaselineDetector()
        case .knn: NearestNeighbourDetector()
        case .context: ContextDetector()
        }
    }
}

/// A detector of any family with its learnt state, to keep and restore (JSON through `Codable`:
/// `{"knn": {…}}`). Exactly one family's field is set; scoring mutates it in place, so its buffers
/// are never copied.
public struct AnyDetector: Sendable, Codable {
    private var robust: RobustBaselineDetector?
    private var knn: NearestNeighbourDetector?
    private var context: ContextDetector?

    public init(_ kind: DetectorKind) {
        switch kind {
        case .robust: robust = RobustBaselineDetector()
        case .knn: knn = NearestNeighbourDetector()
        case .context: context = ContextDetector()
        }
    }

    /// Holding no family: the state of a detector that is not univariate keeps it.
    public static var none: AnyDetector { AnyDetector() }

    private init() {}

    /// The family; nil for a decoded value that holds none (a file from elsewhere).
    public var kind: DetectorKind? {
        robust != nil ? .robust : knn != nil ? .knn : context != nil ? .context : nil
    }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        if knn != nil { return knn!.score(value, at: time) }
        if context != nil { return context!.score(value, at: time) }
        if robust != nil { return robust!.score(value, at: time) }
        return 0
    }
}
