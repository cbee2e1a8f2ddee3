public import GembaCore
public import GembaRules

/// How one machine's states, counts and speed are read from its tags. Every field has a default
/// that fits the simulator and most JSON devices, so a machine with a `state` tag and
/// `total_count`/`good_count` counters has OEE figures without any setting.
public struct MachineProductionSettings: Sendable, Hashable, Codable {
    /// How counters report units.
    public enum CounterMode: String, Sendable, Hashable, Codable {
        /// A running total (a PLC part counter): units are the increase between readings.
        case cumulative
        /// One sample per cycle (or batch) whose value is the units it made.
        case increments
    }

    /// The tag whose values name the state (`producing`, `breakdown`, `3`, `unplanned_stop/jam`).
    public var stateTag = "state"
    /// Values of the state tag → `category/code`, on top of ``defaultStateCodes`` (and full paths, always accepted).
    public var stateCodes: [String: String] = [:]
    /// When set, states come from this rule on signals instead of the state tag.
    public var rule: StateRule?
    /// When set, states come from these rules over any of the machine's tags, in priority order
    /// (the first that holds names the state), instead of the state tag or `rule`.
    public var stateRules: [StateFromSignals] = []
    /// The state when no state rule holds.
    public var stateOtherwise = "idle"
    public var totalCounter = "total_count"
    /// Good units; when nil, good = total − ``scrapCounter`` (or total when that is nil too).
    public var goodCounter: String? = "good_count"
    public var scrapCounter: String?
    /// Counters of scrap per defect: tag → defect code (`{"scrap_porosity": "porosity"}`). They split
    /// the scrap the good or scrap counter reports; with neither, they are the machine's scrap.
    public var defectCounters: [String: String] = [:]
    /// The tag naming the defect of the scrap counted while it holds (a PLC's "last reject reason"):
    /// scrap the good or scrap counter shows at a reading is put down to its value then; not read
    /// when the machine has counters per defect. nil: none.
    public var scrapReasonTag: String? = "scrap_reason"
    /// Counter of units made good by rework (of the good ones), for first-pass yield; nil: none.
    public var reworkCounter: String? = "rework_count"
    /// The tag whose value is the running order's number: a new value opens an order by itself
    /// (an entered order wins where both run); nil: orders are only entered.
    public var orderTag: String? = "order_number"
    /// The tag naming the product of an order the order tag opens.
    public var productTag: String? = "product"
    /// The tag giving the target quantity of an order the order tag opens.
    public var orderTargetTag: String? = "order_target"
    public var counterMode = CounterMode.cumulative
    /// Where a cumulative counter wraps round to 0 (`65536` for a 16-bit register); nil: a decrease is a reset.
    public var counterWrap: Int64?
    /// The tag carrying the fault code of a failure (values `none`, `""` and `0` mean no fault).
    public var faultCodeTag = "fault_code"
    /// Ideal cycle time per unit, ms; nil: performance stays undefined until it is set.
    public var idealCycleTime: Int64?
    /// Ideal cycle time per product on this machine, ms (a production order's own value comes first).
    public var productIdealCycleTimes: [String: Int64] = [:]
    /// Stops shorter than this are microstops, ms.
    public var microstopThreshold: Int64 = 120_000
    /// A state lasts at most this long without a new state sample, ms, then the time is unknown;
    /// 0 for report-by-exception sources (Sparkplug), whose deaths mark the data stale instead.
    public var noDataTimeout: Int64 = 300_000

    public init() {}

    /// The state values every machine understands: the simulator's and common PLC words.
    public static let defaultStateCodes: [String: String] = [
        "producing": "producing/running", "running": "producing/running", "run": "producing/running",
        "reduced_speed": "reduced_speed/slow_running", "slow": "reduced_speed/slow_running",
        "idle": "idle/unspecified", "stopped": "idle/unspecified",
        "microstop": "microstop/short_stop",
        "setup": "planned_stop/setup", "changeover": "planned_stop/changeover", "cleaning": "planned_stop/cleaning",
        "planned_stop": "planned_stop/planned_maintenance", "maintenance": "planned_stop/planned_maintenance",
        "break": "not_scheduled/break", "no_order": "not_scheduled/no_order", "no_shift": "not_scheduled/no_shift",
        "breakdown": "unplanned_stop/equipment_failure", "fault": "unplanned_stop/equipment_failure",
        "failure": "unplanned_stop/equipment_failure", "jam": "unplanned_stop/jam",
        "material_shortage": "unplanned_stop/material_shortage", "starved": "unplanned_stop/material_shortage",
        "blocked": "unplanned_stop/external", "external": "unplanned_stop/external",
    ]

    /// The reason a state value names: a mapping, a default word, or the value itself when it is a path.
    public func reason(forStateValue value: String) -> String {
        stateCodes[value] ?? Self.defaultStateCodes[value] ?? value
    }

