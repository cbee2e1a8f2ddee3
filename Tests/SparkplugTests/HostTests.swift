import GembaCore
@testable import Sparkplug
import Testing

/// The host state machine, event by event: what it stores, what it asks the node, what it reports.
@Suite struct HostTests {
    static let tenant = TenantID.default
    static let now: Int64 = 1_800_000_000_000

    /// Collects the actions of a run of messages.
    struct Run {
        var host = SparkplugHost()
        var actions: [SparkplugHostAction] = []

        mutating func send(_ topic: String, _ payload: SparkplugPayload, tenant: TenantID = HostTests.tenant,
                           at now: Int64 = HostTests.now) {
            actions += host.receive(topic: topic, payload: payload.serialized(), tenant: tenant, connection: 1, now: now)
        }

        mutating func sendRaw(_ topic: String, _ bytes: [UInt8], at now: Int64 = HostTests.now) {
            actions += host.receive(topic: topic, payload: bytes, tenant: HostTests.tenant, connection: 1, now: now)
        }

        var points: [Point] {
            actions.flatMap { action -> [Point] in
                guard case .store(let points) = action else { return [] }
                return points
            }
        }
        var rebirths: [String] { actions.compactMap { if case .publish(let topic, _, _) = $0 { topic } else { nil } } }
        func events(_ kind: SparkplugEvent.Kind) -> [SparkplugEvent] {
            actions.compactMap { if case .event(let event) = $0, event.kind == kind { event } else { nil } }
        }
        func values(of tag: String, machine: String) -> [SampleValue] {
            points.filter { $0.series.tag == tag && $0.series.machine.description == machine }.map(\.sample.value)
        }
        mutating func reset() { actions = [] }
    }

    static func metric(_ name: String?, alias: UInt64? = nil, _ type: SparkplugDataType, _ value: SparkplugValue?,
                       time: UInt64? = nil, historical: Bool = false, unit: String? = nil) -> SparkplugMetric {
        let properties = unit.map { SparkplugPropertySet([("engUnit", SparkplugPropertyValue(type: .string, value: .string($0)))]) }
        return try! SparkplugMetric(name: name, alias: alias, timestamp: time, dataType: type, value: value,
                                    properties: properties, isHistorical: historical)
    }

    static func birth(bdSeq: Int64 = 0, seq: UInt64 = 0) -> SparkplugPayload {
        SparkplugPayload(timestamp: UInt64(now), seq: seq, metrics: [
            metric("bdSeq", .int64, .int(bdSeq)),
            metric("Node Control/Rebirth", .boolean, .boolean(false)),
            metric("Line/Speed", alias: 1, .double, .double(1.5), unit: "m/s"),
            metric("Count", alias: 2, .uint32, .int(10)),
        ])
    }

    static func data(seq: UInt64, _ metrics: SparkplugMetric...) -> SparkplugPayload {
        SparkplugPayload(timestamp: UInt64(now), seq: seq, metrics: metrics)
    }

    static func death(bdSeq: Int64) -> SparkplugPayload {
        SparkplugPayload(timestamp: UInt64(now), metrics: [metric("bdSeq", .int64, .int(bdSeq))])
    }

    @Test func birthRegistersTagsWithUnitsAndSkipsControlMetrics() {
        var run = Run()
        run.send("spBv1.0/Plant1/NBIRTH/Line 4", Self.birth())
        #expect(Set(run.points.map(\.series.tag)) == ["Line.Speed", "Count"])
        #expect(run.points.allSatisfy { $0.series.machine.description == "Plant1/Line_4/_node" })
        #expect(run.points.first { $0.series.tag == "Line.Speed" }?.unit == "m/s")
        #expect(run.values(of: "Count", machine: "Plant1/Line_4/_node") == [.int(10)])
        #expect(run.events(.nodeBirth).count == 1)
    }

