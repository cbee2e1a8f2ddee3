/// NAB's scoring of a detector over a corpus: its anomaly scores (one per row, in [0, 1]) turned
/// into detections at one threshold for the whole corpus, the threshold that maximises the
/// profile's score, and that score normalised to 100 × (S − S_null) / (S_perfect − S_null), where
/// the null detector never fires and the perfect one fires on the first row of every window.
public enum NABScorer {
    public struct Result: Sendable, Equatable {
        public var profile: String
        /// Detections are the rows scored at least this.
        public var threshold: Double
        public var raw: Double
        public var normalized: Double
        public var truePositives: Int
        public var falsePositives: Int
        public var falseNegatives: Int
    }

    /// Scores `scores[i]` (a row's anomaly scores for `files[i]`) under `profile`.
    public static func score(_ files: [NABFile], scores: [[Double]], profile: NABProfile) -> Result {
        precondition(files.count == scores.count && zip(files, scores).allSatisfy { $0.rows == $1.count })
        // Every scored row, with its value and its window (numbered across the corpus).
        var points: [(score: Double, value: Double, window: Int?)] = []
        var windowCount = 0
        for (file, rowScores) in zip(files, scores) {
            let base = windowCount
            for (row, entry) in file.rowValues(profile).enumerated() {
                guard let entry else { continue }
                points.append((rowScores[row], entry.value, entry.window.map { base + $0 }))
            }
            windowCount += file.windows.count
        }
        let scoredWindows = files.reduce(0) { $0 + $1.scoredWindows.count }
        let null = -profile.falseNegative * Double(scoredWindows)
        let perfect = profile.truePositive * Double(scoredWindows)
        points.sort { $0.score > $1.score }

        // Lower the threshold one distinct score at a time: each window is worth its best detection
        // so far (or the fn weight), every detection outside a window adds its value.
        var best = Result(profile: profile.name, threshold: 1.1, raw: null, normalized: 0, truePositives: 0, falsePositives: 0,
                          falseNegatives: scoredWindows)
        var windowValue: [Int: Double] = [:]
        var total = null
        var falsePositives = 0
        var index = 0
        while index < points.count {
            let threshold = points[index].score
            while index < points.count, points[index].score == threshold {
                let point = points[index]
                if let window = point.window {
                    let old = windowValue[window] ?? -profile.falseNegative
                    if point.value > old {
                        windowValue[window] = point.value
                        total += point.value - old
                    }
                } else {
                    falsePositives += 1
                    total += point.value
                }
                index += 1
            }
            if total > best.raw {
                best = Result(profile: profile.name, threshold: threshold, raw: total, normalized: 0, truePositives: windowValue.count,
                              falsePositives: falsePositives, falseNegatives: scoredWindows - windowValue.count)
            }
        }
        best.normalized = perfect > null ? 100 * (best.raw - null) / (perfect - null) : 0
        return best
    }
}
