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
public enum DetectorKind: String, CaseIterable, Sendable {
    case robust, knn, context

    public func make() -> any AnomalyDetector {
        switch self {
        case .robust: RobustBaselineDetector()
        case .knn: NearestNeighbourDetector()
        case .context: ContextDetector()
        }
    }
}
