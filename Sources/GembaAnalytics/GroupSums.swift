internal import GembaCore
internal import GembaStorage

/// Components summed per period label while a report is put together, with each period's bounds.
struct GroupSums {
    let grouping: ReportGrouping
    private var groups: [String: KPIComponents] = [:]
    private var bounds: [String: Range<Int64>] = [:]

    init(grouping: ReportGrouping) { self.grouping = grouping }

    /// The period a piece of `day` (and `shift`, "" outside shifts) belongs to.
    func label(day: String, shift: String) -> String {
        switch grouping {
        case .none: "total"
        case .shift: shift
        case .day: day
        case .week: LocalDate(day)?.isoWeek ?? day
        case .month: LocalDate(day)?.month ?? day
        }
    }

    mutating func add(_ components: KPIComponents, piece: PeriodPiece) {
        groups[label(day: piece.day, shift: piece.shift), default: KPIComponents()] += components
    }

    /// Adds a stored sum, keyed by what the store grouped by (the day, the shift, or "" for the total).
    mutating func add(_ components: KPIComponents, storedKey: String) {
        let key = switch grouping {
        case .none: "total"
        case .shift: storedKey
        case .day, .week, .month: label(day: storedKey, shift: "")
        }
        groups[key, default: KPIComponents()] += components
    }

    mutating func bound(day: LocalDay, within range: Range<Int64>) {
        guard grouping != .shift, day.range.overlaps(range) else { return }
        extend(label(day: day.date, shift: ""), max(day.range.lowerBound, range.lowerBound)..<min(day.range.upperBound, range.upperBound))
    }

    mutating func bound(shiftOf piece: PeriodPiece, within range: Range<Int64>) {
        guard grouping == .shift, let shift = piece.shiftInterval, shift.overlaps(range) else { return }
        extend(piece.shift, max(shift.lowerBound, range.lowerBound)..<min(shift.upperBound, range.upperBound))
    }

    private mutating func extend(_ label: String, _ range: Range<Int64>) {
        bounds[label] = bounds[label].map { min($0.lowerBound, range.lowerBound)..<max($0.upperBound, range.upperBound) } ?? range
    }

    /// The report: the total of every group (time outside shifts included) and the labelled periods in time order.
    func report(machines: [AssetPath], range: Range<Int64>) -> OEEReport {
        let total = groups.values.reduce(into: KPIComponents()) { $0 += $1 }
        let periods = grouping == .none ? [] : bounds.sorted { $0.value.lowerBound < $1.value.lowerBound }.map { label, bound in
            PeriodResult(label: label, range: bound, components: groups[label] ?? KPIComponents())
        }
        return OEEReport(machines: machines, range: range, grouping: grouping,
                         total: PeriodResult(label: "total", range: range, components: total), periods: periods)
    }
}