    @Test func dataResolvesThroughAliasesWithTheBirthsDatatype() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth())
        run.reset()
        // Data metrics carry only alias and value, as the specification recommends.
        var count = Self.metric(nil, alias: 2, .uint32, .int(11))
        count.dataTypeCode = nil
        run.send("spBv1.0/G/NDATA/N", SparkplugPayload(timestamp: UInt64(Self.now + 10), seq: 1, metrics: [count]))
        #expect(run.values(of: "Count", machine: "G/N/_node") == [.int(11)])
        #expect(run.points.first?.sample.time.millisecondsSinceEpoch == Self.now + 10)
        #expect(run.rebirths.isEmpty)
    }

    @Test func devicesAreBornAndDieWithTheirTagsMarkedStale() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth())
        run.send("spBv1.0/G/DBIRTH/N/Press 7", Self.data(seq: 1, Self.metric("Pressure", .float, .float(0.1))))
        run.send("spBv1.0/G/DDATA/N/Press 7", Self.data(seq: 2, Self.metric("Pressure", .float, .float(2.5), time: UInt64(Self.now + 5))))
        #expect(run.values(of: "Pressure", machine: "G/N/Press_7") == [.double(0.1), .double(2.5)])
        run.reset()
        run.send("spBv1.0/G/DDEATH/N/Press 7", Self.data(seq: 3), at: Self.now + 1_000)
        let stale = run.points
        #expect(stale.count == 1)
        #expect(stale.first?.sample == Sample(time: Timestamp(millisecondsSinceEpoch: Self.now + 1_000), value: .double(2.5), quality: .bad))
        // Data from the dead device asks for a rebirth; a new DBIRTH brings it back with good quality.
        run.reset()
        run.send("spBv1.0/G/DDATA/N/Press 7", Self.data(seq: 4, Self.metric("Pressure", .float, .float(3))))
        #expect(run.events(.dataBeforeBirth).count == 1)
        #expect(run.rebirths == ["spBv1.0/G/NCMD/N"])
        run.send("spBv1.0/G/DBIRTH/N/Press 7", Self.data(seq: 5, Self.metric("Pressure", .float, .float(4))))
        #expect(run.points.last?.sample.quality == .good)
    }

    @Test func nodeDeathMatchesTheBirthsBdSeqAndIgnoresStaleOnes() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth(bdSeq: 5))
        run.send("spBv1.0/G/DBIRTH/N/D", Self.data(seq: 1, Self.metric("T", .double, .double(20))))
        run.reset()
        run.send("spBv1.0/G/NDEATH/N", Self.death(bdSeq: 4))  // the will of an older connection
        #expect(run.points.isEmpty)
        #expect(run.events(.staleDeath).count == 1)
        run.send("spBv1.0/G/NDEATH/N", Self.death(bdSeq: 5), at: Self.now + 2_000)
        #expect(Set(run.points.map(\.series.tag)) == ["Line.Speed", "Count", "T"])
        #expect(run.points.allSatisfy { $0.sample.quality == .bad && $0.sample.time.millisecondsSinceEpoch == Self.now + 2_000 })
        run.reset()
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 2, Self.metric("Count", .uint32, .int(1))))
        #expect(run.events(.dataBeforeBirth).isEmpty, "it may have overtaken a new birth: it waits")
        run.actions += run.host.expire(now: Self.now + 2_000 + 2_000)
        #expect(run.events(.dataBeforeBirth).count == 1)
        #expect(run.rebirths == ["spBv1.0/G/NCMD/N"])
    }

    @Test func unknownAliasesRequestARebirthAtMostOncePerInterval() throws {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth())
        run.reset()
        var unknown = Self.metric(nil, alias: 99, .double, .double(1))
        unknown.dataTypeCode = nil
        for seq in 1...5 { run.send("spBv1.0/G/NDATA/N", Self.data(seq: UInt64(seq), unknown), at: Self.now + Int64(seq)) }
        #expect(run.rebirths == ["spBv1.0/G/NCMD/N"])
        #expect(run.events(.unknownMetric).count == 5)
        #expect(run.events(.rebirthSuppressed).count == 4)
        guard case .publish(_, let bytes, let connection)? = run.actions.first(where: { if case .publish = $0 { true } else { false } })
        else { return }
        #expect(connection == 1)
        let command = try SparkplugPayload(decoding: bytes)
        #expect(command.metrics.first?.name == "Node Control/Rebirth")
        #expect(try command.metrics.first?.value() == .boolean(true))
        #expect(command.seq == nil)
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 6, unknown), at: Self.now + 6_000)
        #expect(run.rebirths.count == 2)
    }

    @Test func outOfOrderMessagesAreReorderedWithinTheWindow() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth())
        run.reset()
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 2, Self.metric("Count", .uint32, .int(12), time: 2)))
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 3, Self.metric("Count", .uint32, .int(13), time: 3)))
        #expect(run.points.isEmpty)
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 1, Self.metric("Count", .uint32, .int(11), time: 1)))
        #expect(run.values(of: "Count", machine: "G/N/_node") == [.int(11), .int(12), .int(13)])
        #expect(run.host.expire(now: Self.now + 10_000).isEmpty)
        #expect(run.rebirths.isEmpty)
    }

    @Test func aGapNotFilledInTimeStoresWhatCameAndRequestsARebirth() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth())
        run.reset()
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 3, Self.metric("Count", .uint32, .int(13), time: 3)))
        run.actions += run.host.expire(now: Self.now + 1_999)
        #expect(run.points.isEmpty)
        run.actions += run.host.expire(now: Self.now + 2_000)
        #expect(run.values(of: "Count", machine: "G/N/_node") == [.int(13)])
        #expect(run.events(.seqGap).count == 1)
        #expect(run.rebirths == ["spBv1.0/G/NCMD/N"])
        // Counting continues after the gap.
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 4, Self.metric("Count", .uint32, .int(14), time: 4)))
        #expect(run.values(of: "Count", machine: "G/N/_node").last == .int(14))
    }

    @Test func theNextGapDeadlineIsTheOldestOpenGapsTimeout() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth())
        run.send("spBv1.0/G/NBIRTH/M", Self.birth())
        #expect(run.host.nextGapDeadline == nil)
        let opened1 = run.host.takeGapOpened()
        #expect(!opened1)
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 3, Self.metric("Count", .uint32, .int(13), time: 3)), at: Self.now + 100)
        let opened2 = run.host.takeGapOpened()
        #expect(opened2)
        let opened3 = run.host.takeGapOpened()
        #expect(!opened3)
        #expect(run.host.nextGapDeadline == Self.now + 100 + 2_000)
        // A second message into the same gap opens nothing new; another node's gap comes later.
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 4, Self.metric("Count", .uint32, .int(14), time: 4)), at: Self.now + 200)
        let opened4 = run.host.takeGapOpened()
        #expect(!opened4)
        run.send("spBv1.0/G/NDATA/M", Self.data(seq: 5, Self.metric("Count", .uint32, .int(15), time: 5)), at: Self.now + 300)
        let opened5 = run.host.takeGapOpened()
        #expect(opened5)
        #expect(run.host.nextGapDeadline == Self.now + 100 + 2_000)
        run.actions += run.host.expire(now: Self.now + 100 + 2_000)
        #expect(run.host.nextGapDeadline == Self.now + 300 + 2_000)
        run.actions += run.host.expire(now: Self.now + 300 + 2_000)
        #expect(run.host.nextGapDeadline == nil)
    }

    @Test func seqWrapsFrom255To0() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth(seq: 254))
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 255, Self.metric("Count", .uint32, .int(1), time: 1)))
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 0, Self.metric("Count", .uint32, .int(2), time: 2)))
        #expect(run.values(of: "Count", machine: "G/N/_node") == [.int(10), .int(1), .int(2)])
        #expect(run.events(.seqGap).isEmpty && run.events(.lateMessage).isEmpty)
    }

    @Test func historicalMetricsKeepTheirTimeAndNeverBecomeTheCurrentValue() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth())
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 1, Self.metric("Count", .uint32, .int(3), time: UInt64(Self.now - 60_000),
                                                                     historical: true)))
        #expect(run.points.last?.sample.time.millisecondsSinceEpoch == Self.now - 60_000)
        run.reset()
        run.send("spBv1.0/G/NDEATH/N", Self.death(bdSeq: 0), at: Self.now + 1)
        #expect(run.values(of: "Count", machine: "G/N/_node") == [.int(10)])
    }

    @Test func badInputIsReportedAndCostsOtherNodesNothing() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/A", Self.birth())
        run.sendRaw("spBv1.0/G/NDATA/B", [0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        run.sendRaw("spBv1.0/G/NDATA", [])
        run.send("spBv1.0/G/NDATA/A", Self.data(seq: 1, Self.metric("Count", .string, .string("eleven"))))
        #expect(run.events(.corruptPayload).count == 1)
        #expect(run.events(.badTopic).count == 1)
        #expect(run.events(.invalidMetric).count == 1)
        run.reset()
        run.send("spBv1.0/G/NDATA/A", Self.data(seq: 2, Self.metric("Count", .uint32, .int(12))))
        #expect(run.values(of: "Count", machine: "G/A/_node") == [.int(12)])
    }

    @Test func tenantsKeepTheirOwnNodes() {
        var run = Run()
        let other = TenantID("acme")!
        run.send("spBv1.0/G/NBIRTH/N", Self.birth(), tenant: other)
        run.reset()
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 1, Self.metric("Count", .uint32, .int(1))))
        run.actions += run.host.expire(now: Self.now + 2_000)
        #expect(run.events(.dataBeforeBirth).count == 1)
        #expect(run.points.isEmpty)
    }

    @Test func templateInstancesBecomeOneTagPerMember() {
        var run = Run()
        let motor = SparkplugTemplate(templateRef: "Motor", isDefinition: false, metrics: [
            Self.metric("rpm", .double, .double(1450)), Self.metric("running", .boolean, .boolean(true)),
        ])
        var birth = Self.birth()
        birth.metrics.append(Self.metric("Motor 1", .template, .template(motor)))
        birth.metrics.append(Self.metric("Samples", .int16Array, .intArray([1, -2])))
        run.send("spBv1.0/G/NBIRTH/N", birth)
        #expect(run.values(of: "Motor_1.rpm", machine: "G/N/_node") == [.double(1450)])
        #expect(run.values(of: "Motor_1.running", machine: "G/N/_node") == [.bool(true)])
        #expect(run.values(of: "Samples", machine: "G/N/_node") == [.string("[1,-2]")])
    }
}

