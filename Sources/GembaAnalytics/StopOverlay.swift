public import GembaCore

/// Lays the reasons people gave over the states a machine reported. An assignment replaces the
/// reason of stopped time only (``MachineStateCategory/isStop``) within `[start, end)`; an open
/// assignment (no end) runs until the machine produces again. Later assignments win.
public enum StopOverlay {
    public static func apply(_ assignments: [StopAssignment], to intervals: [StateInterval],
                             catalogue: ReasonCatalogue) -> [StateInterval] {
        var result = intervals
        for assignment in assignments.sorted(by: { $0.start < $1.start }) {
            guard let reason = catalogue[assignment.reason] else { continue }
            let end = assignment.end ?? result.first { $0.start >= assignment.start && !$0.category.isStop }?.start ?? .max
            guard end > assignment.start else { continue }
            result = result.flatMap { interval -> [StateInterval] in
                guard interval.category.isStop, interval.end > assignment.start, interval.start < end else { return [interval] }
                var parts: [StateInterval] = []
                if interval.start < assignment.start {
                    var before = interval
                    before.end = assignment.start
                    parts.append(before)
                }
                parts.append(StateInterval(start: max(interval.start, assignment.start), end: min(interval.end, end),
                                           category: reason.category, reason: reason.path, lossClass: reason.lossClass,
                                           isFailure: reason.isFailure, isSetup: reason.isSetup))
                if interval.end > end {
                    var after = interval
                    after.start = end
                    parts.append(after)
                }
                return parts
            }
        }
        return result
    }
}
