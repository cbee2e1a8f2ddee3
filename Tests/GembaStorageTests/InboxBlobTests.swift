import GembaCore
@testable import GembaStorage
import Testing

@Suite struct InboxBlobTests {
    @Test func roundTripsEveryValueType() {
        let time = Timestamp(millisecondsSinceEpoch: -5)
        let samples = [
            SeriesSample(series: 1, sample: Sample(time: time, value: .double(-0.125), quality: .bad)),
            SeriesSample(series: Int64.max, sample: Sample(time: time, value: .int(Int64.min))),
            SeriesSample(series: 3, sample: Sample(time: time, value: .bool(true), quality: .uncertain)),
            SeriesSample(series: 4, sample: Sample(time: time, value: .string("läuft 🏭"))),
        ]
        #expect(InboxBlob.decode(InboxBlob.encode(samples)) == samples)
        #expect(InboxBlob.decode([]) == [])
    }

    @Test func damagedBlobsAreRefused() {
        let blob = InboxBlob.encode([SeriesSample(series: 1, sample: Sample(time: Timestamp(millisecondsSinceEpoch: 0), value: .string("x")))])
        #expect(InboxBlob.decode(Array(blob.dropLast())) == nil)
        #expect(InboxBlob.decode(blob + [0]) == nil)
    }
}
