/// The security policies a channel may use (Part 7). This client speaks `None`, `Basic256Sha256`
/// and `Aes128_Sha256_RsaOaep`; the others are named so that an endpoint offering only them is
/// refused with a clear message.
public enum SecurityPolicy: String, Sendable, Hashable, CaseIterable {
    case none = "http://opcfoundation.org/UA/SecurityPolicy#None"
    case basic256Sha256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
    case aes128Sha256RsaOaep = "http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep"
    case aes256Sha256RsaPss = "http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss"
    case basic128Rsa15 = "http://opcfoundation.org/UA/SecurityPolicy#Basic128Rsa15"
    case basic256 = "http://opcfoundation.org/UA/SecurityPolicy#Basic256"

    /// The short name after `#`, as people write it in configuration files.
    public var name: String { String(rawValue.split(separator: "#").last!) }
}

/// Message security mode of an endpoint (Part 4 §7.20).
public enum MessageSecurityMode: Int32, Sendable, Hashable, CustomStringConvertible {
    case invalid = 0, none = 1, sign = 2, signAndEncrypt = 3

    public var description: String {
        switch self {
        case .invalid: "Invalid"
        case .none: "None"
        case .sign: "Sign"
        case .signAndEncrypt: "SignAndEncrypt"
        }
    }
}

/// A channel security token (Part 4 §5.5.2.2): the channel and token ids and how long the token lives.
public struct ChannelSecurityToken: Sendable, Hashable, UADecodable {
    public var channelId: UInt32
    public var tokenId: UInt32
    public var createdAt: UADateTime
    /// ms.
    public var revisedLifetime: UInt32

    public init(from reader: inout UAReader) throws(UADecodingError) {
        channelId = try reader.uint32()
        tokenId = try reader.uint32()
        createdAt = try UADateTime(from: &reader)
        revisedLifetime = try reader.uint32()
    }
}

/// The secure channel of a UA-TCP connection as a pure state machine (Part 6 §6.7): the Hello,
/// the OpenSecureChannel exchange (issue and renew), requests cut into chunks within the
/// server's buffer and limits, and responses put together from chunks, with sequence numbers
/// checked. Under policy None the bytes are the protocol; under a secured policy a
/// ``ChannelSecurity`` signs and encrypts each chunk and checks what arrives.
///
/// ```
/// OPN chunk: | header | channel id | policy URI, sender certificate, receiver thumbprint | sequence number, request id | body |
/// MSG/CLO:   | header | channel id | token id                                           | sequence number, request id | body |
/// ```
public struct SecureChannel: Sendable {
    /// What a received frame meant.
    public enum Event: Sendable, Hashable {
        /// The server acknowledged the Hello with its limits.
        case acknowledged(UATCPLimits)
        /// The channel is open (or its token renewed) in answer to request `requestId`.
        case opened(requestId: UInt32, ChannelSecurityToken)
        /// A whole response body for request `requestId`.
        case response(requestId: UInt32, body: [UInt8])
        /// The server gave up on sending the response to `requestId`.
        case aborted(requestId: UInt32, StatusCode, reason: String)
        /// A chunk of a response that is not complete yet.
        case partial
    }

    public let endpoint: String
    public let local: UATCPLimits
    /// What the server acknowledged; nil before its ACK.
    public private(set) var remote: UATCPLimits?
    public private(set) var token: ChannelSecurityToken?
    private var sendSequence: UInt32 = 0
    private var receiveSequence: UInt32?
    private var lastRequestId: UInt32 = 0
    private var partial: [UInt32: (chunks: Int, body: [UInt8])] = [:]
    /// Nil under policy None.
    private(set) var security: ChannelSecurity?

    init(endpoint: String, limits: UATCPLimits = UATCPLimits(), security: ChannelSecurity? = nil) {
        self.endpoint = endpoint
        local = limits
        self.security = security
    }

    public init(endpoint: String, limits: UATCPLimits = UATCPLimits()) {
        self.init(endpoint: endpoint, limits: limits, security: nil)
    }

    public var isOpen: Bool { token != nil }

    /// The Hello that starts the connection.
    public func hello() -> UATCPFrame { .hello(local, endpoint: endpoint) }

