/// The time and count components every KPI is computed from. They add up: the components of a
/// line, a day or a year are the sums of their machines' or shifts' components, and KPIs are only
/// ever computed from summed components, never by averaging percentages.
///
/// Times are milliseconds. Relations (ISO 22400-2 names in brackets):
/// ```
/// calendar time ≥ scheduled time (shift time, all shifts of the window)
/// planned production time (PBT) = scheduled time − excluded time (breaks, no order, no shift)
/// run time (APT)               = planned production time − availability losses (downtime)
/// ```
public struct KPIComponents: Sendable, Hashable, Codable {
    /// The whole window, whatever the calendar says (for TEEP and utilization).
    public var calendarTime: Int64 = 0
    /// Of the window, the time before the machine's first stored sample: not monitored, so neither
    /// scheduled nor a loss (utilization leaves it out of the calendar time it divides by).
    public var notMonitoredTime: Int64 = 0
    /// Monitored time inside shifts.
    public var scheduledTime: Int64 = 0
    /// Time inside shifts that does not count as planned (breaks, no order): loss class `excluded`.
    public var excludedTime: Int64 = 0
    /// Stops inside planned production time: loss class `availability` (unknown included by default).
    public var downtime: Int64 = 0
    /// Time inside shifts without data (its own bucket, whatever its loss class; by default part of `downtime`).
    public var unknownTime: Int64 = 0
    /// Of run time, the time in microstops and at reduced speed.
    public var performanceLossTime: Int64 = 0
    /// Of `downtime`, setup and changeover time.
    public var setupTime: Int64 = 0
    /// Of `downtime`, time in failures (equipment faults), for MTTR.
    public var repairTime: Int64 = 0
    /// Failures that started in the window (a failure counts once, where it started).
    public var failures: Int64 = 0
    /// Units produced, good and scrap.
    public var totalCount: Int64 = 0
    public var goodCount: Int64 = 0
    /// Of `goodCount`, units made good only by reworking them.
    public var reworkCount: Int64 = 0
    /// Scrap units by defect code; scrap no counter per defect or entry explains is `unspecified`.
    public var scrapByReason: [String: Int64] = [:]
    /// Run time, units and ideal time by the product made (the running order's; time and units
    /// without an order are in no product), for performance per product.
    public var byProduct: [String: ProductComponents] = [:]
    /// The same by order (its number), with the order's product.
    public var byOrder: [String: OrderComponents] = [:]
    /// Of `totalCount`, units made without an ideal cycle time (performance is then undefined).
    public var unratedCount: Int64 = 0
    /// Σ ideal cycle time × units, over the products made, ms: the time the units would take at the ideal rate.
    public var idealTime: Int64 = 0
    /// Time inside shifts by reason (`category/code`), every loss class included.
    public var timeByReason: [String: Int64] = [:]
    /// Of `downtime`, the time by reason: the downtime Pareto's bars.
    public var downtimeByReason: [String: Int64] = [:]

    public init() {}

    /// The window's calendar time the machine was monitored in.
    public var monitoredTime: Int64 { calendarTime - notMonitoredTime }
    /// Planned production time (ISO 22400 planned busy time).
    public var plannedProductionTime: Int64 { scheduledTime - excludedTime }
    /// Run time (ISO 22400 actual production time).
    public var runTime: Int64 { plannedProductionTime - downtime }
    public var scrapCount: Int64 { totalCount.clampedSubtracting(goodCount) }

    public static func + (lhs: Self, rhs: Self) -> Self {
        var sum = lhs
        sum += rhs
        return sum
    }

