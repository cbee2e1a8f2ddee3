/// How well a detector serves the plant, from people's labels and the failures that happened:
/// precision over the events people labelled, recall over the failures on the machines it watches
/// (a failure counts as caught when an event not labelled false came within `horizon` before it),
/// and the lead time those events gave. Pure.
public struct DetectorPerformance: Sendable, Hashable, Codable {
    /// One detector event as the figures need it.
    public struct Event: Sendable, Hashable {
        public var machine: String
        /// ms since the epoch.
        public var start: Int64
        public var label: EventLabel?

        public init(machine: String, start: Int64, label: EventLabel?) {
            self.machine = machine
            self.start = start
            self.label = label
        }
    }

    /// A failure: an equipment-failure stop, or a repair's work order.
    public struct Failure: Sendable, Hashable {
        public var machine: String
        /// ms since the epoch.
        public var time: Int64

        public init(machine: String, time: Int64) {
            self.machine = machine
            self.time = time
        }
    }

    public struct Figures: Sendable, Hashable, Codable {
        public var events = 0
        public var truePositives = 0
        public var falsePositives = 0
        public var unlabelled = 0
        /// True positives over labelled events; nil when none is labelled.
        public var precision: Double?
        public var failures = 0
        public var caught = 0
        /// Caught failures over failures; nil without failures.
        public var recall: Double?
        /// The median time from the first event to the failure it caught (ms); nil when none was caught.
        public var medianLeadTime: Int64?
    }

    public struct Period: Sendable, Hashable, Codable {
        public var start: Int64
        public var end: Int64
        public var figures: Figures
    }

    public var detector: String
    public var total: Figures
    /// The range cut into `period`-long pieces, oldest first.
    public var periods: [Period]

    /// Figures over `range` and each `period` of it. Events before the range still catch failures
    /// in it (pass them from `horizon` before).
    public static func compute(detector: String, events: [Event], failures: [Failure], range: Range<Int64>, horizon: Int64,
                               period: Int64) -> DetectorPerformance {
        let byMachine = Dictionary(grouping: events.filter { $0.label != .falsePositive }, by: \.machine)
        // Each failure's lead time when caught.
        let judged = failures.filter { range.contains($0.time) }.map { failure -> (Failure, Int64?) in
            let earliest = byMachine[failure.machine]?.filter { $0.start < failure.time && $0.start >= failure.time - horizon }.map(\.start).min()
            return (failure, earliest.map { failure.time - $0 })
        }
        func figures(_ window: Range<Int64>) -> Figures {
            var result = Figures()
            for event in events where window.contains(event.start) {
                result.events += 1
                switch event.label {
                case .truePositive?: result.truePositives += 1
                case .falsePositive?: result.falsePositives += 1
                case nil: result.unlabelled += 1
                }
            }
            let labelled = result.truePositives + result.falsePositives
            result.precision = labelled == 0 ? nil : Double(result.truePositives) / Double(labelled)
            let leads = judged.filter { window.contains($0.0.time) }
            result.failures = leads.count
            let caught = leads.compactMap(\.1).sorted()
            result.caught = caught.count
            result.recall = leads.isEmpty ? nil : Double(caught.count) / Double(leads.count)
            result.medianLeadTime = caught.isEmpty ? nil : caught[caught.count / 2]
            return result
        }
        let step = max(period, 1)
        let periods = stride(from: range.lowerBound, to: range.upperBound, by: Int(step)).prefix(1_000).map { start in
            let end = min(start + step, range.upperBound)
            return Period(start: start, end: end, figures: figures(start..<end))
        }
        return DetectorPerformance(detector: detector, total: figures(range), periods: periods)
    }
}
