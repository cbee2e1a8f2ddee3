public import GembaCore

/// How a report splits its range.
public enum ReportGrouping: String, Sendable, Hashable, CaseIterable {
    case none, shift, day, week, month
}

/// The KPIs of one period (or the whole range): the summed components and what follows from them.
public struct PeriodResult: Sendable, Hashable {
    /// `2026-11-20 A`, `2026-11-20`, `2026-W47`, `2026-11`, or `total`.
    public var label: String
    public var range: Range<Int64>
    public var components: KPIComponents
    public var kpis: KPIs { KPIs(components) }

    /// Time in each state category (producing, idle, …), ms, from the time by reason.
    public var timeByState: [String: Int64] {
        var result: [String: Int64] = [:]
        for (reason, time) in components.timeByReason {
            result[String(reason.prefix { $0 != "/" }), default: 0] += time
        }
        return result
    }
}

/// An OEE answer for some machines over a range: the total and, when asked, each period.
public struct OEEReport: Sendable, Hashable {
    public var machines: [AssetPath]
    public var range: Range<Int64>
    public var grouping: ReportGrouping
    public var total: PeriodResult
    public var periods: [PeriodResult]
}

/// A stop as operators see it: when, why (reported or given), the fault code, and who gave the reason.
public struct Stop: Sendable, Hashable {
    public var machine: AssetPath
    public var start: Int64
    public var end: Int64
    /// Still running at the time of the answer.
    public var open: Bool
    public var reason: ReasonCode
    public var faultCode: String?
    /// Who gave the reason; nil when it is the state the machine reported.
    public var assignedBy: String?
    public var assignedAt: Int64?
}
