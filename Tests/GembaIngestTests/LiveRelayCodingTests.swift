import GembaCore
@testable import GembaIngest
import Synchronization
import Testing

/// What one node relays to the others: the batch format, and which hub subscribers get what.
@Suite struct LiveRelayCodingTests {
    static let press = try! AssetPath("plant1/line1/press-1")
    static let oven = try! AssetPath("plant1/line2/oven")

    static func sample(_ id: Int64, _ tenant: String = "default", _ machine: AssetPath = press, _ tag: String = "temp",
                       time: Int64 = 1_796_000_000_000, _ value: SampleValue = .double(21.5), quality: Quality = .good) -> AcceptedSample {
        AcceptedSample(seriesID: id, key: SeriesKey(tenant: TenantID(tenant)!, machine: machine, tag: tag),
                       sample: Sample(time: Timestamp(millisecondsSinceEpoch: time), value: value, quality: quality))
    }

    @Test func aBatchComesBackAsItWentEveryValueKindAndTenant() throws {
        let samples = [
            Self.sample(1), Self.sample(2, "acme", Self.oven, "state", .string("running · läuft")),
            Self.sample(1, time: 1_796_000_000_100, .double(-0.0), quality: .uncertain), Self.sample(3, "acme", Self.oven, "count", .int(-42)),
            Self.sample(4, "default", Self.press, "door", .bool(true), quality: .bad), Self.sample(5, time: -5, .int(Int64.max)),
        ]
        #expect(try LiveBatch.decode(LiveBatch.encode(samples)) == samples)
        #expect(try LiveBatch.decode(LiveBatch.encode([])) == [])
    }

    @Test func eachSeriesIsWrittenOncePerBatch() {
        let one = LiveBatch.encode([Self.sample(1)]).count
        let hundred = LiveBatch.encode((0..<100).map { Self.sample(1, time: 1_796_000_000_000 + Int64($0)) }).count
        // 99 more samples cost their own bytes (index, time, quality, kind, value: 19), not the key's again.
        #expect(hundred - one == 99 * 19)
    }

    @Test func anythingButAWholeValidBatchIsRefusedWithAReason() {
        let good = LiveBatch.encode([Self.sample(1), Self.sample(2, "acme", Self.oven, "state", .string("on"))])
        // Every truncation fails, none crashes.
        for length in 0..<good.count {
            #expect(throws: LiveBatch.DecodingError.self) { try LiveBatch.decode(good.prefix(length)) }
        }
        var version = good
        version[0] = 9
        #expect(throws: LiveBatch.DecodingError(description: "unknown live batch version")) { try LiveBatch.decode(version) }
        #expect(throws: LiveBatch.DecodingError(description: "bytes after the last sample")) { try LiveBatch.decode(good + [0]) }
        // A count far beyond the bytes is refused before anything is reserved for it.
        #expect(throws: LiveBatch.DecodingError(description: "count larger than the batch")) {
            try LiveBatch.decode([1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        }
        // A series index past the series, a NaN double, an unknown kind.
        var series = LiveBatch.encode([Self.sample(1)])
        let indexOffset = series.count - 19
        series[indexOffset] = 5
        #expect(throws: LiveBatch.DecodingError(description: "series index out of range")) { try LiveBatch.decode(series) }
        let nan = LiveBatch.encode([Self.sample(1)]).dropLast(8) + Array(repeating: 0xFF, count: 8)
        #expect(throws: LiveBatch.DecodingError(description: "a double that is not finite")) { try LiveBatch.decode(nan) }
        var kind = LiveBatch.encode([Self.sample(1)])
        kind[kind.count - 9] = 7
        #expect(throws: LiveBatch.DecodingError(description: "unknown value kind")) { try LiveBatch.decode(kind) }
    }

    @Test func theRelayFeedTakesLocalSamplesOfEveryTenantAndClientsTakeBoth() async {
        let hub = LiveHub()
        let client = hub.subscribe(LiveHub.Filter(tenant: .default))
        let relay = hub.subscribeRelay(maxPending: 100)
        #expect(hub.subscriberCount == 1)  // the relay feed is not a client
        let local = [Self.sample(1), Self.sample(2, "acme", Self.oven)]
        hub.accepted(local)
        #expect(await relay.next()?.samples == local)
        #expect(await client.next()?.samples == [local[0]])
        // Another node's samples reach this node's clients, never the relay (no echo between nodes).
        let remote = [Self.sample(3, "default", Self.oven, "speed")]
        hub.acceptedElsewhere(remote)
        #expect(await client.next()?.samples == remote)
        hub.accepted([Self.sample(1, time: 1_796_000_000_500)])
        #expect(await relay.next()?.samples == [Self.sample(1, time: 1_796_000_000_500)])
        hub.remove(relay)
        hub.remove(client)
        #expect(hub.subscriberCount == 0 && !hub.isInterested)
    }

    /// The relay announces whether its node has live clients when one comes or goes, told by the
    /// hub (not by polling it); the relay feed itself is no client.
    @Test func theHubTellsWhenLiveClientsComeOrGo() {
        let hub = LiveHub()
        let told = Mutex<[Int]>([])
        hub.whenClientsChange { [hub] in told.withLock { $0.append(hub.subscriberCount) } }
        let first = hub.subscribe(LiveHub.Filter(tenant: .default))
        let relay = hub.subscribeRelay(maxPending: 100)
        let second = hub.subscribe(LiveHub.Filter(tenant: TenantID("acme")!))
        hub.remove(relay)
        hub.remove(first)
        hub.remove(second)
        #expect(told.withLock { $0 } == [1, 2, 1, 0])
    }
}
