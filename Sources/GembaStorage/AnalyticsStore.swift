public import GembaCore

/// The stored KPI components of one machine over one stretch of time: a piece (at most an hour,
/// inside one shift or gap and one local day) or a whole local day (the sum of its pieces).
/// Long ranges are answered from these, never by rescanning raw samples.
public struct PeriodSummary: Sendable, Hashable {
    public enum Level: Int, Sendable, Hashable {
        case piece = 0
        case day = 1
    }

    public var machine: AssetPath
    public var level: Level
    /// ms since the epoch, `[start, end)`.
    public var start: Int64
    public var end: Int64
    /// The local date in the site's calendar (`2026-11-20`).
    public var day: String
    /// The shift the piece lies in (`2026-11-20 A`); empty outside shifts and for days.
    public var shift: String
    public var components: KPIComponents

    public init(machine: AssetPath, level: Level, start: Int64, end: Int64, day: String, shift: String, components: KPIComponents) {
        self.machine = machine
        self.level = level
        self.start = start
        self.end = end
        self.day = day
        self.shift = shift
        self.components = components
    }
}

/// Which stored summaries a sum takes: one machine's rows of one level lying inside `range`.
public struct SummarySelection: Sendable, Hashable {
    public var machine: AssetPath
    public var level: PeriodSummary.Level
    public var range: Range<Int64>

    public init(machine: AssetPath, level: PeriodSummary.Level, range: Range<Int64>) {
        self.machine = machine
        self.level = level
        self.range = range
    }
}

/// How summed summaries are grouped: one total, per local day, or per shift.
public enum SummaryGrouping: String, Sendable, Hashable {
    case total, day, shift
}

/// What the OEE engine keeps: settings (reason catalogues, shift calendars, machine production
/// settings, as JSON documents), production orders, reasons people gave to stops, and the
/// per-period KPI summaries. Every row carries its tenant.
public protocol AnalyticsStore: Sendable {
    /// One settings document (`kind` names the sort: `calendar`, `machine`, `reasons`), nil when never set.
    func setting(tenant: TenantID, kind: String, key: String) async throws -> String?
    /// Every document of a kind, by key.
    func settings(tenant: TenantID, kind: String) async throws -> [String: String]
    /// Stores a document; nil removes it.
    func setSetting(tenant: TenantID, kind: String, key: String, json: String?) async throws

    /// Orders of one machine (or all) that run at some moment of `range`, by start.
    func orders(tenant: TenantID, machine: AssetPath?, overlapping range: Range<Int64>) async throws -> [ProductionOrder]
    func order(tenant: TenantID, id: String) async throws -> ProductionOrder?
    /// Adds or replaces the order with the same id.
    func saveOrder(_ order: ProductionOrder, tenant: TenantID) async throws

    /// What people recorded about one machine, read together: reasons given to stops and planned
    /// maintenance overlapping `stops`, orders running in `orders`, quality entries in `quality`.
    func annotations(tenant: TenantID, machine: AssetPath, stops: Range<Int64>, orders: Range<Int64>,
                     quality: Range<Int64>) async throws -> MachineAnnotations

    /// Operators' scrap and rework entries of one machine (or all) whose time lies in `range`, by time.
    func qualityEntries(tenant: TenantID, machine: AssetPath?, in range: Range<Int64>) async throws -> [QualityEntry]
    func qualityEntry(tenant: TenantID, id: String) async throws -> QualityEntry?
    func saveQualityEntry(_ entry: QualityEntry, tenant: TenantID) async throws
    /// Removes an entry; false when there is none with that id.
    func deleteQualityEntry(tenant: TenantID, id: String) async throws -> Bool

    /// Reasons given on one machine that start before `range` ends (the newest open one included), by start.
    func stopAssignments(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws -> [StopAssignment]
    /// In one transaction: removes the machine's assignments starting in `range`, then stores `assignments`.
    func replaceStopAssignments(tenant: TenantID, machine: AssetPath, startingIn range: Range<Int64>,
                                with assignments: [StopAssignment]) async throws

    /// Starts of the stored summaries of each machine at one level lying inside `range` (machines without any left out).
    func summaryStarts(tenant: TenantID, machines: [AssetPath], level: PeriodSummary.Level,
                       within range: Range<Int64>) async throws -> [AssetPath: Set<Int64>]
    /// Sums of the selected summaries, by group (the day, the shift, or "" for the total).
    func sumSummaries(tenant: TenantID, _ selections: [SummarySelection], grouping: SummaryGrouping) async throws -> [String: KPIComponents]
    /// Stores summaries, replacing any with the same machine, level and start.
    func saveSummaries(_ summaries: [PeriodSummary], tenant: TenantID) async throws
    /// Removes the machine's summaries (both levels) that overlap `range`.
    func deleteSummaries(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws
    /// The end of the newest stored summary of every machine: samples before it are late.
    func summarizedUntil() async throws -> [(tenant: TenantID, machine: AssetPath, end: Int64)]
}

/// What people recorded about one machine over a span (see ``AnalyticsStore/annotations(tenant:machine:stops:orders:quality:)``).
public struct MachineAnnotations: Sendable {
    public var stopAssignments: [StopAssignment]
    public var orders: [ProductionOrder]
    public var qualityEntries: [QualityEntry]
    /// Work orders' planned maintenance overlapping the stops' range (laid under the reasons people gave).
    public var maintenanceWindows: [MaintenanceWindow]

    public init(stopAssignments: [StopAssignment], orders: [ProductionOrder], qualityEntries: [QualityEntry],
                maintenanceWindows: [MaintenanceWindow] = []) {
        self.stopAssignments = stopAssignments
        self.orders = orders
        self.qualityEntries = qualityEntries
        self.maintenanceWindows = maintenanceWindows
    }
}
