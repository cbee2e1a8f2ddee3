/// A reason a person gave to (part of) a stop: it replaces the reason the machine reported over
/// `[start, end)`, on stopped time only (producing time is never reclassified). `end` nil: until
/// the machine produces again (a stop still running when the reason was given).
public struct StopAssignment: Sendable, Hashable, Codable {
    public var machine: AssetPath
    /// ms since the epoch.
    public var start: Int64
    public var end: Int64?
    /// `category/code` from the tenant's reason catalogue.
    public var reason: String
    /// The fault code, when the person gave one.
    public var faultCode: String?
    /// Who gave the reason (the user's name, or the API key's).
    public var assignedBy: String
    /// When, ms since the epoch.
    public var assignedAt: Int64

    public init(machine: AssetPath, start: Int64, end: Int64?, reason: String, faultCode: String? = nil, assignedBy: String,
                assignedAt: Int64) {
        self.machine = machine
        self.start = start
        self.end = end
        self.reason = reason
        self.faultCode = faultCode
        self.assignedBy = assignedBy
        self.assignedAt = assignedAt
    }
}
