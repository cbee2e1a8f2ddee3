/// A fleet model of remaining useful life, trained on run-to-failure histories of similar
/// machines: the windowed features of every `stride`-th cycle of every history, with the cycles
/// that history still had then (capped: early in life, wear does not show, so "at least `cap`" is
/// all there is to learn). A machine's remaining life is the mean of its `neighbours` nearest
/// training cycles (features standardised); its interval, their 10th to 90th percentile.
public struct FleetRULModel: Sendable, Codable {
    public struct Estimate: Sendable, Equatable {
        public var cycles: Double
        public var low: Double
        public var high: Double
    }

    public struct TrainingError: Error, CustomStringConvertible {
        public var description: String
    }

    public var features: RULFeatures
    public var cap: Double
    public var neighbours: Int
    /// The signals used (indices into a row); signals that never varied in training are left out.
    public var signals: [Int]
    var mean: [Double]
    var deviation: [Double]
    /// Standardised training features, row after row (single precision: half the memory an
    /// estimate reads, and no difference to which cycles are nearest).
    var points: [Float]
    var targets: [Double]

    /// Trains on `histories` (each a machine's rows, one per cycle, up to its failure).
    public init(histories: [[[Double]]], features: RULFeatures = RULFeatures(), cap: Double = 125, neighbours: Int = 20,
                stride: Int = 2) throws {
        let first = features.firstCycle
        let longEnough = histories.filter { $0.count > first }
        guard longEnough.count >= 2 else {
            throw TrainingError(description: "training needs at least 2 run-to-failure histories longer than \(first) cycles, got \(longEnough.count)")
        }
        let width = longEnough[0][0].count
        guard longEnough.allSatisfy({ $0.allSatisfy { $0.count == width } }) else {
            throw TrainingError(description: "every cycle of every history must have the same \(width) signals")
        }
        let chosen = (0..<width).filter { signal in
            let values = longEnough.flatMap { $0.map { $0[signal] } }
            return (values.max() ?? 0) - (values.min() ?? 0) > 1e-9
        }
        signals = chosen
        self.features = features
        self.cap = cap
        self.neighbours = neighbours
        var rows: [[Double]] = [], targets: [Double] = []
        for history in longEnough {
            let selected = history.map { row in chosen.map { row[$0] } }
            for cycle in Swift.stride(from: first, through: selected.count, by: stride) {
                rows.append(features.features(of: selected, through: cycle))
                targets.append(min(Double(selected.count - cycle), cap))
            }
        }
        let columns = rows[0].count
        let means = (0..<columns).map { column in rows.reduce(0) { $0 + $1[column] } / Double(rows.count) }
        let deviations = (0..<columns).map { column in
            let variance = rows.reduce(0) { $0 + ($1[column] - means[column]) * ($1[column] - means[column]) } / Double(rows.count)
            return max(variance.squareRoot(), 1e-12)
        }
        var points: [Float] = []
        points.reserveCapacity(rows.count * columns)
        for row in rows { for column in 0..<columns { points.append(Float((row[column] - means[column]) / deviations[column])) } }
        (mean, deviation, self.points, self.targets) = (means, deviations, points, targets)
    }

    /// The training cycles an estimate is compared with.
    public var trainingCycles: Int { targets.count }

