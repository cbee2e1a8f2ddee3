public import GembaCore

/// One stretch of a machine's state: from `start` (inclusive) to `end` (exclusive), ms since the epoch.
public struct StateInterval: Sendable, Hashable, Codable {
    public var start: Int64
    public var end: Int64
    public var category: MachineStateCategory
    /// The reason code (`unplanned_stop/equipment_failure`), nil when none was given.
    public var reason: String?
    /// How the time counts; the category's default unless the reason says otherwise.
    public var lossClass: LossClass
    /// An equipment failure: counted for MTBF/MTTR.
    public var isFailure: Bool
    /// Setup or changeover: counted for the setup rate.
    public var isSetup: Bool

    public init(start: Int64, end: Int64, category: MachineStateCategory, reason: String? = nil, lossClass: LossClass? = nil,
                isFailure: Bool = false, isSetup: Bool = false) {
        self.start = start
        self.end = end
        self.category = category
        self.reason = reason
        self.lossClass = lossClass ?? category.defaultLossClass
        self.isFailure = isFailure
        self.isSetup = isSetup
    }
}

extension Range where Bound == Int64 {
    /// Whether the units a counter reading at `time` shows count in this window: they were made
    /// since the previous reading, in (previous, time], so a reading at a window's end counts in the
    /// window that ends there and one at its start in the window before. Consecutive windows still
    /// add up exactly.
    public func holdsReading(at time: Int64) -> Bool { time > lowerBound && time <= upperBound }
}

/// Units counted at a moment, with the ideal cycle time that applied to them (the product's or the machine's).
public struct ProductionCount: Sendable, Hashable, Codable {
    public var time: Int64
    public var total: Int64
    public var good: Int64
    /// Ideal cycle time per unit, ms; nil when none is set (the units are then unrated).
    public var idealCycleTime: Int64?
    /// Of the good units, those made good by rework.
    public var rework: Int64
    /// Scrap units put down to `defect` (a counter per defect, an operator's entry, the scrap reason
    /// in effect); negative for good units made under a scrap reason (its scrap is total − good).
    public var defects: Int64
    public var defect: String?
    /// The product and the order the units were made under; nil without an order.
    public var product: String?
    public var order: String?

    public init(time: Int64, total: Int64, good: Int64, idealCycleTime: Int64?, rework: Int64 = 0, defects: Int64 = 0, defect: String? = nil,
                product: String? = nil, order: String? = nil) {
        self.time = time
        self.total = total
        self.good = good
        self.idealCycleTime = idealCycleTime
        self.rework = rework
        self.defects = defects
        self.defect = defect
        self.product = product
        self.order = order
    }
}

