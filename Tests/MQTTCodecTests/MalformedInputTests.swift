import MQTTCodec
import NIOCore
import Testing

@Suite struct MalformedInputTests {
    func decode(_ bytes: [UInt8], version: ProtocolVersion? = .v5, maximum: Int = 1 << 20) throws -> Packet? {
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = PacketDecoder(version: version, maximumPacketSize: maximum)
        return try decoder.next(from: &buffer)
    }

    func expectError(_ code: MQTTCodecError.Code, _ bytes: [UInt8], version: ProtocolVersion? = .v5,
                     maximum: Int = 1 << 20, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let packet = try decode(bytes, version: version, maximum: maximum)
            Issue.record("expected \(code), decoded \(String(describing: packet))", sourceLocation: sourceLocation)
        } catch let error as MQTTCodecError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func remainingLengthLongerThanFourBytes() {
        expectError(.malformedPacket, [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    }

    @Test func remainingLengthNotMinimal() {
        expectError(.malformedPacket, [0xC0, 0x80, 0x00])
    }

    @Test func incompleteInputWaitsInsteadOfFailing() throws {
        #expect(try decode([0x30]) == nil)
        #expect(try decode([0x30, 0x80]) == nil)
        #expect(try decode([0x30, 0x05, 0x00, 0x01]) == nil)
    }

    @Test func reservedFlags() {
        expectError(.malformedPacket, [0xC1, 0x00])        // PINGREQ with a flag
        expectError(.malformedPacket, [0x80, 0x02, 0x00, 0x01])  // SUBSCRIBE without 0b0010
        expectError(.malformedPacket, [0x00, 0x00])        // type 0
        expectError(.malformedPacket, [0x36, 0x03, 0x00, 0x01, 0x61]) // PUBLISH QoS 3
        expectError(.malformedPacket, [0x38, 0x04, 0x00, 0x01, 0x61, 0x00]) // QoS 0 with DUP
    }

    @Test func invalidUTF8InTopic() {
        expectError(.malformedPacket, [0x30, 0x05, 0x00, 0x02, 0xC3, 0x28, 0x00], version: .v5)
        expectError(.malformedPacket, [0x30, 0x04, 0x00, 0x02, 0xED, 0xA0], version: .v311) // surrogate
        expectError(.malformedPacket, [0x30, 0x04, 0x00, 0x02, 0x61, 0x00], version: .v311) // U+0000
    }

    @Test func wildcardsInTopicName() {
        expectError(.topicNameInvalid, [0x30, 0x05, 0x00, 0x03, 0x61, 0x2F, 0x2B], version: .v311)
        expectError(.topicNameInvalid, [0x30, 0x03, 0x00, 0x01, 0x23], version: .v311)
        expectError(.topicNameInvalid, [0x30, 0x03, 0x00, 0x00, 0x00], version: .v5) // empty, no alias
    }

    @Test func packetTooLargeIsRejectedFromTheHeaderAlone() {
        expectError(.packetTooLarge, [0x30, 0xFF, 0x7F], maximum: 1000)
    }

    @Test func badConnects() {
        // Protocol level 3 (MQIsdp) and 6 are unsupported.
        expectError(.unsupportedProtocolVersion,
                    [0x10, 0x0F, 0x00, 0x06] + Array("MQIsdp".utf8) + [0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61], version: nil)
        expectError(.unsupportedProtocolVersion,
                    [0x10, 0x0D, 0x00, 0x04] + Array("MQTT".utf8) + [0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61], version: nil)
        // Reserved connect flag.
        expectError(.malformedPacket,
                    [0x10, 0x0D, 0x00, 0x04] + Array("MQTT".utf8) + [0x04, 0x03, 0x00, 0x3C, 0x00, 0x01, 0x61], version: nil)
        // Wrong protocol name.
        expectError(.malformedPacket,
                    [0x10, 0x0D, 0x00, 0x04] + Array("MQTX".utf8) + [0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61], version: nil)
        // Anything but CONNECT first.
        expectError(.protocolError, [0xC0, 0x00], version: nil)
    }

    @Test func badProperties() {
        // PUBLISH v5 with a duplicate message expiry interval.
        expectError(.protocolError, [0x30, 0x0F, 0x00, 0x01, 0x61, 0x0A, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2, 0x70])
        // PUBLISH v5 carrying a session expiry interval (CONNECT/CONNACK/DISCONNECT only).
        expectError(.protocolError, [0x30, 0x09, 0x00, 0x01, 0x61, 0x05, 0x11, 0, 0, 0, 1])
        // Property length runs past the packet.
        expectError(.malformedPacket, [0x30, 0x04, 0x00, 0x01, 0x61, 0x09])
        // Topic alias 0.
        expectError(.protocolError, [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x23, 0x00, 0x00])
    }

    @Test func badSubscribe() {
        // No filters.
        expectError(.protocolError, [0x82, 0x03, 0x00, 0x01, 0x00])
        // Reserved option bits.
        expectError(.malformedPacket, [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0xC0])
        // Retain handling 3.
        expectError(.protocolError, [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x30])
        // v3.1.1 options byte above QoS bits.
        expectError(.malformedPacket, [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04], version: .v311)
    }

    @Test func trailingBytesAreMalformed() {
        expectError(.malformedPacket, [0x40, 0x03, 0x00, 0x01, 0x00], version: .v311)
        expectError(.malformedPacket, [0xC0, 0x01, 0x00])
    }

    @Test func authDoesNotExistIn311() {
        expectError(.malformedPacket, [0xF0, 0x00], version: .v311)
    }

    @Test func randomGarbageNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let count = Int.random(in: 0..<40, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if !bytes.isEmpty, Bool.random() { bytes[0] = 0x30 | (bytes[0] & 0x0F) }
            for version in [ProtocolVersion?.none, .v311, .v5] {
                _ = try? decode(bytes, version: version, maximum: 64)
            }
        }
    }
}
