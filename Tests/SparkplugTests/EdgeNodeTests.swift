import GembaCore
@testable import Sparkplug
import Testing

/// Gemba's edge node, checked message by message and against Gemba's own host.
@Suite struct EdgeNodeTests {
    static func edge(primaryHost: String? = nil) -> SparkplugEdgeNode {
        SparkplugEdgeNode(
            configuration: .init(group: "Plant1", node: "Line1", primaryHost: primaryHost),
            nodeMetrics: [.init(name: "Line/Speed", dataType: .double, unit: "m/min")],
            devices: [(id: "Press1", metrics: [.init(name: "count", dataType: .int64), .init(name: "state", dataType: .string)])])
    }

    static func publishes(_ actions: [SparkplugEdgeNode.Action]) -> [(String, SparkplugPayload)] {
        actions.compactMap { action in
            guard case .publish(let topic, let bytes) = action else { return nil }
            return (topic, try! SparkplugPayload(decoding: bytes))
        }
    }

    @Test func birthsCarryBdSeqAliasesAndSeqThenDataOnlyWhatChanged() throws {
        var edge = Self.edge()
        let will = try SparkplugPayload(decoding: edge.will().payload)
        _ = edge.update(device: "Press1", values: [("count", .int(5)), ("state", .string("producing"))], now: 1)
        let births = Self.publishes(edge.connected(now: 10))
        #expect(births.map(\.0) == ["spBv1.0/Plant1/NBIRTH/Line1", "spBv1.0/Plant1/DBIRTH/Line1/Press1"])
        #expect(births.map(\.1.seq) == [0, 1])
        #expect(try births[0].1.metrics.first { $0.name == "bdSeq" }?.value() == .int(0))
        #expect(try will.metrics.first?.value() == .int(0))
        let count = births[1].1.metrics.first { $0.name == "count" }
        #expect(count?.alias != nil)
        #expect(try count?.value() == .int(5))
        #expect(births[0].1.metrics.first { $0.name == "Line/Speed" }?.isNull == true)
        #expect(births[0].1.metrics.first { $0.name == "Line/Speed" }?.properties?["engUnit"]?.value == .string("m/min"))

        let data = Self.publishes(edge.update(device: "Press1", values: [("count", .int(6)), ("state", .string("producing"))], now: 20))
        #expect(data.count == 1)
        #expect(data[0].0 == "spBv1.0/Plant1/DDATA/Line1/Press1")
        #expect(data[0].1.seq == 2)
        #expect(data[0].1.metrics.count == 1)  // report by exception: state did not change
        #expect(data[0].1.metrics[0].name == nil && data[0].1.metrics[0].alias == count?.alias)
        #expect(edge.update(device: "Press1", values: [("count", .int(6))], now: 30).isEmpty)
    }

    @Test func gembasHostReadsGembasEdgeNode() throws {
        var edge = Self.edge()
        var host = SparkplugHost()
        var points: [Point] = []
        func deliver(_ actions: [SparkplugEdgeNode.Action], now: Int64) {
            for case .publish(let topic, let bytes) in actions {
                for case .store(let stored) in host.receive(topic: topic, payload: bytes, tenant: .default, connection: 0, now: now) {
                    points += stored
                }
            }
        }
        _ = edge.will()
        deliver(edge.connected(now: 1_000), now: 1_000)
        deliver(edge.update(device: nil, values: [("Line/Speed", .double(12.5))], now: 1_001), now: 1_001)
        for step in 0..<300 {  // through a seq wrap
            deliver(edge.update(device: "Press1", values: [("count", .int(Int64(step)))], now: 2_000 + UInt64(step)), now: 2_000)
        }
        #expect(points.filter { $0.series.tag == "count" }.map(\.sample.value) == (0..<300).map { .int(Int64($0)) })
        #expect(points.first { $0.series.tag == "Line.Speed" }?.series.machine.description == "Plant1/Line1/_node")
        #expect(points.first { $0.series.tag == "Line.Speed" }?.unit == "m/min")
        // A graceful disconnect marks everything stale; the next connection's will carries the next bdSeq.
        points = []
        deliver(edge.disconnect(now: 3_000), now: 3_000)
        #expect(points.count == 2 && points.allSatisfy { $0.sample.quality == .bad })
        let next = try SparkplugPayload(decoding: edge.will().payload)
        #expect(try next.metrics.first?.value() == .int(1))
    }