    /// An OpenSecureChannel request (issue, or renew once open), with its request id.
    public mutating func openRequest(now: UADateTime, requestHandle: UInt32, lifetime: UInt32) throws(OPCUAError) -> (requestId: UInt32, frame: UATCPFrame) {
        security?.renewNonce()
        var body = UAWriter()
        NodeId(446).encode(to: &body)
        RequestHeader(timestamp: now, requestHandle: requestHandle, timeoutHint: 10_000).encode(to: &body)
        body.uint32(0)  // client protocol version
        body.int32(token == nil ? 0 : 1)  // issue or renew
        body.int32((security?.mode ?? .none).rawValue)
        body.byteString(security?.localNonce ?? [])
        body.uint32(lifetime)

        let requestId = nextRequestId()
        var prefix = UAWriter(capacity: 2_048)
        prefix.uint32(token?.channelId ?? 0)
        if let security {
            security.asymmetricHeader(&prefix)
        } else {
            prefix.string(SecurityPolicy.none.rawValue)
            prefix.byteString(nil)  // sender certificate
            prefix.byteString(nil)  // receiver certificate thumbprint
        }
        var plain = UAWriter(capacity: body.bytes.count + 8)
        plain.uint32(nextSequence())
        plain.uint32(requestId)
        plain.raw(body.bytes)
        if let security { return (requestId, try security.sealAsymmetric(type: .open, prefix: prefix.bytes, plain: plain.bytes)) }
        return (requestId, UATCPFrame(type: .open, body: prefix.bytes + plain.bytes))
    }

    /// A service request's body cut into MSG chunks (or a CloseSecureChannel's into a CLO).
    public mutating func chunks(_ body: [UInt8], type: UATCPMessageType = .message) throws(OPCUAError) -> (requestId: UInt32, frames: [UATCPFrame]) {
        guard let token else { throw OPCUAError(.connection, "the secure channel is not open") }
        let remote = remote ?? UATCPLimits()
        if remote.maxMessageSize != 0, body.count > remote.maxMessageSize {
            throw OPCUAError(.invalidRequest, "a request of \(body.count) bytes, more than the server's \(remote.maxMessageSize)")
        }
        let room = security?.maximumBody(bufferSize: Int(remote.receiveBufferSize)) ?? Int(remote.receiveBufferSize) - 24
        let count = max(1, (body.count + room - 1) / room)
        if remote.maxChunkCount != 0, count > remote.maxChunkCount {
            throw OPCUAError(.invalidRequest, "a request of \(count) chunks, more than the server's \(remote.maxChunkCount)")
        }
        let requestId = nextRequestId()
        var frames: [UATCPFrame] = []
        frames.reserveCapacity(count)
        for index in 0..<count {
            let part = body[min(body.count, index * room)..<min(body.count, (index + 1) * room)]
            var prefix = UAWriter(capacity: 8)
            prefix.uint32(token.channelId)
            prefix.uint32(token.tokenId)
            var plain = UAWriter(capacity: part.count + 8)
            plain.uint32(nextSequence())
            plain.uint32(requestId)
            plain.raw(part)
            let chunk = UInt8(ascii: index == count - 1 ? "F" : "C")
            if let security {
                frames.append(try security.sealSymmetric(type: type, chunk: chunk, prefix: prefix.bytes, plain: plain.bytes))
            } else {
                frames.append(UATCPFrame(type: type, chunk: chunk, body: prefix.bytes + plain.bytes))
            }
        }
        return (requestId, frames)
    }

    /// Takes one frame from the server.
    public mutating func receive(_ frame: UATCPFrame) throws(OPCUAError) -> Event {
        var reader = UAReader(frame.body)
        do {
            switch frame.type {
            case .acknowledge:
                let limits = try UATCPLimits.decode(from: &reader)
                guard limits.receiveBufferSize >= UATCPLimits.minimumBuffer, limits.sendBufferSize >= UATCPLimits.minimumBuffer else {
                    throw OPCUAError(.protocolViolation, "the server's buffers (\(limits.receiveBufferSize), \(limits.sendBufferSize)) are below 8192 bytes")
                }
                remote = limits
                return .acknowledged(limits)
            case .error:
                let status = try StatusCode(from: &reader)
                let reason = try reader.string() ?? ""
                throw OPCUAError(.connection, "the server closed the connection\(reason.isEmpty ? "" : ": \(reason)")", status: status)
            case .open: return try opened(&reader, frame: frame)
            case .message, .close: return try message(frame, &reader)
            case .hello, .reverseHello:
                throw OPCUAError(.protocolViolation, "a server sent \(frame.type.rawValue)")
            }
        } catch let error as UADecodingError {
            throw OPCUAError(.protocolViolation, "\(error)")
        } catch let error as OPCUAError {
            throw error
        } catch {
            throw OPCUAError(.protocolViolation, "\(error)")
        }
    }

