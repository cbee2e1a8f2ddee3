/// The knn and seasonal detectors together: each sample's score is the larger of their surprises
/// (a pattern never seen, or a value off the series' daily profile or level), reported at the peak
/// of a rise (``PeakFilter``) and only at the onset of a surprise (``OnsetFilter``). The best of
/// the families on NAB's series; about 3.6 KB of state.
public struct EnsembleDetector: AnomalyDetector, Codable {
    public var name: String { "ensemble" }
    private var knn = NearestNeighbourDetector()
    private var seasonal = SeasonalDetector()
    private var peak = PeakFilter()
    private var onset = OnsetFilter(span: OnsetFilter.defaultSpan)

    public init() {}

    public var stateBytes: Int {
        MemoryLayout<Self>.size - MemoryLayout<NearestNeighbourDetector>.size - MemoryLayout<SeasonalDetector>.size + knn.stateBytes + seasonal.stateBytes
    }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        let surprise = max(knn.surprise(value, at: time), seasonal.surprise(value, at: time))
        return onset.pass(peak.pass(surprise))
    }
}