    /// The tags whose samples change this machine's KPIs.
    public var kpiTags: Set<String> {
        var tags: Set<String> = [totalCounter]
        if let derivation = try? stateDerivation() {
            tags.formUnion(derivation.tags)
        } else if let rule {
            tags.formUnion([rule.speedTag])
        } else {
            tags.insert(stateTag)
        }
        if let goodCounter { tags.insert(goodCounter) }
        if let scrapCounter { tags.insert(scrapCounter) }
        if let reworkCounter { tags.insert(reworkCounter) }
        for tag in [orderTag, productTag, orderTargetTag].compactMap({ $0 }) { tags.insert(tag) }
        tags.formUnion(defectCounters.keys)
        if let scrapReasonTag { tags.insert(scrapReasonTag) }
        return tags
    }

    /// The state rules, parsed; nil when there are none.
    public func stateDerivation() throws(ModelError) -> StateDerivation? {
        stateRules.isEmpty ? nil : try StateDerivation(stateRules.map { ($0.state, $0.when) }, otherwise: stateOtherwise)
    }

    /// The ideal cycle time of units made under `order` (its own, its product's on this machine, or the machine's).
    public func idealCycleTime(for order: ProductionOrder?) -> Int64? {
        order?.idealCycleTime ?? order.flatMap { productIdealCycleTimes[$0.product] } ?? idealCycleTime
    }

    /// Checks the values; throws a message naming the field.
    public func validate() throws(ModelError) {
        let named: [(String, String?)] = [("stateTag", stateTag), ("totalCounter", totalCounter), ("faultCodeTag", faultCodeTag),
                                          ("goodCounter", goodCounter), ("scrapCounter", scrapCounter), ("reworkCounter", reworkCounter),
                                          ("orderTag", orderTag), ("productTag", productTag), ("orderTargetTag", orderTargetTag),
                                          ("scrapReasonTag", scrapReasonTag),
                                          ("rule.speedTag", rule?.speedTag)]
        for (field, tag) in named + defectCounters.keys.sorted().map({ ("defectCounters", $0) }) {
            guard let tag else { continue }
            do { try AssetPath.validate(segment: tag, role: field) } catch { throw ModelError(.invalid, "\(field): \(error.message)") }
        }
        if let idealCycleTime, idealCycleTime <= 0 { throw ModelError(.invalid, "idealCycleTime must be positive (ms)") }
        if productIdealCycleTimes.values.contains(where: { $0 <= 0 }) {
            throw ModelError(.invalid, "productIdealCycleTimes must be positive (ms)")
        }
        guard microstopThreshold >= 0, noDataTimeout >= 0 else {
            throw ModelError(.invalid, "microstopThreshold and noDataTimeout must not be negative")
        }
        _ = try stateDerivation()
        for (index, state) in (stateRules.map(\.state) + [stateOtherwise]).enumerated() {
            let path = reason(forStateValue: state)
            guard ReasonCatalogue.standard[path] != nil || path.contains("/") else {
                let field = index < stateRules.count ? "stateRules[\(index + 1)].state" : "stateOtherwise"
                throw ModelError(.invalid, "\(field): \"\(state)\" is neither a state word nor a reason path category/code")
            }
        }
        for (tag, code) in defectCounters.sorted(by: { $0.key < $1.key }) {
            do { try QualityEntry.validate(reason: code) } catch { throw ModelError(.invalid, "defectCounters[\"\(tag)\"]: \(error.message)") }
        }
        if let counterWrap, counterWrap < 2 { throw ModelError(.invalid, "counterWrap must be at least 2") }
        for (value, path) in stateCodes where ReasonCatalogue.standard[path] == nil && !path.contains("/") {
            throw ModelError(.invalid, "stateCodes[\"\(value)\"] must be a reason path category/code, got \"\(path)\"")
        }
    }

    enum CodingKeys: String, CodingKey {
        case stateTag, stateCodes, rule, stateRules, stateOtherwise, totalCounter, goodCounter, scrapCounter, defectCounters, scrapReasonTag, reworkCounter, orderTag, productTag,
             orderTargetTag, counterMode, counterWrap,
             faultCodeTag, idealCycleTime, productIdealCycleTimes, microstopThreshold, noDataTimeout
    }

