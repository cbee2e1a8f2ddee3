/// Per-tenant bounds on what auto-registration may create and how long data is kept.
public struct TenantLimits: Hashable, Sendable, Codable {
    /// Machines the tenant may have; registrations past it are rejected and counted.
    public var maxMachines: Int
    /// Tags each machine may have.
    public var maxTagsPerMachine: Int
    /// How long raw samples are kept, in milliseconds.
    public var rawRetention: Int64
    /// How long per-minute rollups are kept, in milliseconds.
    public var minuteRetention: Int64
    /// How long per-hour rollups are kept, in milliseconds.
    public var hourRetention: Int64

    public static let day: Int64 = 86_400_000

    public init(maxMachines: Int = 10_000, maxTagsPerMachine: Int = 500, rawRetention: Int64 = 30 * day,
                minuteRetention: Int64 = 180 * day, hourRetention: Int64 = 5 * 365 * day) {
        self.maxMachines = maxMachines
        self.maxTagsPerMachine = maxTagsPerMachine
        self.rawRetention = rawRetention
        self.minuteRetention = minuteRetention
        self.hourRetention = hourRetention
    }
}
