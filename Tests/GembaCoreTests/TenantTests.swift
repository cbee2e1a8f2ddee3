import GembaCore
import Testing

@Test(arguments: ["default", "acme-plant_1", String(repeating: "a", count: 64)])
func validTenantIDs(raw: String) {
    #expect(TenantID(raw)?.rawValue == raw)
}

@Test(arguments: ["", "Upper", "with space", "slash/y", String(repeating: "a", count: 65), "ümlaut"])
func invalidTenantIDsAreRejected(raw: String) {
    #expect(TenantID(raw) == nil)
}

@Test func timestampFromDurationTruncatesToMilliseconds() {
    let ts = Timestamp(sinceEpoch: .seconds(1_732_200_000) + .microseconds(1_999))
    #expect(ts.millisecondsSinceEpoch == 1_732_200_000_001)
    #expect(ts.adding(milliseconds: 9) > ts)
}
