import Foundation
import GembaAnalytics
import GembaCore
import GembaIngest
import GembaServer
import GembaStorage
import Logging
import Synchronization
import Testing

/// What one engine announced, in order.
final class Announced: Sendable {
    let changes = Mutex<[OEEEngine.Change]>([])
}

/// Two engines over one store stand for two nodes on one database: what one changes, the other
/// follows once handed the change (on PostgreSQL, the change feed hands it over).
@Suite struct OEENodesTests {
    let store: SQLiteStore
    let a: OEEEngine
    let b: OEEEngine
    let announced = Announced()
    static let site = "p"
    static let machine = try! AssetPath("p/l/m")

    init() throws {
        store = try SQLiteStore(directory: NSTemporaryDirectory() + "gemba-oee-nodes-\(UUID().uuidString)", logger: Logger(label: "test"))
        a = OEEEngine(telemetry: store, store: store, logger: Logger(label: "test"))
        b = OEEEngine(telemetry: store, store: store, logger: Logger(label: "test"))
        a.announceChanges { [announced] change in announced.changes.withLock { $0.append(change) } }
    }

    /// The last change `a` announced, as the other node receives it (encoded and decoded).
    func lastAnnounced() throws -> OEEEngine.Change {
        let change = try #require(announced.changes.withLock { $0.last })
        return try #require(OEEEngine.Change(encoded: change.encoded))
    }

    @Test func aCalendarOrSettingsChangedOnOneNodeIsReadAgainOnTheOther() async throws {
        #expect(try await b.calendar(tenant: .default, site: Self.site) == nil)
        let calendar = try ShiftCalendar(timeZone: "UTC", patterns: [.init(name: "A", weekdays: Set(1...7), start: 360, end: 840)])
        try await a.setCalendar(calendar, tenant: .default, site: Self.site)
        #expect(try await b.calendar(tenant: .default, site: Self.site) == nil)  // cached: what a node without the feed would answer
        let change = try lastAnnounced()
        #expect(change.kind == .calendar && change.key == Self.site)
        b.follow(change)
        #expect(try await b.calendar(tenant: .default, site: Self.site) == calendar)

        #expect(try await b.settings(tenant: .default, machine: Self.machine).idealCycleTime == nil)
        var settings = MachineProductionSettings()
        settings.idealCycleTime = 1500
        try await a.setSettings(settings, tenant: .default, machine: Self.machine)
        b.follow(try lastAnnounced())
        #expect(try await b.settings(tenant: .default, machine: Self.machine).idealCycleTime == 1500)
    }

    @Test func summariesStoredOnOneNodeMakeTheOthersSamplesLate() throws {
        #expect(!b.hasSummaries && !b.mayBeLate(1_000))
        b.follow(OEEEngine.Change(encoded: #"{"kind":"summarized","tenant":"default","key":"p/l/m","end":5000}"#)!)
        #expect(b.hasSummaries && b.mayBeLate(5_000) && !b.mayBeLate(5_001))
    }

    @Test func changesThatAreNotOnesAreIgnored() {
        #expect(OEEEngine.Change(encoded: "not json") == nil)
        #expect(OEEEngine.Change(encoded: #"{"kind":"reboot","tenant":"default","key":""}"#) == nil)
        // A tenant or machine that cannot be one changes nothing.
        b.follow(OEEEngine.Change(encoded: #"{"kind":"summarized","tenant":"Not A Tenant","key":"p/l/m","end":5000}"#)!)
        b.follow(OEEEngine.Change(encoded: #"{"kind":"summarized","tenant":"default","key":"no machine","end":5000}"#)!)
        #expect(!b.hasSummaries)
    }
}

/// A machine retired, moved or deleted through another node, applied to this node's registry.
@Suite struct AssetChangeTests {
    static let machine = try! AssetPath("p/l/m")

    /// Why the registry refuses a sample of `machine` now (nil: it takes it).
    func refusal(_ pipeline: IngestPipeline, _ machine: AssetPath) throws -> ModelError.Code? {
        let point = Point(series: SeriesKey(tenant: .default, machine: machine, tag: "temp"), sample: Sample(time: .now(), value: .double(1)))
        return try pipeline.updateRegistry { registry in registry.plan([point]).rejected.first?.error.code }
    }

    @Test func aRetirementAndAReinstatementTravelAndApply() throws {
        let store = try SQLiteStore(directory: NSTemporaryDirectory() + "gemba-asset-change-\(UUID().uuidString)", logger: Logger(label: "test"))
        let pipeline = IngestPipeline(store: store, logger: Logger(label: "test"))
        #expect(try refusal(pipeline, Self.machine) == nil)
        let retired = try #require(AssetChange(encoded: AssetChange(.retired, tenant: .default, machine: Self.machine).encoded))
        retired.apply(to: pipeline, alarms: nil, oee: nil)
        #expect(try refusal(pipeline, Self.machine) == .retired)
        AssetChange(.reinstated, tenant: .default, machine: Self.machine).apply(to: pipeline, alarms: nil, oee: nil)
        #expect(try refusal(pipeline, Self.machine) == nil)
        // A retired machine moved stays retired at its new path.
        retired.apply(to: pipeline, alarms: nil, oee: nil)
        let target = try AssetPath("p/l/n")
        AssetChange(.moved, tenant: .default, machine: Self.machine, target: target).apply(to: pipeline, alarms: nil, oee: nil)
        #expect(try refusal(pipeline, target) == .retired && refusal(pipeline, Self.machine) == nil)
    }

    @Test func changesThatAreNotOnesAreIgnored() {
        #expect(AssetChange(encoded: #"{"kind":"renamed","tenant":"default","machine":"p/l/m"}"#) == nil)
        #expect(AssetChange(encoded: "") == nil)
    }
}
