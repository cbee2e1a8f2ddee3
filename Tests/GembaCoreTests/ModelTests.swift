import GembaCore
import Testing

@Suite struct AssetPathTests {
    @Test(arguments: ["plant1/press-shop/line3/press-7", "plant1/line3/press-7", "P_1/a.b/L-3"])
    func validPathsRoundTrip(text: String) throws {
        #expect(try AssetPath(text).description == text)
    }

    @Test func segmentsAreNamed() throws {
        let path = try AssetPath("plant1/press-shop/line3/press-7")
        #expect(path.site == "plant1" && path.area == "press-shop" && path.line == "line3" && path.machine == "press-7")
        #expect(path.linePath == "plant1/press-shop/line3")
        #expect(try AssetPath("plant1/line3/press-7").area == nil)
    }

    @Test(arguments: ["", "a/b", "a/b/c/d/e", "a//c", "a/b/c d", "a/b/ü", "a/b/+", "a/b/#", String(repeating: "x", count: 65) + "/b/c"])
    func invalidPathsAreRejected(text: String) {
        #expect(throws: ModelError.self) { try AssetPath(text) }
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2024-11-21T14:40:00Z", Int64(1_732_200_000_000)),
        ("2024-11-21T14:40:00.125Z", 1_732_200_000_125),
        ("2024-11-21T15:40:00.1+01:00", 1_732_200_000_100),
        ("2024-11-21t09:10:00.123456-05:30", 1_732_200_000_123),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2000-02-29T00:00:00Z", 951_782_400_000),
    ])
    func parsesRFC3339(text: String, millis: Int64) {
        #expect(Timestamp(rfc3339: text)?.millisecondsSinceEpoch == millis)
    }

    @Test(arguments: ["", "2024-11-21", "2024-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2024-11-21T24:00:00Z",
                      "2024-11-21T14:40:00", "2024-11-21T14:40:00.Z", "2024-11-21T14:40:00Zjunk", "2024-11-21T14:40:00+0100"])
    func rejectsMalformedRFC3339(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func formatsAndParsesBack() {
        for millis: Int64 in [0, -1, 1_732_200_000_125, 951_782_400_000, 253_402_300_799_999] {
            let time = Timestamp(millisecondsSinceEpoch: millis)
            #expect(Timestamp(rfc3339: time.rfc3339) == time, "\(time.rfc3339)")
        }
        #expect(Timestamp(millisecondsSinceEpoch: 1_732_200_000_125).rfc3339 == "2024-11-21T14:40:00.125Z")
    }
}

@Suite struct SampleValueTests {
    @Test func conversionsLoseNothing() {
        #expect(SampleValue.int(3).converted(to: .double) == .double(3))
        #expect(SampleValue.double(3).converted(to: .int) == .int(3))
        #expect(SampleValue.double(3.5).converted(to: .int) == nil)
        #expect(SampleValue.bool(true).converted(to: .int) == nil)
        #expect(SampleValue.string("x").converted(to: .double) == nil)
        #expect(SampleValue.int(1).restored(as: .bool) == .bool(true))
    }
}

@Suite struct ClampedArithmeticTests {
    @Test func boundsHoldInsteadOfTrapping() {
        #expect(Int64.max.clampedAdding(1) == .max)
        #expect(Int64.min.clampedAdding(-1) == .min)
        #expect(Int64.min.clampedSubtracting(1) == .min)
        #expect(Int64.max.clampedSubtracting(-1) == .max)
        #expect(Int64(1 << 40).clampedMultiplied(by: 1 << 40) == .max)
        #expect(Int64(-(1 << 40)).clampedMultiplied(by: 1 << 40) == .min)
        #expect(Int64(6).clampedMultiplied(by: 7) == 42)
    }

    @Test func timesOutsideRFC3339AreWrittenNotTrapped() {
        #expect(Timestamp(millisecondsSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(millisecondsSinceEpoch: -62_198_755_200_000).rfc3339.hasPrefix("-1-"))
        #expect(Timestamp(millisecondsSinceEpoch: .min).rfc3339.hasPrefix("-"))
        #expect(Timestamp(millisecondsSinceEpoch: .max).rfc3339.hasPrefix("292278994-"))
    }
}
