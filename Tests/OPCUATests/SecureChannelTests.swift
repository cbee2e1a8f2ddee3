@testable import OPCUA
import Testing

/// The secure channel state machine fed frames a server would send, built here by hand from Part 6.
@Suite struct SecureChannelTests {
    static let now = UADateTime(millisecondsSince1970: 1_796_410_800_000)

    /// A response header with `status`, as a server writes it.
    static func responseHeader(_ writer: inout UAWriter, status: StatusCode = .good) {
        now.encode(to: &writer)
        writer.uint32(0)
        status.encode(to: &writer)
        writer.byte(0)  // no diagnostics
        writer.int32(-1)  // string table
        ExtensionObject.empty.encode(to: &writer)
    }

    static func openResponse(sequence: UInt32, requestId: UInt32, channel: UInt32 = 7, token: UInt32 = 1, lifetime: UInt32 = 600_000) -> UATCPFrame {
        var writer = UAWriter()
        writer.uint32(channel)
        writer.string(SecurityPolicy.none.rawValue)
        writer.byteString(nil)
        writer.byteString(nil)
        writer.uint32(sequence)
        writer.uint32(requestId)
        NodeId(449).encode(to: &writer)
        responseHeader(&writer)
        writer.uint32(0)
        writer.uint32(channel)
        writer.uint32(token)
        now.encode(to: &writer)
        writer.uint32(lifetime)
        writer.byteString([])
        return UATCPFrame(type: .open, body: writer.bytes)
    }

    static func message(_ payload: ArraySlice<UInt8>, chunk: Character = "F", sequence: UInt32, requestId: UInt32, channel: UInt32 = 7) -> UATCPFrame {
        var writer = UAWriter()
        writer.uint32(channel)
        writer.uint32(1)
        writer.uint32(sequence)
        writer.uint32(requestId)
        writer.raw(payload)
        return UATCPFrame(type: .message, chunk: UInt8(ascii: chunk.unicodeScalars.first!), body: writer.bytes)
    }

    static func opened() throws -> SecureChannel {
        var channel = SecureChannel(endpoint: "opc.tcp://h:4840")
        _ = try channel.receive(.acknowledge(UATCPLimits(receiveBufferSize: 8_192, sendBufferSize: 8_192, maxMessageSize: 0, maxChunkCount: 0)))
        let (requestId, frame) = try channel.openRequest(now: now, requestHandle: 1, lifetime: 600_000)
        #expect(frame.type == .open)
        #expect(try channel.receive(openResponse(sequence: 51, requestId: requestId)) == .opened(requestId: requestId, try #require(channel.token)))
        return channel
    }

    @Test func openingGivesTheTokenAndRequestsAreCutWithinTheServersBuffer() throws {
        var channel = try Self.opened()
        #expect(channel.token?.channelId == 7 && channel.token?.revisedLifetime == 600_000)
        let body = [UInt8](repeating: 0xAB, count: 20_000)
        let (requestId, frames) = try channel.chunks(body)
        #expect(frames.count == 3)  // 8,192 - 24 bytes of body per chunk
        #expect(frames.map(\.chunk) == [UInt8(ascii: "C"), UInt8(ascii: "C"), UInt8(ascii: "F")])
        #expect(frames.allSatisfy { $0.encoded.count <= 8_192 })
        var sequences: [UInt32] = []
        var joined: [UInt8] = []
        for frame in frames {
            var reader = UAReader(frame.body)
            #expect(try reader.uint32() == 7)
            #expect(try reader.uint32() == 1)
            sequences.append(try reader.uint32())
            #expect(try reader.uint32() == requestId)
            joined += reader.bytes[reader.offset...]
        }
        #expect(joined == body)
        #expect(sequences == [2, 3, 4])  // the OpenSecureChannel request had 1
    }

    @Test func responsesArePutTogetherFromChunks() throws {
        var channel = try Self.opened()
        let payload = Array(0..<100).map { UInt8($0) }
        #expect(try channel.receive(Self.message(payload[0..<40], chunk: "C", sequence: 52, requestId: 9)) == .partial)
        #expect(try channel.receive(Self.message(payload[40..<70], chunk: "C", sequence: 53, requestId: 9)) == .partial)
        #expect(try channel.receive(Self.message(payload[70...], sequence: 54, requestId: 9)) == .response(requestId: 9, body: payload))
    }

