internal import GembaCore
public import GembaStorage

/// The alarm system measured the way ISA-18.2 and EEMUA 191 measure it, over a range of the
/// journal: annunciation rate (per 10 minutes, hour, day), floods (10-minute periods with more
/// than 10 alarms), the peak, chattering and fleeting alarms, stale alarms, the top contributors
/// and their share, the priority distribution, time to acknowledge, and what was shelved or taken
/// out of service. Pure: the journal in, figures out.
public struct AlarmPerformance: Sendable, Hashable {
    /// The figures' settings (the standards' usual values by default).
    public struct Options: Sendable, Hashable {
        /// More alarms than this in one 10-minute period is a flood.
        public var floodThreshold = 10
        /// An alarm that activates this often within `chatteringWindow` is chattering.
        public var chatteringCount = 3
        public var chatteringWindow: Int64 = 60_000
        /// An activation cleared sooner than this is fleeting.
        public var fleeting: Int64 = 10_000
        /// An alarm active longer than this is stale.
        public var stale: Int64 = 86_400_000
        public init() {}
    }

    /// One alarm (rule on a machine) among the top contributors.
    public struct Contributor: Sendable, Hashable {
        public var rule: String
        public var machine: String
        public var activations: Int
        /// Its share of all activations, 0…1.
        public var share: Double
    }

    /// The figures for one area (the machines under `site/area`).
    public struct Area: Sendable, Hashable {
        public var scope: String
        public var activations: Int
        public var averagePer10Minutes: Double
        public var peak10Minutes: Int
        public var floodPercent: Double
    }

    public static let period: Int64 = 600_000

    public var range: Range<Int64>
    public var activations = 0
    public var averagePer10Minutes = 0.0
    public var averagePerHour = 0.0
    public var averagePerDay = 0.0
    /// Ten-minute periods in the range (the last one may be partial), and how many were floods.
    public var periods = 0
    public var floodPeriods = 0
    public var floodPercent = 0.0
    /// The most activations in one 10-minute period, and when that period began.
    public var peak10Minutes = 0
    public var peakStart: Int64?
    /// Alarms that chattered in the range, and the activations they made.
    public var chatteringAlarms = 0
    public var chatteringActivations = 0
    /// Activations cleared sooner than `Options.fleeting`.
    public var fleetingActivations = 0
    /// Alarms active longer than `Options.stale` at the end of the range.
    public var staleAlarms = 0
    public var topContributors: [Contributor] = []
    /// The top ten's share of all activations, 0…1.
    public var topTenShare = 0.0
    /// Activations per severity.
    public var bySeverity: [Severity: Int] = [:]
    /// Times from activation to acknowledgement, in milliseconds.
    public var acknowledgements = 0
    public var medianTimeToAcknowledge: Int64?
    public var p90TimeToAcknowledge: Int64?
    public var shelveActions = 0
    public var outOfServiceActions = 0
    public var areas: [Area] = []