    /// Adds the other's components (held at Int64's bounds: counts come from devices).
    public static func += (lhs: inout Self, rhs: Self) {
        lhs.calendarTime = lhs.calendarTime.clampedAdding(rhs.calendarTime)
        lhs.notMonitoredTime = lhs.notMonitoredTime.clampedAdding(rhs.notMonitoredTime)
        lhs.scheduledTime = lhs.scheduledTime.clampedAdding(rhs.scheduledTime)
        lhs.excludedTime = lhs.excludedTime.clampedAdding(rhs.excludedTime)
        lhs.downtime = lhs.downtime.clampedAdding(rhs.downtime)
        lhs.unknownTime = lhs.unknownTime.clampedAdding(rhs.unknownTime)
        lhs.performanceLossTime = lhs.performanceLossTime.clampedAdding(rhs.performanceLossTime)
        lhs.setupTime = lhs.setupTime.clampedAdding(rhs.setupTime)
        lhs.repairTime = lhs.repairTime.clampedAdding(rhs.repairTime)
        lhs.failures = lhs.failures.clampedAdding(rhs.failures)
        lhs.totalCount = lhs.totalCount.clampedAdding(rhs.totalCount)
        lhs.goodCount = lhs.goodCount.clampedAdding(rhs.goodCount)
        lhs.unratedCount = lhs.unratedCount.clampedAdding(rhs.unratedCount)
        lhs.reworkCount = lhs.reworkCount.clampedAdding(rhs.reworkCount)
        lhs.scrapByReason.merge(rhs.scrapByReason) { $0.clampedAdding($1) }
        lhs.byProduct.merge(rhs.byProduct) { $0 + $1 }
        lhs.byOrder.merge(rhs.byOrder) { OrderComponents(product: $0.product, made: $0.made + $1.made) }
        lhs.idealTime = lhs.idealTime.clampedAdding(rhs.idealTime)
        lhs.timeByReason.merge(rhs.timeByReason) { $0.clampedAdding($1) }
        lhs.downtimeByReason.merge(rhs.downtimeByReason) { $0.clampedAdding($1) }
    }

    /// Lists an order and its product (with nothing yet) when they are not listed.
    public mutating func noteRunning(order: String, product: String) {
        if byOrder[order] == nil { byOrder[order] = OrderComponents(product: product, made: ProductComponents()) }
        if !product.isEmpty, byProduct[product] == nil { byProduct[product] = ProductComponents() }
    }

    /// Adds run time to an order and its product.
    public mutating func addRunTime(_ time: Int64, order: String, product: String) {
        add(ProductComponents(runTime: time), order: order, product: product)
    }

    /// Adds what an order made to it and to its product (an order without a product counts in none).
    public mutating func add(_ made: ProductComponents, order: String, product: String) {
        byOrder[order] = OrderComponents(product: byOrder[order]?.product ?? product, made: (byOrder[order]?.made ?? ProductComponents()) + made)
        if !product.isEmpty { byProduct[product] = (byProduct[product] ?? ProductComponents()) + made }
    }

    /// Scrap by defect code, largest first (ties by code), with each bar's share of all scrap: the quality Pareto.
    public var qualityPareto: [(reason: String, count: Int64, share: Double)] {
        let total = scrapByReason.values.reduce(Int64(0)) { $0.clampedAdding($1) }
        return scrapByReason.filter { $0.value > 0 }.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { ($0.key, $0.value, total > 0 ? Double($0.value) / Double(total) : 0) }
    }

    /// Downtime by reason, largest first (ties by reason), with each bar's share of all downtime.
    public var downtimePareto: [(reason: String, time: Int64, share: Double)] {
        let total = downtimeByReason.values.reduce(0, +)
        return downtimeByReason.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { ($0.key, $0.value, total > 0 ? Double($0.value) / Double(total) : 0) }
    }
}

/// One product's share of a window: the run time while it was made, its units and their ideal time.
public struct ProductComponents: Sendable, Hashable, Codable {
    public var runTime: Int64 = 0
    public var idealTime: Int64 = 0
    public var totalCount: Int64 = 0
    public var goodCount: Int64 = 0

    public init(runTime: Int64 = 0, idealTime: Int64 = 0, totalCount: Int64 = 0, goodCount: Int64 = 0) {
        self.runTime = runTime
        self.idealTime = idealTime
        self.totalCount = totalCount
        self.goodCount = goodCount
    }

    public static func + (lhs: Self, rhs: Self) -> Self {
        ProductComponents(runTime: lhs.runTime.clampedAdding(rhs.runTime), idealTime: lhs.idealTime.clampedAdding(rhs.idealTime),
                          totalCount: lhs.totalCount.clampedAdding(rhs.totalCount), goodCount: lhs.goodCount.clampedAdding(rhs.goodCount))
    }
}

/// One order's share of a window, with the product it made.
public struct OrderComponents: Sendable, Hashable, Codable {
    public var product: String
    public var made: ProductComponents

    public init(product: String, made: ProductComponents) {
        self.product = product
        self.made = made
    }
}