    private mutating func opened(_ reader: inout UAReader, frame: UATCPFrame) throws -> Event {
        _ = try reader.uint32()  // channel id: the token says it
        let policy = try reader.string()
        let expected = security?.algorithms.policy ?? .none
        guard policy == expected.rawValue else {
            throw OPCUAError(.security, "the server answered with security policy \(policy ?? "none given"), not \(expected.name)")
        }
        let sender = try reader.byteString()
        _ = try reader.byteString()
        if let security {
            guard sender == security.remoteCertificate else { throw OPCUAError(.security, "the server signed with another certificate than its endpoint's") }
            reader = UAReader(try security.openAsymmetric(frame, offset: reader.offset))
        }
        try checkSequence(try reader.uint32())
        let requestId = try reader.uint32()
        let (_, response) = try decodeResponse(OpenSecureChannelResponse.self, from: Array(reader.bytes[reader.offset...]))
        if security != nil { try security?.derive(serverNonce: response.serverNonce ?? []) }
        token = response.token
        return .opened(requestId: requestId, response.token)
    }

    private mutating func message(_ frame: UATCPFrame, _ reader: inout UAReader) throws -> Event {
        let channelId = try reader.uint32()
        guard let token, channelId == token.channelId else { throw OPCUAError(.protocolViolation, "a message for secure channel \(channelId)") }
        _ = try reader.uint32()  // token id: the old token stays valid until it expires
        if let security { reader = UAReader(try security.openSymmetric(frame)) }
        try checkSequence(try reader.uint32())
        let requestId = try reader.uint32()
        let part = reader.bytes[reader.offset...]
        switch frame.chunk {
        case UInt8(ascii: "A"):
            partial[requestId] = nil
            var abort = UAReader(Array(part))
            let status = try StatusCode(from: &abort)
            return .aborted(requestId: requestId, status, reason: try abort.string() ?? "")
        case UInt8(ascii: "C"):
            var entry = partial[requestId] ?? (0, [])
            entry.chunks += 1
            entry.body += part
            try checkSize(entry)
            partial[requestId] = entry
            return .partial
        default:
            var entry = partial.removeValue(forKey: requestId) ?? (0, [])
            entry.chunks += 1
            entry.body += part
            try checkSize(entry)
            return .response(requestId: requestId, body: entry.body)
        }
    }

    private func checkSize(_ entry: (chunks: Int, body: [UInt8])) throws(OPCUAError) {
        if local.maxChunkCount != 0, entry.chunks > local.maxChunkCount {
            throw OPCUAError(.protocolViolation, "a response in more than \(local.maxChunkCount) chunks")
        }
        if local.maxMessageSize != 0, entry.body.count > local.maxMessageSize {
            throw OPCUAError(.protocolViolation, "a response of more than \(local.maxMessageSize) bytes")
        }
    }

    /// Each chunk's sequence number is one more than the last (wrapping below 1024 after 4294966271).
    private mutating func checkSequence(_ number: UInt32) throws(OPCUAError) {
        defer { receiveSequence = number }
        guard let last = receiveSequence else { return }
        let wrapped = last > 4_294_966_271 && number < 1_024
        guard number == last &+ 1 || wrapped else {
            throw OPCUAError(.protocolViolation, "sequence number \(number) after \(last)")
        }
    }

    private mutating func nextSequence() -> UInt32 {
        sendSequence = sendSequence >= 4_294_966_271 ? 1 : sendSequence + 1
        return sendSequence
    }

    private mutating func nextRequestId() -> UInt32 {
        lastRequestId = lastRequestId == .max ? 1 : lastRequestId + 1
        return lastRequestId
    }
}

/// OpenSecureChannelResponse (Part 4 §5.5.2.2).
struct OpenSecureChannelResponse: ServiceResponse {
    static let encodingId: UInt32 = 449
    var serverProtocolVersion: UInt32
    var token: ChannelSecurityToken
    var serverNonce: [UInt8]?

    init(body reader: inout UAReader) throws(UADecodingError) {
        serverProtocolVersion = try reader.uint32()
        token = try ChannelSecurityToken(from: &reader)
        serverNonce = try reader.byteString()
    }
}

/// The body of a CloseSecureChannel request: its type and header only.
func closeSecureChannelBody(now: UADateTime, requestHandle: UInt32) -> [UInt8] {
    var writer = UAWriter()
    NodeId(452).encode(to: &writer)
    RequestHeader(timestamp: now, requestHandle: requestHandle).encode(to: &writer)
    return writer.bytes
}
