/// MTBF and MTTR from the work people did, in the state engine's terms (ISO 22400-2): failures
/// are repairs (corrective orders) done in the range, MTTR their time spent over their number,
/// MTBF the run time over failures + 1.
public struct Reliability: Sendable, Hashable, Codable {
    public var failures: Int
    /// Time spent on those repairs (ms).
    public var repairTime: Int64
    /// ms; nil without run time.
    public var mtbf: Double?
    /// ms; nil without failures.
    public var mttr: Double?
    /// Preventive and predictive orders done in the range.
    public var preventiveDone: Int
    public var predictiveDone: Int
    /// Predictive orders done whose prediction was confirmed, and those whose was not.
    public var predictionsConfirmed: Int
    public var predictionsNotConfirmed: Int

    public init(orders: [WorkOrder], range: Range<Int64>, runTime: Int64?) {
        let done = orders.filter { $0.status == .done && $0.finishedAt.map(range.contains) == true }
        let repairs = done.filter { $0.kind == .corrective }
        failures = repairs.count
        repairTime = repairs.reduce(0) { $0 + Int64($1.completion?.minutesSpent ?? 0) * 60_000 }
        mtbf = runTime.map { Double($0) / Double(repairs.count + 1) }
        mttr = repairs.isEmpty ? nil : Double(repairTime) / Double(repairs.count)
        preventiveDone = done.filter { $0.kind == .preventive }.count
        let predictive = done.filter { $0.kind == .predictive }
        predictiveDone = predictive.count
        predictionsConfirmed = predictive.filter { $0.completion?.predictionConfirmed == true }.count
        predictionsNotConfirmed = predictive.filter { $0.completion?.predictionConfirmed == false }.count
    }
}
