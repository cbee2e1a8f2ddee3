public import GembaCore

/// Preventive maintenance on one machine, due every so many days, hours of running or counts of a
/// counter tag (strokes, cycles) since it was last done. When due, the plan proposes a preventive
/// work order; a maintenance lead still decides. Each closed order from the plan (done, or rejected
/// or cancelled, which skips one occurrence) starts the count again.
public struct MaintenancePlan: Sendable, Hashable, Codable {
    /// How often: exactly one of the three.
    public struct Interval: Sendable, Hashable, Codable {
        /// Calendar days.
        public var days: Int?
        /// Hours the machine ran (run time from the state engine).
        public var runHours: Double?
        /// Units counted by `counter`.
        public var count: Double?
        /// The counter tag for `count`.
        public var counter: String?

        public init(days: Int? = nil, runHours: Double? = nil, count: Double? = nil, counter: String? = nil) {
            self.days = days
            self.runHours = runHours
            self.count = count
            self.counter = counter
        }

        /// `every 30 days`, `every 500 run hours`, `every 100000 strokes`.
        public var text: String {
            if let days { return "every \(days) days" }
            if let runHours { return "every \(Self.number(runHours)) run hours" }
            return "every \(Self.number(count ?? 0)) \(counter ?? "counts")"
        }

        static func number(_ value: Double) -> String { value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value) }
    }

    public var id: String
    public var machine: AssetPath
    public var title: String
    public var details: String?
    public var every: Interval
    public var plannedMinutes: Int
    public var priority: WorkOrder.Priority
    public var enabled: Bool
    /// Where the count starts: when the plan was made, then when its last order closed (ms since the epoch).
    public var anchor: Int64
    /// The counter's reading at `anchor` (counter plans).
    public var anchorCount: Double?
    public var updatedBy: String
    public var updatedAt: Int64

    public init(id: String, machine: AssetPath, title: String, details: String? = nil, every: Interval, plannedMinutes: Int = 60,
                priority: WorkOrder.Priority = .medium, enabled: Bool = true, anchor: Int64, anchorCount: Double? = nil,
                updatedBy: String, updatedAt: Int64) {
        self.id = id
        self.machine = machine
        self.title = title
        self.details = details
        self.every = every
        self.plannedMinutes = plannedMinutes
        self.priority = priority
        self.enabled = enabled
        self.anchor = anchor
        self.anchorCount = anchorCount
        self.updatedBy = updatedBy
        self.updatedAt = updatedAt
    }

    /// Refuses a plan that cannot be followed, naming the field.
    public func validate() throws(ModelError) {
        guard !id.isEmpty, id.count <= 64, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), id.allSatisfy(\.isASCII) else {
            throw ModelError(.invalid, "a plan's id is 1-64 of A-Z a-z 0-9 - _")
        }
        try WorkOrder.check(title, "a title", required: true, limit: 200)
        if let details { try WorkOrder.check(details, "the details", required: false) }
        let given = [every.days != nil, every.runHours != nil, every.count != nil].filter { $0 }.count
        guard given == 1 else { throw ModelError(.invalid, "every needs exactly one of days, runHours and count") }
        if let days = every.days, !(1...3_650).contains(days) { throw ModelError(.invalid, "every.days is 1 to 3650") }
        if let hours = every.runHours, !(hours >= 1 && hours <= 100_000) { throw ModelError(.invalid, "every.runHours is 1 to 100000") }
        if let count = every.count {
            guard count >= 1, count <= 1e12 else { throw ModelError(.invalid, "every.count is 1 to 10^12") }
            guard let counter = every.counter, (try? Tag.validate(name: counter)) != nil else {
                throw ModelError(.invalid, "every.counter names the counter tag (1-64 of A-Z a-z 0-9 - _ .)")
            }
        }
        guard (1...43_200).contains(plannedMinutes) else { throw ModelError(.invalid, "plannedMinutes is 1 to 43200") }
    }

    /// How far the plan has come since its anchor (1 or more: due), with the figures in words.
    /// `runTime` is the machine's run time since the anchor (ms), `counterNow` the counter's latest
    /// reading; nil when not known (then a plan needing it is not due).
    public func progress(at now: Int64, runTime: Int64?, counterNow: Double?) -> (fraction: Double, text: String) {
        if let days = every.days {
            let elapsed = Double(now - anchor) / 86_400_000
            return (elapsed / Double(days), "\(Interval.number((elapsed * 10).rounded() / 10)) of \(days) days")
        }
        if let hours = every.runHours {
            guard let runTime else { return (0, "run time not known") }
            let ran = Double(runTime) / 3_600_000
            return (ran / hours, "\(Interval.number((ran * 10).rounded() / 10)) of \(Interval.number(hours)) run hours")
        }
        guard let count = every.count, let counterNow else { return (0, "\(every.counter ?? "counter") not read yet") }
        // A counter that went back was reset: what it counted since is the reading itself.
        let counted = counterNow >= (anchorCount ?? counterNow) ? counterNow - (anchorCount ?? counterNow) : counterNow
        return (counted / count, "\(Interval.number(counted)) of \(Interval.number(count)) \(every.counter ?? "counts")")
    }
}