/// Turns one machine's states, shifts, breaks and counts into the KPI components of a window.
///
/// The window is cut at every boundary (shift, break, state) and each piece is classified once:
/// outside shifts it is only calendar time; inside a shift, a break or an `excluded` state makes
/// it excluded time; otherwise its state's loss class decides (availability → downtime,
/// performance → run time with a performance loss, none → run time). Time no state covers is
/// unknown. Time before the machine was monitored (its first stored sample, `monitoredSince`) is
/// only not-monitored time, in shifts or not: never scheduled, never a loss. Intervals crossing
/// the window's or a shift's edges are split there; a failure counts once, in the window where it
/// started; units count where they were reported, and scrap no defect explains is `unspecified`.
/// Run time and units go to the order running and its product (`running`) as well.
public enum ProductionTimeline {
    /// `monitoredSince`: the machine's first stored sample (`.max` when it has none; `.min` to treat it as always monitored).
    public static func components(window: Range<Int64>, shifts: [Range<Int64>], breaks: [Range<Int64>],
                                  states: [StateInterval], counts: [ProductionCount], monitoredSince: Int64 = .min,
                                  running: [(range: Range<Int64>, order: String, product: String)] = []) -> KPIComponents {
        var components = KPIComponents()
        components.calendarTime = window.upperBound - window.lowerBound
        let states = states.filter { $0.end > window.lowerBound && $0.start < window.upperBound }.sorted { $0.start < $1.start }
        var cuts = Set([window.lowerBound, window.upperBound, monitoredSince])
        for range in shifts + breaks { cuts.formUnion([range.lowerBound, range.upperBound]) }
        for state in states { cuts.formUnion([state.start, state.end]) }
        for stretch in running { cuts.formUnion([stretch.range.lowerBound, stretch.range.upperBound]) }
        let points = cuts.filter { window.contains($0) || $0 == window.upperBound }.sorted()
        var stateIndex = 0
        for (start, end) in zip(points, points.dropFirst()) where end > start {
            let length = end - start
            if start < monitoredSince {
                components.notMonitoredTime += length
                continue
            }
            guard shifts.contains(where: { $0.contains(start) }) else { continue }
            // An order (and its product) running in a shift is listed even when it had no run time (through a breakdown).
            let stretch = running.first { $0.range.contains(start) }
            if let stretch { components.noteRunning(order: stretch.order, product: stretch.product) }
            components.scheduledTime += length
            while stateIndex < states.count, states[stateIndex].end <= start { stateIndex += 1 }
            let state = states[stateIndex...].first { $0.start <= start && $0.end > start }
            if breaks.contains(where: { $0.contains(start) }) {
                components.excludedTime += length
                components.timeByReason["not_scheduled/break", default: 0] += length
                continue
            }
            guard let state else {
                components.downtime += length
                components.unknownTime += length
                components.timeByReason["unknown/no_data", default: 0] += length
                components.downtimeByReason["unknown/no_data", default: 0] += length
                continue
            }
            let reason = state.reason ?? state.category.rawValue
            components.timeByReason[reason, default: 0] += length
            if state.category == .unknown { components.unknownTime += length }
            switch state.lossClass {
            case .excluded:
                components.excludedTime += length
            case .availability:
                components.downtime += length
                components.downtimeByReason[reason, default: 0] += length
                if state.isSetup { components.setupTime += length }
                if state.isFailure { components.repairTime += length }
            case .performance:
                components.performanceLossTime += length
                if let stretch { components.addRunTime(length, order: stretch.order, product: stretch.product) }
            case .none:
                if let stretch { components.addRunTime(length, order: stretch.order, product: stretch.product) }
            }
        }
        components.failures = Int64(states.filter { $0.isFailure && window.contains($0.start) }.count)
        for count in counts where window.holdsReading(at: count.time) {
            components.totalCount = components.totalCount.clampedAdding(count.total)
            components.goodCount = components.goodCount.clampedAdding(count.good)
            components.reworkCount = components.reworkCount.clampedAdding(count.rework)
            if let order = count.order {
                components.add(ProductComponents(idealTime: count.total.clampedMultiplied(by: count.idealCycleTime ?? 0), totalCount: count.total,
                                                 goodCount: count.good), order: order, product: count.product ?? "")
            }
            if let defect = count.defect { components.scrapByReason[defect, default: 0] = components.scrapByReason[defect, default: 0].clampedAdding(count.defects) }
            if let ideal = count.idealCycleTime {
                components.idealTime = components.idealTime.clampedAdding(count.total.clampedMultiplied(by: ideal))
            } else {
                components.unratedCount = components.unratedCount.clampedAdding(count.total)
            }
        }
        // A scrap reason's total and good readings may fall on either side of the window's edge.
        if components.scrapByReason.values.contains(where: { $0 <= 0 }) { components.scrapByReason = components.scrapByReason.filter { $0.value > 0 } }
        let explained = components.scrapByReason.values.reduce(Int64(0)) { $0.clampedAdding($1) }
        let unexplained = components.scrapCount.clampedSubtracting(explained)
        if unexplained > 0 { components.scrapByReason[QualityEntry.unspecifiedReason, default: 0] += unexplained }
        return components
    }
}
