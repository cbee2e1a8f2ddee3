import GembaCore
@testable import Sparkplug
import Testing

/// The third-party lifecycles of `vectors.jsonl` replayed through the host, deviations included:
/// pysparkplug's graceful NDEATH with the next bdSeq, mqtt-spb-wrapper's `DATA/` birth names,
/// its DDEATH without seq and its deaths without timestamps.
@Suite struct VectorReplayTests {
    static func replay() -> (points: [Point], events: [SparkplugEvent], publishes: Int) {
        var host = SparkplugHost()
        var actions: [SparkplugHostAction] = []
        for vector in PayloadVectorTests.vectors {
            actions += host.receive(topic: vector.topic, payload: vector.payload, tenant: .default, connection: 0,
                                    now: 1_795_290_900_000)
        }
        var points: [Point] = [], events: [SparkplugEvent] = [], publishes = 0
        for action in actions {
            switch action {
            case .store(let stored): points += stored
            case .event(let event): events.append(event)
            case .publish: publishes += 1
            }
        }
        return (points, events, publishes)
    }

    static func samples(_ points: [Point], _ machine: String, _ tag: String) -> [Sample] {
        points.filter { $0.series.machine.description == machine && $0.series.tag == tag }.map(\.sample)
    }

    @Test func everyMetricArrivesAndEveryDeathMarksTheTagsStale() {
        let (points, events, publishes) = Self.replay()
        #expect(events.filter(\.kind.isProblem).isEmpty, "\(events.filter(\.kind.isProblem))")
        #expect(publishes == 0, "no rebirth needed")
        let good = points.filter { $0.sample.quality == .good }
        #expect(Self.samples(good, "G1/E1/_node", "Counter").map(\.value) == [.int(7), .int(8), .int(9), .int(10)])
        #expect(Self.samples(good, "G1/E1/_node", "Counter").map(\.time.millisecondsSinceEpoch)
            == [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002, 1_700_000_000_003])
        #expect(Self.samples(good, "G1/E1/_node", "Temperature").map(\.value) == [.double(21.5)])
        #expect(Self.samples(good, "G1/E1/D1", "Pressure").map(\.value) == [.double(1.25), .double(1.5), .double(2.5), .double(3.5)])
        #expect(Self.samples(good, "G1/E1/D1", "Status").map(\.value) == [.string("OK")])
        #expect(Self.samples(good, "G1/E3/_node", "DATA.Temperature").map(\.value) == [.double(21.5), .double(22)])
        #expect(Self.samples(good, "G1/E3/D1", "DATA.Pressure").map(\.value) == [.double(1.25), .double(1.5)])

        let stale = points.filter { $0.sample.quality == .bad }
        #expect(Set(stale.map { "\($0.series.machine)/\($0.series.tag)" }) == [
            "G1/E1/_node/Temperature", "G1/E1/_node/Counter", "G1/E1/D1/Pressure", "G1/E1/D1/Status",
            "G1/E3/_node/DATA.Temperature", "G1/E3/D1/DATA.Pressure",
        ])
        #expect(stale.allSatisfy { $0.sample.time.millisecondsSinceEpoch == 1_795_290_900_000 })
        #expect(Self.samples(stale, "G1/E1/_node", "Counter").map(\.value) == [.int(10)])
        #expect(events.filter { $0.kind == .nodeDeath }.count == 3)
        #expect(events.filter { $0.kind == .deviceDeath }.count == 1)
    }
}