    @Test func rebirthAndWritesFromTheHost() throws {
        var edge = Self.edge()
        _ = edge.will()
        _ = edge.connected(now: 1)
        let rebirth = SparkplugPayload(metrics: [try! SparkplugMetric(name: "Node Control/Rebirth", dataType: .boolean, value: .boolean(true))])
        let again = Self.publishes(edge.received(topic: "spBv1.0/Plant1/NCMD/Line1", payload: rebirth.serialized(), now: 5))
        #expect(again.map(\.0) == ["spBv1.0/Plant1/NBIRTH/Line1", "spBv1.0/Plant1/DBIRTH/Line1/Press1"])
        #expect(again[0].1.seq == 0)

        var host = SparkplugHost()
        for (topic, payload) in again { _ = host.receive(topic: topic, payload: payload.serialized(), tenant: .default, connection: 0, now: 5) }
        let press = try AssetPath("Plant1/Line1/Press1")
        let command = try host.command(tenant: .default, machine: press, tag: "count", value: .int(99), now: 6)
        #expect(command.topic == "spBv1.0/Plant1/DCMD/Line1/Press1")
        #expect(edge.received(topic: command.topic, payload: command.payload, now: 6)
            == [.write(device: "Press1", metric: "count", value: .int(99))])
        #expect(throws: ModelError.self) {
            try host.command(tenant: .default, machine: press, tag: "count", value: .string("x"), now: 6)
        }
    }

    @Test func waitsForThePrimaryHostsState() throws {
        var edge = Self.edge(primaryHost: "gemba")
        _ = edge.will()
        #expect(edge.subscriptions.contains("spBv1.0/STATE/gemba"))
        #expect(edge.connected(now: 1).isEmpty)
        #expect(edge.update(device: "Press1", values: [("count", .int(1))], now: 2).isEmpty)
        let online = SparkplugHostState(online: true, timestamp: 1).json
        #expect(edge.received(topic: "spBv1.0/STATE/other", payload: online, now: 3).isEmpty)
        let births = Self.publishes(edge.received(topic: "spBv1.0/STATE/gemba", payload: online, now: 3))
        #expect(births.count == 2)
        #expect(try births[1].1.metrics.first { $0.name == "count" }?.value() == .int(1))
        let offline = SparkplugHostState(online: false, timestamp: 1).json
        _ = edge.received(topic: "spBv1.0/STATE/gemba", payload: offline, now: 4)
        #expect(edge.update(device: "Press1", values: [("count", .int(2))], now: 5).isEmpty)
    }

    @Test func aDeadbandHoldsBackSmallMovesAndQualityTravelsWithTheSourceTime() throws {
        var edge = SparkplugEdgeNode(configuration: .init(group: "Plant1", node: "Line1"), nodeMetrics: [],
                                     devices: [(id: "Oven", metrics: [.init(name: "temp", dataType: .double, deadband: 0.5)])])
        _ = edge.will()
        _ = edge.update(device: "Oven", readings: [.init(name: "temp", value: .double(70), timestamp: 5)], now: 9)
        let birth = Self.publishes(edge.connected(now: 10))[1].1.metrics[0]
        #expect(try birth.value() == .double(70) && birth.timestamp == 5)
        // 70.4 and 70.3 are within 0.5 of the 70 the host has; 70.6 is not.
        #expect(edge.update(device: "Oven", readings: [.init(name: "temp", value: .double(70.4), timestamp: 11)], now: 12).isEmpty)
        #expect(edge.update(device: "Oven", readings: [.init(name: "temp", value: .double(70.3), timestamp: 13)], now: 14).isEmpty)
        let moved = Self.publishes(edge.update(device: "Oven", readings: [.init(name: "temp", value: .double(70.6), timestamp: 15)], now: 16))
        #expect(try moved.first?.1.metrics.first?.value(as: .double) == .double(70.6) && moved.first?.1.metrics.first?.timestamp == 15)
        // The same value gone bad is news, sent with Ignition's Quality code, and Gemba's host stores it bad.
        let bad = Self.publishes(edge.update(device: "Oven", readings: [.init(name: "temp", value: .double(70.6), quality: .bad, timestamp: 17)], now: 18))
        #expect(bad.first?.1.metrics.first?.properties?["Quality"]?.value == .int(0))
        var host = SparkplugHost()
        _ = host.receive(topic: "spBv1.0/Plant1/NBIRTH/Line1", payload: Self.publishes(edge.connected(now: 19))[0].1.serialized(),
                         tenant: .default, connection: 0, now: 19)
        let rebirth = Self.publishes(edge.connected(now: 20))
        var stored: [Point] = []
        for (topic, payload) in rebirth {
            for case .store(let points) in host.receive(topic: topic, payload: payload.serialized(), tenant: .default, connection: 0, now: 20) {
                stored += points
            }
        }
        #expect(stored.first { $0.series.tag == "temp" }?.sample.quality == .bad)
    }

    @Test func devicesComeAndGoWhileTheNodeIsOnline() throws {
        var edge = Self.edge()
        _ = edge.will()
        _ = edge.connected(now: 1)
        let born = Self.publishes(edge.setDevice("Oven", metrics: [.init(name: "temp", dataType: .double)], now: 2))
        #expect(born.map(\.0) == ["spBv1.0/Plant1/DBIRTH/Line1/Oven"])
        let aliases = Self.publishes(edge.connected(now: 3)).flatMap { $0.1.metrics.compactMap(\.alias) }
        #expect(Set(aliases).count == aliases.count)  // a new device's aliases are new
        #expect(Self.publishes(edge.removeDevice("Press1", now: 4)).map(\.0) == ["spBv1.0/Plant1/DDEATH/Line1/Press1"])
        #expect(edge.devices == ["Oven"])
        #expect(edge.update(device: "Press1", values: [("count", .int(1))], now: 5).isEmpty)
    }
}