    /// Measures `range` from `journal`, which holds the range's lines in time order and may start
    /// earlier (lines before the range only tell which alarms were already active).
    public init(journal: [AlarmJournalEntry], range: Range<Int64>, options: Options = Options()) {
        self.range = range
        let length = max(range.upperBound - range.lowerBound, 1)
        var perAlarm: [Key: [Int64]] = [:]
        var activeSince: [Key: Int64] = [:]
        var acknowledgeTimes: [Int64] = []
        var buckets = [Int](repeating: 0, count: Int((length + Self.period - 1) / Self.period))
        var areaBuckets: [String: [Int]] = [:]
        for line in journal where line.time < range.upperBound {
            let key = Key(rule: line.rule, machine: line.machine)
            let inRange = line.time >= range.lowerBound
            switch line.kind {
            case AlarmTransition.Kind.activated.rawValue:
                activeSince[key] = line.time
                guard inRange else { continue }
                activations += 1
                perAlarm[key, default: []].append(line.time)
                bySeverity[Severity(rawValue: line.severity) ?? .medium, default: 0] += 1
                let bucket = Int((line.time - range.lowerBound) / Self.period)
                buckets[bucket] += 1
                areaBuckets[Self.area(of: line.machine), default: [Int](repeating: 0, count: buckets.count)][bucket] += 1
            case AlarmTransition.Kind.cleared.rawValue:
                if let since = activeSince.removeValue(forKey: key), inRange, since >= range.lowerBound, line.time - since < options.fleeting {
                    fleetingActivations += 1
                }
            case AlarmTransition.Kind.acknowledged.rawValue where inRange:
                if let since = activeSince[key], line.fromState.hasPrefix("active") { acknowledgeTimes.append(line.time - since) }
            case AlarmTransition.Kind.shelved.rawValue where inRange: shelveActions += 1
            case AlarmTransition.Kind.removedFromService.rawValue:
                activeSince[key] = nil
                if inRange { outOfServiceActions += 1 }
            default: break
            }
        }
        periods = buckets.count
        summarize(buckets, length: length, options: options)
        countChattering(perAlarm, options: options)
        staleAlarms = activeSince.values.filter { range.upperBound - $0 > options.stale }.count
        rankContributors(perAlarm)
        acknowledgements = acknowledgeTimes.count
        acknowledgeTimes.sort()
        medianTimeToAcknowledge = Self.quantile(acknowledgeTimes, 0.5)
        p90TimeToAcknowledge = Self.quantile(acknowledgeTimes, 0.9)
        areas = areaBuckets.map { scope, counts in
            let total = counts.reduce(0, +)
            return Area(scope: scope, activations: total, averagePer10Minutes: Double(total) * Double(Self.period) / Double(length),
                        peak10Minutes: counts.max() ?? 0,
                        floodPercent: 100 * Double(counts.filter { $0 > options.floodThreshold }.count) / Double(max(counts.count, 1)))
        }.sorted { ($0.activations, $1.scope) > ($1.activations, $0.scope) }
    }

    private struct Key: Hashable, Comparable {
        var rule: String
        var machine: String
        static func < (lhs: Key, rhs: Key) -> Bool { (lhs.rule, lhs.machine) < (rhs.rule, rhs.machine) }
    }

    private mutating func summarize(_ buckets: [Int], length: Int64, options: Options) {
        averagePer10Minutes = Double(activations) * Double(Self.period) / Double(length)
        averagePerHour = averagePer10Minutes * 6
        averagePerDay = averagePer10Minutes * 144
        floodPeriods = buckets.filter { $0 > options.floodThreshold }.count
        floodPercent = 100 * Double(floodPeriods) / Double(max(buckets.count, 1))
        if let peak = buckets.enumerated().max(by: { ($0.element, $1.offset) < ($1.element, $0.offset) }), peak.element > 0 {
            peak10Minutes = peak.element
            peakStart = range.lowerBound + Int64(peak.offset) * Self.period
        }
    }

    /// An alarm chatters when `chatteringCount` of its activations fall within `chatteringWindow`.
    private mutating func countChattering(_ perAlarm: [Key: [Int64]], options: Options) {
        for times in perAlarm.values where times.count >= options.chatteringCount {
            let span = options.chatteringCount - 1
            if (span..<times.count).contains(where: { times[$0] - times[$0 - span] <= options.chatteringWindow }) {
                chatteringAlarms += 1
                chatteringActivations += times.count
            }
        }
    }

    private mutating func rankContributors(_ perAlarm: [Key: [Int64]]) {
        let ranked = perAlarm.map { ($0.key, $0.value.count) }.sorted { ($0.1, $1.0) > ($1.1, $0.0) }.prefix(10)
        let total = Double(max(activations, 1))
        topContributors = ranked.map { Contributor(rule: $0.0.rule, machine: $0.0.machine, activations: $0.1, share: Double($0.1) / total) }
        topTenShare = Double(ranked.map(\.1).reduce(0, +)) / total
    }

    /// `site/area` of a machine path (the whole path when it is shorter).
    static func area(of machine: String) -> String {
        machine.split(separator: "/", maxSplits: 2).prefix(2).joined(separator: "/")
    }

    /// The nearest-rank quantile of sorted values.
    static func quantile(_ sorted: [Int64], _ q: Double) -> Int64? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((Double(sorted.count) * q).rounded(.up))
        return sorted[min(max(rank - 1, 0), sorted.count - 1)]
    }
}
