/// A production order on one machine: what it makes, how many, and when. Its ideal cycle time,
/// when set, overrides the product's and the machine's for the units made while it runs.
public struct ProductionOrder: Sendable, Hashable, Codable {
    /// The order number, unique in the tenant (`PO-4711`).
    public var id: String
    public var machine: AssetPath
    /// The product (`bracket-12`); the machine's per-product ideal cycle time applies to it.
    public var product: String
    public var targetQuantity: Int64
    /// Start, ms since the epoch.
    public var start: Int64
    /// End, ms since the epoch; nil while the order runs.
    public var end: Int64?
    /// Ideal cycle time per unit, ms; nil: the product's or the machine's.
    public var idealCycleTime: Int64?
    /// Opened and closed by the machine's order tag (see `MachineProductionSettings.orderTag`), not entered.
    public var fromTag: Bool = false

    public init(id: String, machine: AssetPath, product: String, targetQuantity: Int64, start: Int64, end: Int64? = nil,
                idealCycleTime: Int64? = nil, fromTag: Bool = false) {
        self.id = id
        self.machine = machine
        self.product = product
        self.targetQuantity = targetQuantity
        self.start = start
        self.end = end
        self.idealCycleTime = idealCycleTime
        self.fromTag = fromTag
    }

    /// Whether the order runs at `time`.
    public func covers(_ time: Int64) -> Bool { time >= start && time < (end ?? .max) }
}
