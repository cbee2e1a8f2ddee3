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

/// A detector of any family with its learnt state, to keep and restore (JSON through `Codable`).
public enum AnyDetector: Sendable, Codable {
    case robust(RobustBaselineDetector)
    case knn(NearestNeighbourDetector)
    case context(ContextDetector)

    public init(_ kind: DetectorKind) {
        switch kind {
        case .robust: self = .robust(RobustBaselineDetector())
        case .knn: self = .knn(NearestNeighbourDetector())
        case .context: self = .context(ContextDetector())
        }
    }

    public var kind: DetectorKind {
        switch self {
        case .robust: .robust
        case .knn: .knn
        case .context: .context
        }
    }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        switch self {
        case .robust(var detector):
            defer { self = .robust(detector) }
            return detector.score(value, at: time)
        case .knn(var detector):
            defer { self = .knn(detector) }
            return detector.score(value, at: time)
        case .context(var detector):
            defer { self = .context(detector) }
            return detector.score(value, at: time)
        }
    }
}
