public import GembaCore

/// A ratio or duration, or why there is none (no planned time, nothing produced, no failures).
public struct KPIValue: Sendable, Hashable, Codable {
    /// The value: a fraction (0.8667 for 86.67 %) or milliseconds; nil when undefined.
    public let value: Double?
    /// Why the value is nil, or what is odd about it.
    public let note: String?
    /// Set when the value is outside what it should be (performance above 100 %): reported as computed, never clamped.
    public let flagged: Bool

    static func ratio(_ numerator: Int64, _ denominator: Int64, undefined: String) -> KPIValue {
        denominator > 0 ? KPIValue(value: Double(numerator) / Double(denominator), note: nil, flagged: false)
            : KPIValue(value: nil, note: undefined, flagged: false)
    }

    static func product(_ factors: KPIValue...) -> KPIValue {
        if let missing = factors.first(where: { $0.value == nil }) { return KPIValue(value: nil, note: missing.note, flagged: false) }
        return KPIValue(value: factors.reduce(1) { $0 * $1.value! }, note: nil, flagged: factors.contains(where: \.flagged))
    }
}

/// The KPIs of one set of components (a machine, line, area or site over a window).
///
/// ```
/// availability = run time / planned production time
/// performance  = ideal time (Σ ideal cycle time × units) / run time
/// quality      = good units / total units
/// first-pass yield = (good units − reworked units) / total units
/// OEE          = availability × performance × quality  (= ideal time of good units / planned production time)
/// utilization  = planned production time / monitored calendar time
/// TEEP         = OEE × utilization
/// MTBF         = run time / (failures + 1)   ISO 22400-2: mean operating time between failures, over the
///                                             FE + 1 operating periods that FE failures leave
/// MTTR         = repair time / failures
/// ```
public struct KPIs: Sendable, Hashable, Codable {
    public let availability: KPIValue
    public let performance: KPIValue
    public let quality: KPIValue
    public let oee: KPIValue
    public let utilization: KPIValue
    public let teep: KPIValue
    public let mtbf: KPIValue
    public let mttr: KPIValue
    public let scrapRatio: KPIValue
    public let setupRate: KPIValue
    public let firstPassYield: KPIValue

    public init(_ components: KPIComponents) {
        let noPlannedTime = "no planned production time in the window"
        availability = .ratio(components.runTime, components.plannedProductionTime, undefined: noPlannedTime)
        let speed = KPIValue.ratio(components.idealTime, components.runTime, undefined: "no run time in the window")
        if components.unratedCount > 0 {
            performance = KPIValue(value: nil, note: "\(components.unratedCount) units were made without an ideal cycle time",
                                   flagged: false)
        } else if let value = speed.value, value > 1 {
            performance = KPIValue(value: value, note: "performance above 100 %: the ideal cycle time is probably too long",
                                   flagged: true)
        } else {
            performance = speed
        }
        quality = .ratio(components.goodCount, components.totalCount, undefined: "nothing produced in the window")
        oee = components.plannedProductionTime > 0 ? .product(availability, performance, quality)
            : KPIValue(value: nil, note: noPlannedTime, flagged: false)
        utilization = components.calendarTime > 0 && components.monitoredTime == 0
            ? KPIValue(value: nil, note: "the machine was not monitored in the window", flagged: false)
            : .ratio(components.plannedProductionTime, components.monitoredTime, undefined: "an empty window")
        teep = .product(oee, utilization)
        mtbf = components.plannedProductionTime > 0
            ? KPIValue(value: Double(components.runTime) / Double(components.failures + 1), note: nil, flagged: false)
            : KPIValue(value: nil, note: noPlannedTime, flagged: false)
        mttr = .ratio(components.repairTime, components.failures, undefined: "no failures in the window")
        scrapRatio = .ratio(components.scrapCount, components.totalCount, undefined: "nothing produced in the window")
        setupRate = .ratio(components.setupTime, components.plannedProductionTime, undefined: noPlannedTime)
        firstPassYield = .ratio(components.goodCount.clampedSubtracting(components.reworkCount), components.totalCount,
                                undefined: "nothing produced in the window")
    }
}

extension ProductComponents {
    /// Performance while the product was made: its units' ideal time over the run time it had.
    public var performance: KPIValue { .ratio(idealTime, runTime, undefined: "no run time with this product") }
}
