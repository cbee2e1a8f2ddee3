import GembaCore
@testable import GembaIngest
import GembaStorage
import Testing

/// The registry's managed-asset changes, pure: retire, register ahead within limits, move, remove.
@Suite struct SeriesRegistryTests {
    static let tenant = TenantID.default
    static let press = try! AssetPath("plant1/line1/press-1")
    static let moved = try! AssetPath("plant2/line1/press-1")

    static func point(_ machine: AssetPath, _ tag: String = "temp") -> Point {
        Point(series: SeriesKey(tenant: tenant, machine: machine, tag: tag), sample: Sample(time: .now(), value: .double(1)))
    }

    static func registry() -> SeriesRegistry {
        var registry = SeriesRegistry()
        registry.load(series: [Series(id: 7, key: SeriesKey(tenant: tenant, machine: press, tag: "temp"),
                                      tag: Tag(name: "temp", valueType: .double, kind: .gauge))],
                      machines: [(tenant, Machine(path: press, registeredAt: .now()))])
        return registry
    }

    @Test func aRetiredMachinesPointsAreRefusedWithTheReasonAndNotResolvedLive() {
        var registry = Self.registry()
        registry.setRetired(Self.press, tenant: Self.tenant, true)
        let (batch, rejected) = registry.plan([Self.point(Self.press), Self.point(Self.press, "new")])
        #expect(batch.samples.isEmpty && batch.newSeries.isEmpty)
        #expect(rejected.map(\.error.code) == [.retired, .retired])
        var resolved: [AcceptedSample] = []
        #expect(registry.directory.series(of: [Self.point(Self.press)], into: &resolved) == [nil] && resolved.isEmpty)
        registry.setRetired(Self.press, tenant: Self.tenant, false)
        #expect(registry.plan([Self.point(Self.press)]).batch.samples.map(\.series) == [7])
        #expect(registry.directory.series(of: [Self.point(Self.press)], into: &resolved).map { $0?.id } == [7] && resolved.map(\.seriesID) == [7])
    }

    /// Points are resolved by machine, then tag, whatever order the machines come in.
    @Test func theDirectoryResolvesEachPointOfInterleavedMachines() throws {
        let other = try AssetPath("plant/line/lathe")
        let points = [Self.point(Self.press), Self.point(other), Self.point(Self.press, "new"), Self.point(Self.press)]
        var resolved: [AcceptedSample] = []
        #expect(Self.registry().directory.series(of: points, into: &resolved).map { $0?.id } == [7, nil, nil, 7])
        #expect(resolved.map(\.seriesID) == [7, 7] && resolved.allSatisfy { $0.key.machine == Self.press && $0.key.tag == "temp" })
    }

    @Test func registeringAheadCountsAgainstTheMachineLimit() throws {
        var registry = Self.registry()
        registry.setLimits(TenantLimits(maxMachines: 2), for: Self.tenant)
        try registry.register(Self.moved, tenant: Self.tenant)
        try registry.register(Self.moved, tenant: Self.tenant)  // known: passes
        #expect(throws: ModelError.self) { try registry.register(try AssetPath("plant3/line1/m"), tenant: Self.tenant) }
        // Its first data is not a new machine any more (no registration in the batch).
        #expect(registry.plan([Self.point(Self.moved)]).batch.newMachines.isEmpty)
    }

    @Test func aMovedMachineKeepsItsSeriesIdsAndARemovedOneIsForgotten() {
        var registry = Self.registry()
        registry.setRetired(Self.press, tenant: Self.tenant, true)
        registry.move(Self.press, to: Self.moved, tenant: Self.tenant)
        #expect(registry.key(of: 7)?.machine == Self.moved)
        #expect(registry.plan([Self.point(Self.moved)]).rejected.map(\.error.code) == [.retired], "retirement moves too")
        #expect(Self.resolved(registry, [Self.point(Self.press), Self.point(Self.moved)]) == [nil, nil])
        registry.setRetired(Self.moved, tenant: Self.tenant, false)
        #expect(registry.plan([Self.point(Self.moved)]).batch.samples.map(\.series) == [7])
        #expect(Self.resolved(registry, [Self.point(Self.press), Self.point(Self.moved)]) == [nil, 7])
        #expect(registry.plan([Self.point(Self.press)]).batch.newMachines.count == 1, "the old path is a new machine")
        registry.remove(Self.moved, tenant: Self.tenant)
        #expect(registry.key(of: 7) == nil)
        #expect(Self.resolved(registry, [Self.point(Self.moved)]) == [nil])
        #expect(registry.plan([Self.point(Self.moved)]).batch.newSeries.count == 1)
    }

    /// Series a commit registers reach the directory at once, except a retired machine's, which
    /// reach it when the machine returns to service.
    @Test func committedSeriesJoinTheDirectoryUnlessTheirMachineIsRetired() throws {
        var registry = Self.registry()
        let lathe = try AssetPath("plant1/line2/lathe")
        registry.setRetired(lathe, tenant: Self.tenant, true)
        let speed = Tag(name: "speed", valueType: .double, kind: .gauge)
        registry.committed(WriteBatch(), WriteResult(series: [
            Series(id: 8, key: SeriesKey(tenant: Self.tenant, machine: Self.press, tag: "speed"), tag: speed),
            Series(id: 9, key: SeriesKey(tenant: Self.tenant, machine: lathe, tag: "speed"), tag: speed),
        ], stored: []))
        let points = [Self.point(Self.press, "speed"), Self.point(lathe, "speed"), Self.point(Self.press)]
        #expect(Self.resolved(registry, points) == [8, nil, 7])
        registry.setRetired(lathe, tenant: Self.tenant, false)
        #expect(Self.resolved(registry, points) == [8, 9, 7])
    }

    /// The series id each point resolves to in the registry's directory.
    static func resolved(_ registry: SeriesRegistry, _ points: [Point]) -> [Int64?] {
        var resolved: [AcceptedSample] = []
        return registry.directory.series(of: points, into: &resolved).map { $0?.id }
    }
}