    /// Checks that a model read from elsewhere (a file, a stored version) holds together, so that
    /// an estimate cannot read past its arrays: the error says what is wrong.
    public func check() throws(TrainingError) {
        func refuse(_ what: String) -> TrainingError { TrainingError(description: "not a fleet model this release can use: \(what)") }
        guard features.short >= 1, features.window >= features.short, features.window <= 10_000 else {
            throw refuse("features need 1 ≤ short ≤ window ≤ 10000")
        }
        guard (1...1_000).contains(neighbours) else { throw refuse("neighbours must lie between 1 and 1000") }
        guard cap.isFinite, cap > 0 else { throw refuse("cap must be a positive number of cycles") }
        guard !signals.isEmpty, signals.allSatisfy({ (0..<1_000).contains($0) }), Set(signals).count == signals.count else {
            throw refuse("signals must be different column numbers from 0")
        }
        let columns = 3 * signals.count + (features.age ? 1 : 0)
        guard mean.count == columns, deviation.count == columns else {
            throw refuse("\(signals.count) signals make \(columns) features, but the model has \(mean.count) means and \(deviation.count) deviations")
        }
        guard !targets.isEmpty, points.count == targets.count * columns else {
            throw refuse("\(targets.count) training cycles need \(targets.count * columns) feature values, not \(points.count)")
        }
        guard mean.allSatisfy(\.isFinite), deviation.allSatisfy({ $0.isFinite && $0 > 0 }), points.allSatisfy(\.isFinite),
              targets.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw refuse("means, deviations (positive), features and remaining lives must be finite numbers")
        }
    }

    /// The remaining life of a machine whose history (rows of all signals, as in training) runs to now.
    public func estimate(history: [[Double]]) -> Estimate {
        estimate(recent: history.suffix(features.window), cycle: history.count)
    }

    /// The remaining life of a machine from its latest rows (at least the last ``RULFeatures/window``
    /// when it has run that long; all signals, as in training), the last being its cycle number `cycle`.
    public func estimate(recent rows: ArraySlice<[Double]>, cycle: Int) -> Estimate {
        let selected = rows.map { row in signals.map { row[$0] } }
        let query = zip(features.features(recent: selected[...], cycle: cycle), zip(mean, deviation)).map { Float(($0 - $1.0) / $1.1) }
        let columns = mean.count
        // The nearest training cycles, kept sorted by distance.
        var nearest: [(distance: Float, target: Double)] = []
        nearest.reserveCapacity(neighbours + 1)
        points.withUnsafeBufferPointer { points in
            query.withUnsafeBufferPointer { query in
                for (index, target) in targets.enumerated() {
                    // Summed 8 columns at a time, stopping once the point is farther than the farthest kept.
                    let bound = nearest.count < neighbours ? Float.infinity : nearest[nearest.count - 1].distance
                    let distance = Self.distance(points, from: index * columns, to: query, within: bound)
                    guard distance < bound else { continue }
                    let position = nearest.firstIndex { $0.distance > distance } ?? nearest.count
                    nearest.insert((distance, target), at: position)
                    if nearest.count > neighbours { nearest.removeLast() }
                }
            }
        }
        let values = nearest.map(\.target).sorted()
        return Estimate(cycles: values.reduce(0, +) / Double(values.count), low: Self.percentile(values, 0.1),
                        high: Self.percentile(values, 0.9))
    }

    /// The squared distance of the point at `base` to `query`, or a partial sum of it once that
    /// reaches `bound` (the point is not among the nearest then).
    private static func distance(_ points: UnsafeBufferPointer<Float>, from base: Int, to query: UnsafeBufferPointer<Float>,
                                 within bound: Float) -> Float {
        var distance: Float = 0
        var column = 0
        while column < query.count {
            let end = min(column + 8, query.count)
            while column < end {
                let difference = points[base + column] - query[column]
                distance += difference * difference
                column += 1
            }
            if distance >= bound { return distance }
        }
        return distance
    }

    /// A machine's latest cycles as the model reads them live: its last ``RULFeatures/window``
    /// rows and how many cycles it has run since it was first watched.
    public struct Course: Sendable, Codable {
        public private(set) var rows: [[Double]] = []
        public private(set) var cycles = 0

        public init() {}

        /// Adds the next cycle's row, keeping the last `window`.
        public mutating func add(_ row: [Double], window: Int) {
            rows.append(row)
            if rows.count > window { rows.removeFirst(rows.count - window) }
            cycles += 1
        }
    }

    /// The remaining life of a machine at the end of its course; nil until it has run the cycles the model needs.
    public func estimate(_ course: Course) -> Estimate? {
        guard course.cycles >= features.firstCycle, course.rows.count >= min(features.firstCycle, features.window),
              course.rows.allSatisfy({ $0.count > (signals.max() ?? -1) }) else { return nil }
        return estimate(recent: course.rows[...], cycle: course.cycles)
    }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        let position = fraction * Double(sorted.count - 1)
        let lower = Int(position), upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }
}
