import MQTTCodec
import NIOCore
import NIOTestUtils
import Testing

@Suite struct RoundTripTests {
    @Test(arguments: [ProtocolVersion.v311, .v5])
    func everyPacketSurvivesEncodeThenDecode(version: ProtocolVersion) throws {
        for packet in PacketFixtures.all(version) {
            var buffer = try packet.encoded(version: version)
            var decoder = PacketDecoder(version: version)
            let decoded = try decoder.next(from: &buffer)
            #expect(decoded == packet, "\(packet.type) in \(version)")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test(arguments: [ProtocolVersion.v311, .v5])
    func decoderHandlesEverySplitOfTheStream(version: ProtocolVersion) throws {
        let packets = PacketFixtures.all(version).filter {
            // Large payloads make the every-split check quadratic; the big packet has its own round-trip test.
            if case .publish(let p) = $0 { return p.payload.readableBytes < 1000 }
            if case .connect = $0 { return false }
            return true
        }
        var stream = ByteBuffer()
        for packet in packets { try packet.encode(into: &stream, version: version) }
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(stream, packets)],
            decoderFactory: { PacketDecoder(version: version) }
        )
    }

    @Test func serverDecoderLearnsTheVersionFromConnect() throws {
        var stream = ByteBuffer()
        try Packet.connect(Connect(protocolVersion: .v5, clientID: "c")).encode(into: &stream, version: .v5)
        var props = Properties()
        props.topicAlias = 1
        let publish = Packet.publish(Publish(topic: "t", payload: ByteBuffer(string: "p"), properties: props))
        try publish.encode(into: &stream, version: .v5)
        var decoder = PacketDecoder()
        _ = try decoder.next(from: &stream)
        #expect(decoder.version == .v5)
        #expect(try decoder.next(from: &stream) == publish)
    }

    @Test func knownBytesFromTheSpecification() throws {
        // MQTT 3.1.1 CONNECT for client "a", clean session, keepalive 60, as mosquitto_pub sends it.
        var bytes = ByteBuffer(bytes: [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C,
                                       0x00, 0x01, 0x61])
        var decoder = PacketDecoder()
        #expect(try decoder.next(from: &bytes) == .connect(Connect(protocolVersion: .v311, clientID: "a", keepAlive: 60)))
        // PINGREQ, and a v5 PUBACK with reason 0x10 and no properties (length 3).
        var more = ByteBuffer(bytes: [0xC0, 0x00, 0x40, 0x03, 0x00, 0x05, 0x10])
        var v5 = PacketDecoder(version: .v5)
        #expect(try v5.next(from: &more) == .pingreq)
        #expect(try v5.next(from: &more) == .puback(PublishAck(packetID: 5, reasonCode: .noMatchingSubscribers)))
    }

    @Test func acknowledgementsHaveTheirKnownBytes() throws {
        let bytes = { (packet: Packet, version: ProtocolVersion) in Array(try packet.encoded(version: version).readableBytesView) }
        // The packet identifier alone: always in 3.1.1, and in 5.0 for success without properties.
        for version in [ProtocolVersion.v311, .v5] {
            #expect(try bytes(.puback(PublishAck(packetID: 0x1234)), version) == [0x40, 0x02, 0x12, 0x34])
            #expect(try bytes(.pubrec(PublishAck(packetID: 7)), version) == [0x50, 0x02, 0x00, 0x07])
            #expect(try bytes(.pubrel(PublishAck(packetID: 7)), version) == [0x62, 0x02, 0x00, 0x07])
            #expect(try bytes(.pubcomp(PublishAck(packetID: 7)), version) == [0x70, 0x02, 0x00, 0x07])
        }
        // A 5.0 reason code other than success is written; 3.1.1 has no place for it.
        let refused = Packet.puback(PublishAck(packetID: 5, reasonCode: .noMatchingSubscribers))
        #expect(try bytes(refused, .v5) == [0x40, 0x03, 0x00, 0x05, 0x10])
        #expect(try bytes(refused, .v311) == [0x40, 0x02, 0x00, 0x05])
    }

    @Test func bodiesOfEveryLengthGetTheirRemainingLength() throws {
        // 127 and 128 bytes sit either side of a one-byte length, 16,383 and 16,384 of a two-byte one.
        for bodyLength in [6, 127, 128, 16_383, 16_384, 20_000] {
            // A 3.1.1 SUBSCRIBE body: packet id (2), then the filter's length (2), the filter, options (1).
            let filter = String(repeating: "a", count: bodyLength - 5)
            let packet = Packet.subscribe(Subscribe(packetID: 9, subscriptions: [Subscription(filter: filter)]))
            var buffer = ByteBuffer(bytes: [0xEE])  // bytes already there stay in front
            try packet.encode(into: &buffer, version: .v311)
            #expect(buffer.readInteger(as: UInt8.self) == 0xEE)
            var decoder = PacketDecoder(version: .v311)
            #expect(try decoder.next(from: &buffer) == packet, "body of \(bodyLength) bytes")
            #expect(buffer.readableBytes == 0)
        }
    }

    @Test func aPacketThatCannotBeEncodedLeavesTheBufferAsItWas() throws {
        var buffer = ByteBuffer(bytes: [1, 2, 3])
        #expect(throws: MQTTCodecError.self) { try Packet.auth(Auth()).encode(into: &buffer, version: .v311) }
        #expect(Array(buffer.readableBytesView) == [1, 2, 3])
    }

    @Test func v311TranslatesFailureCodes() throws {
        var buffer = try Packet.suback(SubAck(packetID: 1, reasonCodes: [.notAuthorized])).encoded(version: .v311)
        var decoder = PacketDecoder(version: .v311)
        #expect(try decoder.next(from: &buffer) == .suback(SubAck(packetID: 1, reasonCodes: [.unspecifiedError])))
        var connack = try Packet.connack(ConnAck(reasonCode: .badUsernameOrPassword)).encoded(version: .v311)
        #expect(Array(connack.readableBytesView) == [0x20, 0x02, 0x00, 0x04])
        #expect(try decoder.next(from: &connack) == .connack(ConnAck(reasonCode: .badUsernameOrPassword)))
    }
}