    // Every field may be left out of a settings document; it then keeps its default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = MachineProductionSettings()
        stateTag = try container.decodeIfPresent(String.self, forKey: .stateTag) ?? defaults.stateTag
        stateCodes = try container.decodeIfPresent([String: String].self, forKey: .stateCodes) ?? [:]
        rule = try container.decodeIfPresent(StateRule.self, forKey: .rule)
        stateRules = try container.decodeIfPresent([StateFromSignals].self, forKey: .stateRules) ?? []
        stateOtherwise = try container.decodeIfPresent(String.self, forKey: .stateOtherwise) ?? defaults.stateOtherwise
        totalCounter = try container.decodeIfPresent(String.self, forKey: .totalCounter) ?? defaults.totalCounter
        goodCounter = container.contains(.goodCounter) ? try container.decodeIfPresent(String.self, forKey: .goodCounter)
            : defaults.goodCounter
        scrapCounter = try container.decodeIfPresent(String.self, forKey: .scrapCounter)
        defectCounters = try container.decodeIfPresent([String: String].self, forKey: .defectCounters) ?? [:]
        reworkCounter = container.contains(.reworkCounter) ? try container.decodeIfPresent(String.self, forKey: .reworkCounter)
            : defaults.reworkCounter
        func tag(_ key: CodingKeys, _ fallback: String?) throws -> String? {
            container.contains(key) ? try container.decodeIfPresent(String.self, forKey: key) : fallback
        }
        scrapReasonTag = try tag(.scrapReasonTag, defaults.scrapReasonTag)
        orderTag = try tag(.orderTag, defaults.orderTag)
        productTag = try tag(.productTag, defaults.productTag)
        orderTargetTag = try tag(.orderTargetTag, defaults.orderTargetTag)
        counterMode = try container.decodeIfPresent(CounterMode.self, forKey: .counterMode) ?? defaults.counterMode
        counterWrap = try container.decodeIfPresent(Int64.self, forKey: .counterWrap)
        faultCodeTag = try container.decodeIfPresent(String.self, forKey: .faultCodeTag) ?? defaults.faultCodeTag
        idealCycleTime = try container.decodeIfPresent(Int64.self, forKey: .idealCycleTime)
        productIdealCycleTimes = try container.decodeIfPresent([String: Int64].self, forKey: .productIdealCycleTimes) ?? [:]
        microstopThreshold = try container.decodeIfPresent(Int64.self, forKey: .microstopThreshold) ?? defaults.microstopThreshold
        noDataTimeout = try container.decodeIfPresent(Int64.self, forKey: .noDataTimeout) ?? defaults.noDataTimeout
    }

    // The counters that default to a tag are written even when turned off (null), so they stay off when read back.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(stateTag, forKey: .stateTag)
        try container.encode(stateCodes, forKey: .stateCodes)
        try container.encodeIfPresent(rule, forKey: .rule)
        try container.encode(stateRules, forKey: .stateRules)
        try container.encode(stateOtherwise, forKey: .stateOtherwise)
        try container.encode(totalCounter, forKey: .totalCounter)
        try container.encode(goodCounter, forKey: .goodCounter)
        try container.encodeIfPresent(scrapCounter, forKey: .scrapCounter)
        try container.encode(defectCounters, forKey: .defectCounters)
        try container.encode(scrapReasonTag, forKey: .scrapReasonTag)
        try container.encode(reworkCounter, forKey: .reworkCounter)
        try container.encode(orderTag, forKey: .orderTag)
        try container.encode(productTag, forKey: .productTag)
        try container.encode(orderTargetTag, forKey: .orderTargetTag)
        try container.encode(counterMode, forKey: .counterMode)
        try container.encodeIfPresent(counterWrap, forKey: .counterWrap)
        try container.encode(faultCodeTag, forKey: .faultCodeTag)
        try container.encodeIfPresent(idealCycleTime, forKey: .idealCycleTime)
        try container.encode(productIdealCycleTimes, forKey: .productIdealCycleTimes)
        try container.encode(microstopThreshold, forKey: .microstopThreshold)
        try container.encode(noDataTimeout, forKey: .noDataTimeout)
    }
}

/// One state rule: the state (a state word or reason path) while the condition holds.
public struct StateFromSignals: Sendable, Hashable, Codable {
    public var state: String
    /// A condition in the rule language (`door_open == true or spindle_load < 5`).
    public var when: String

    public init(state: String, when: String) {
        self.state = state
        self.when = when
    }
}

/// States from signals, for machines without a state tag: producing while the speed is above a
/// threshold (and, when asked, the total counter moved since the previous speed sample); otherwise idle.
public struct StateRule: Sendable, Hashable, Codable {
    public var speedTag: String
    public var speedAbove: Double
    /// Also require the total counter to have moved since the previous speed sample.
    public var counterMustMove: Bool

    public init(speedTag: String, speedAbove: Double, counterMustMove: Bool = false) {
        self.speedTag = speedTag
        self.speedAbove = speedAbove
        self.counterMustMove = counterMustMove
    }

    /// State samples (time, reason) from the speed samples (nil value: no data) and the counter readings.
    public func states(speed: [(time: Int64, value: Double?)], counter: [(time: Int64, value: Int64)]) -> [(time: Int64, reason: String?)] {
        var counterIndex = 0
        var lastCount: Int64?
        var previousCount: Int64?
        return speed.map { sample in
            while counterIndex < counter.count, counter[counterIndex].time <= sample.time {
                lastCount = counter[counterIndex].value
                counterIndex += 1
            }
            defer { previousCount = lastCount }
            guard let value = sample.value else { return (sample.time, nil) }
            let moving = !counterMustMove || (lastCount != nil && lastCount != previousCount)
            return (sample.time, value > speedAbove && moving ? "producing/running" : "idle/unspecified")
        }
    }
}