extension HostTests {
    @Test func aStaleMarkFollowsTheLastSampleWhenTheNodesClockRunsAhead() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth())
        run.send("spBv1.0/G/NDATA/N", Self.data(seq: 1, Self.metric("Count", .uint32, .int(11), time: UInt64(Self.now + 5_000))))
        run.reset()
        run.send("spBv1.0/G/NDEATH/N", Self.death(bdSeq: 0), at: Self.now + 1_000)
        let count = run.points.first { $0.series.tag == "Count" }
        #expect(count?.sample.time.millisecondsSinceEpoch == Self.now + 5_001)
        #expect(count?.sample.quality == .bad)
    }
}

extension HostTests {
    /// mqtt-spb-wrapper publishes a device on its own MQTT connection, so its DBIRTH and DDATA can
    /// overtake the node's NBIRTH at the host.
    @Test func messagesThatOvertakeTheNodeBirthFollowIt() {
        var run = Run()
        run.send("spBv1.0/G/DBIRTH/N/D", Self.data(seq: 1, Self.metric("T", .double, .double(20))))
        run.send("spBv1.0/G/DDATA/N/D", Self.data(seq: 2, Self.metric("T", .double, .double(21))))
        #expect(run.points.isEmpty && run.rebirths.isEmpty)
        run.send("spBv1.0/G/NBIRTH/N", Self.birth(), at: Self.now + 100)
        #expect(run.values(of: "T", machine: "G/N/D") == [.double(20), .double(21)])
        #expect(run.events(.dataBeforeBirth).isEmpty && run.rebirths.isEmpty)
        #expect(run.host.expire(now: Self.now + 10_000).isEmpty)
    }