    @Test func anAbortChunkFailsItsRequestOnly() throws {
        var channel = try Self.opened()
        _ = try channel.receive(Self.message([1, 2, 3], chunk: "C", sequence: 52, requestId: 9))
        var abort = UAWriter()
        StatusCode.badResponseTooLarge.encode(to: &abort)
        abort.string("too big")
        #expect(try channel.receive(Self.message(abort.bytes[...], chunk: "A", sequence: 53, requestId: 9))
            == .aborted(requestId: 9, .badResponseTooLarge, reason: "too big"))
        #expect(try channel.receive(Self.message([4], sequence: 54, requestId: 10)) == .response(requestId: 10, body: [4]))
    }

    @Test func aSequenceGapAWrongChannelAndAnErrorMessageAreErrors() throws {
        var channel = try Self.opened()
        #expect(throws: OPCUAError.self) { try channel.receive(Self.message([1], sequence: 60, requestId: 9)) }
        var other = try Self.opened()
        #expect(throws: OPCUAError.self) { try other.receive(Self.message([1], sequence: 52, requestId: 9, channel: 8)) }
        var refused = SecureChannel(endpoint: "opc.tcp://h:4840")
        do {
            _ = try refused.receive(.error(.badTcpMessageTooLarge, reason: "no"))
            Issue.record("an ERR must be an error")
        } catch {
            #expect(error.status == .badTcpMessageTooLarge && error.message.contains("no"))
        }
        var tiny = SecureChannel(endpoint: "opc.tcp://h:4840")
        #expect(throws: OPCUAError.self) {
            try tiny.receive(.acknowledge(UATCPLimits(receiveBufferSize: 1_024, sendBufferSize: 8_192, maxMessageSize: 0, maxChunkCount: 0)))
        }
    }

    @Test func theServersLimitsBoundARequest() throws {
        var channel = SecureChannel(endpoint: "opc.tcp://h:4840")
        _ = try channel.receive(.acknowledge(UATCPLimits(receiveBufferSize: 8_192, sendBufferSize: 8_192, maxMessageSize: 20_000, maxChunkCount: 2)))
        let (requestId, _) = try channel.openRequest(now: Self.now, requestHandle: 1, lifetime: 600_000)
        _ = try channel.receive(Self.openResponse(sequence: 1, requestId: requestId))
        #expect(throws: OPCUAError.self) { _ = try channel.chunks([UInt8](repeating: 0, count: 20_001)) }
        #expect(throws: OPCUAError.self) { _ = try channel.chunks([UInt8](repeating: 0, count: 17_000)) }  // 3 chunks of 8,168
        #expect(try channel.chunks([UInt8](repeating: 0, count: 16_000)).frames.count == 2)
    }

    @Test func renewingKeepsTheChannelAndTakesTheNewToken() throws {
        var channel = try Self.opened()
        let (requestId, frame) = try channel.openRequest(now: Self.now, requestHandle: 2, lifetime: 600_000)
        var reader = UAReader(frame.body)
        #expect(try reader.uint32() == 7)  // the open channel's id
        _ = try channel.receive(Self.openResponse(sequence: 52, requestId: requestId, token: 2))
        #expect(channel.token?.tokenId == 2)
    }

    @Test func theFrameDecoderCutsMessagesFromAnySplitAndRefusesGarbage() throws {
        let frames = [UATCPFrame.acknowledge(UATCPLimits()), UATCPFrame(type: .message, body: [1, 2, 3]), .error(.good, reason: "x")]
        let stream = frames.flatMap(\.encoded)
        for split in 1..<stream.count {
            var decoder = UATCPFrameDecoder()
            var out: [UATCPFrame] = []
            decoder.append(stream[..<split])
            while let frame = try decoder.next() { out.append(frame) }
            decoder.append(stream[split...])
            while let frame = try decoder.next() { out.append(frame) }
            #expect(out == frames)
        }
        var garbage = UATCPFrameDecoder()
        garbage.append(Array("GET / HTTP/1.1\r\n".utf8))
        #expect(throws: UADecodingError.self) { try garbage.next() }
        var huge = UATCPFrameDecoder(maximumSize: 65_535)
        huge.append([0x4D, 0x53, 0x47, 0x46, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: UADecodingError.self) { try huge.next() }
    }
}
