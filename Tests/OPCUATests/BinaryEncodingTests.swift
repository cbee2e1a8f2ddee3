@testable import OPCUA
import Testing

/// Byte vectors written by asyncua's encoder (PyPI `asyncua` 1.1.8, `asyncua.ua.ua_binary`), an
/// implementation nobody here wrote: each is decoded and encoded back to the same bytes.
@Suite struct BinaryEncodingTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    static func roundTrip<T: UACodable & Equatable>(_ hex: String, _ expected: T) throws {
        var reader = UAReader(bytes(hex))
        let decoded = try T(from: &reader)
        #expect(decoded == expected)
        #expect(reader.remaining == 0)
        #expect(expected.encoded == bytes(hex))
    }

    @Test func nodeIdsInEveryForm() throws {
        try Self.roundTrip("0055", NodeId(85))
        try Self.roundTrip("01020104", NodeId(1025, namespace: 2))
        try Self.roundTrip("022c0170110100", NodeId(70000, namespace: 300))
        try Self.roundTrip("0302000b00000050726573732e5370656564", NodeId("Press.Speed", namespace: 2))
        try Self.roundTrip("040100912b967275fae64a8d28b404dc7daf63", NodeId(namespace: 1, .guid(UAGuid(parsing: "72962B91-FA75-4AE6-8D28-B404DC7DAF63")!)))
        try Self.roundTrip("050300030000000102ff", NodeId(namespace: 3, .opaque([1, 2, 0xFF])))
        try Self.roundTrip("c10001040500000075726e3a7802000000", ExpandedNodeId(NodeId(1025), namespaceURI: "urn:x", serverIndex: 2))
    }

    @Test func nodeIdTextForms() {
        for text in ["i=85", "ns=2;s=Press.Speed", "ns=1;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63", "ns=3;b=AQL/", "ns=2;s=a;b=c"] {
            #expect(NodeId(parsing: text)?.description == text)
        }
        for bad in ["", "x=1", "i=", "i=abc", "ns=;i=1", "ns=70000;i=1", "ns=1", "g=123", "s"] {
            #expect(NodeId(parsing: bad) == nil, "\(bad)")
        }
        #expect(QualifiedName(parsing: "2:Speed") == QualifiedName("Speed", namespace: 2))
        #expect(QualifiedName(parsing: "Objects") == QualifiedName("Objects"))
    }

    @Test func variantsScalarsArraysAndMatrices() throws {
        try Self.roundTrip("0b0000000000000c40", Variant.double(3.5))
        try Self.roundTrip("0c0700000050726573732033", Variant.string("Press 3"))
        try Self.roundTrip("8603000000010000000200000003000000", Variant.array(type: .int32, elements: [.int32(1), .int32(2), .int32(3)]))
        try Self.roundTrip("c506000000010002000300040005000600020000000200000003000000",
                           Variant.array(type: .uint16, elements: (1...6).map { .uint16($0) }, dimensions: [2, 3]))
        try Self.roundTrip("0101", Variant.boolean(true))
        try Self.roundTrip("0db03c5da92184dd01", Variant.dateTime(UADateTime(millisecondsSince1970: 1_796_410_800_123)))
        try Self.roundTrip("150302000000646506000000507265737365", Variant.localizedText(LocalizedText("Presse", locale: "de")))
        try Self.roundTrip("00", Variant.null)
    }

    @Test func aDataValueWithStatusAndBothTimes() throws {
        var value = DataValue(value: .float(72.25), status: StatusCode(rawValue: 0x4000_0000),
                              sourceTimestamp: UADateTime(millisecondsSince1970: 1_796_410_800_123))
        value.serverTimestamp = UADateTime(millisecondsSince1970: 1_796_410_800_128)
        try Self.roundTrip("0f0a0080904200000040b03c5da92184dd0100005ea92184dd01", value)
        #expect(value.statusCode.severity == .uncertain)
    }

    @Test func aReadRequestIsWrittenByteForByteAsAsyncuaWritesIt() {
        let header = RequestHeader(timestamp: UADateTime(millisecondsSince1970: 1_796_410_800_123), requestHandle: 9, timeoutHint: 10_000)
        let bytes = encodeRequest(ReadRequest([ReadValueId(NodeId("Press.Speed", namespace: 2))]), header: header)
        #expect(bytes == Self.bytes("010077020000b03c5da92184dd010900000000000000ffffffff10270000000000000000000000000002000000010000000302000b00000050726573732e53706565640d000000ffffffff0000ffffffff"))
    }

    @Test func aReadResponseFromAsyncuaIsRead() throws {
        let body = Self.bytes("01007a02b03c5da92184dd010700000000000000000000000000000002000000070b000000000000144000000000b03c5da92184dd0103000000348000000000")
        let (header, response) = try decodeResponse(ReadRequest.Response.self, from: body)
        #expect(header.requestHandle == 7)
        #expect(response.results.count == 2)
        #expect(response.results[0].value == .double(5))
        #expect(response.results[0].sourceTimestamp == UADateTime(millisecondsSince1970: 1_796_410_800_123))
        #expect(response.results[1].statusCode == .badNodeIdUnknown)
        #expect(response.results[1].statusCode.description == "BadNodeIdUnknown (0x80340000)")
    }

    @Test func helloAsAsyncuaWritesIt() {
        let hello = UATCPFrame.hello(UATCPLimits(receiveBufferSize: 65_535, sendBufferSize: 65_535, maxMessageSize: 0, maxChunkCount: 0),
                                     endpoint: "opc.tcp://h:4840")
        #expect(hello.body == Self.bytes("00000000ffff0000ffff00000000000000000000100000006f70632e7463703a2f2f683a34383430"))
        #expect(hello.encoded.prefix(8) == [0x48, 0x45, 0x4C, 0x46, 0x30, 0, 0, 0])  // "HELF", 48 bytes
    }

    @Test func hostileLengthsAndNestingAreRefusedWithTheirOffset() {
        // A string claiming 2 GB, an array claiming a billion elements, a truncated double, an unknown type.
        let cases: [([UInt8], String)] = [
            ([0x0C, 0xFF, 0xFF, 0xFF, 0x7F, 0x41], "needs 2147483647 bytes"),
            ([0x86, 0x00, 0xCA, 0x9A, 0x3B, 0x01], "an array of 1000000000 elements"),
            ([0x0B, 0x00, 0x00], "needs 8 bytes"),
            ([0x3F], "unknown Variant type 63"),
            ([0xC6, 0x02, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0], "array dimensions"),
        ]
        for (bytes, reason) in cases {
            var reader = UAReader(bytes)
            #expect(throws: UADecodingError.self) { try Variant(from: &reader) }
            var again = UAReader(bytes)
            do { _ = try Variant(from: &again) } catch { #expect(error.reason.contains(reason), "\(error)") }
        }
        // Variants inside variants, 100 deep: refused, not a stack overflow.
        var reader = UAReader(Array(repeating: 0x18, count: 100) + [0x00])
        #expect(throws: UADecodingError.self) { try Variant(from: &reader) }
    }

    @Test func dateTimesConvertToEpochMilliseconds() {
        #expect(UADateTime(millisecondsSince1970: 0).ticks == 116_444_736_000_000_000)
        #expect(UADateTime(ticks: 0).isUnset)
        #expect(UADateTime(millisecondsSince1970: 1_796_410_800_123).millisecondsSince1970 == 1_796_410_800_123)
    }

    @Test func endpointURLs() throws {
        let url = try EndpointURL(parsing: "opc.tcp://10.0.0.5:4841/gemba")
        #expect(url.host == "10.0.0.5" && url.port == 4841)
        #expect(try EndpointURL(parsing: "opc.tcp://plc").port == 4840)
        #expect(try EndpointURL(parsing: "opc.tcp://[::1]:4850/x").host == "::1")
        for bad in ["http://x", "opc.tcp://", "opc.tcp://h:0", "opc.tcp://h:99999", "opc.tcp://h:x"] {
            #expect(throws: OPCUAError.self, "\(bad)") { try EndpointURL(parsing: bad) }
        }
    }
}