    @Test func dataWithoutSeqBeforeABirthAsksForOneAtOnce() {
        var run = Run()
        run.send("spBv1.0/G/NDATA/N", SparkplugPayload(metrics: [Self.metric("Count", .uint32, .int(1))]))
        #expect(run.events(.dataBeforeBirth).count == 1)
        #expect(run.rebirths == ["spBv1.0/G/NCMD/N"])
    }
}

extension HostTests {
    /// A new NBIRTH without an NDEATH (the death was lost): the old session's tags go stale, then
    /// the new birth's values are good; the same birth twice changes nothing else.
    @Test func aNewBirthWithoutADeathEndsTheOldSession() {
        var run = Run()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth(bdSeq: 3))
        run.send("spBv1.0/G/NBIRTH/N", Self.birth(bdSeq: 3))
        #expect(run.points.allSatisfy { $0.sample.quality == .good })
        run.reset()
        run.send("spBv1.0/G/NBIRTH/N", Self.birth(bdSeq: 4), at: Self.now + 1_000)
        let count = run.points.filter { $0.series.tag == "Count" }.map(\.sample)
        #expect(count.map(\.quality) == [.bad, .good])
        // The birth's own timestamp (the node's clock) is behind the host's mark: it is stored just after it.
        #expect(count[1].time.millisecondsSinceEpoch == count[0].time.millisecondsSinceEpoch + 1)
        run.reset()
        run.send("spBv1.0/G/NDEATH/N", Self.death(bdSeq: 3))  // the lost death, late
        #expect(run.events(.staleDeath).count == 1 && run.points.isEmpty)
    }
}
