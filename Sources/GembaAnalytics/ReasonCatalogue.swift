public import GembaCore

/// A reason a machine is in a state: `category/code` (`unplanned_stop/equipment_failure`), a name
/// people read, and how its time counts.
public struct ReasonCode: Sendable, Hashable, Codable {
    public var category: MachineStateCategory
    public var code: String
    public var name: String
    public var lossClass: LossClass
    /// An equipment failure (MTBF/MTTR count it).
    public var isFailure: Bool
    /// Setup or changeover (the setup rate counts it).
    public var isSetup: Bool

    public init(_ category: MachineStateCategory, _ code: String, _ name: String, lossClass: LossClass? = nil,
                isFailure: Bool = false, isSetup: Bool = false) {
        self.category = category
        self.code = code
        self.name = name
        self.lossClass = lossClass ?? category.defaultLossClass
        self.isFailure = isFailure
        self.isSetup = isSetup
    }

    /// `category/code`, the form the API and state tags use.
    public var path: String { "\(category.rawValue)/\(code)" }
}

/// A tenant's reason codes, looked up by `category/code`; engineers may change loss classes.
public struct ReasonCatalogue: Sendable, Hashable, Codable {
    public private(set) var reasons: [String: ReasonCode]

    public init(_ reasons: [ReasonCode]) {
        self.reasons = Dictionary(reasons.map { ($0.path, $0) }, uniquingKeysWith: { $1 })
    }

    public subscript(path: String) -> ReasonCode? { reasons[path] }

    /// Adds or replaces a reason.
    public mutating func set(_ reason: ReasonCode) { reasons[reason.path] = reason }

    /// The defaults, after the six big losses: breaks, no shift and no order are excluded from
    /// planned time; setup, changeover, cleaning, planned maintenance and every unplanned stop are
    /// availability losses; microstops and reduced speed are performance losses; unknown (no data)
    /// is an availability loss.
    public static let standard = ReasonCatalogue([
        ReasonCode(.producing, "running", "Producing"),
        ReasonCode(.reducedSpeed, "slow_running", "Reduced speed"),
        ReasonCode(.idle, "unspecified", "Idle, no reason given"),
        ReasonCode(.microstop, "short_stop", "Microstop"),
        ReasonCode(.plannedStop, "setup", "Setup", isSetup: true),
        ReasonCode(.plannedStop, "changeover", "Changeover", isSetup: true),
        ReasonCode(.plannedStop, "cleaning", "Cleaning"),
        ReasonCode(.plannedStop, "planned_maintenance", "Planned maintenance"),
        ReasonCode(.notScheduled, "break", "Break"),
        ReasonCode(.notScheduled, "no_shift", "No shift"),
        ReasonCode(.notScheduled, "no_order", "No order"),
        ReasonCode(.unplannedStop, "equipment_failure", "Equipment failure", isFailure: true),
        ReasonCode(.unplannedStop, "material_shortage", "Material shortage"),
        ReasonCode(.unplannedStop, "jam", "Jam"),
        ReasonCode(.unplannedStop, "external", "External cause"),
        ReasonCode(.unknown, "no_data", "No data"),
    ])
}
