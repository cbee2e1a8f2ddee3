import MQTTCodec
import NIOCore

/// The saved forms of the broker's records. A message is stored as the MQTT 5 PUBLISH that carries
/// it, so the codec that reads clients' packets reads it back; a session is a small versioned
/// binary record. Times are wall-clock ms here.
enum RecordCodec {
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: Messages

    static func encode(_ message: Message) throws -> [UInt8] {
        try encode(Publish(topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                           packetID: message.qos == .atMostOnce ? nil : 1, properties: message.properties))
    }

    static func decodeMessage(_ bytes: [UInt8], publisherID: String, expiresAt: Int64?) throws -> Message {
        let publish = try decodePublish(bytes)
        return Message(topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
                       properties: publish.properties, publisherID: publisherID, expiresAt: expiresAt)
    }

    private static func encode(_ publish: Publish) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try Packet.publish(publish).encode(into: &buffer, version: .v5)
        return Array(buffer.readableBytesView)
    }

    private static func decodePublish(_ bytes: [UInt8]) throws -> Publish {
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = PacketDecoder(version: .v5)
        guard case .publish(let publish)? = try decoder.next(from: &buffer), buffer.readableBytes == 0 else {
            throw Malformed(description: "a saved message is not one PUBLISH")
        }
        return publish
    }

    // MARK: Sessions

    private static let sessionFormat: UInt8 = 1

    /// A session record; `offset` turns broker time into wall-clock time.
    static func encode(_ record: SessionRecord, offset: Int64) throws -> [UInt8] {
        var out = ByteBuffer()
        out.writeInteger(sessionFormat)
        out.writeText(record.principal.name)
        out.writeInteger(UInt16(record.principal.attributes.count))
        for (key, value) in record.principal.attributes.sorted(by: { $0.key < $1.key }) {
            out.writeText(key)
            out.writeText(value)
        }
        out.writeInteger(record.expiryInterval)
        out.writeOptional(record.disconnectedAt.map { $0 + offset })
        out.writeInteger(UInt32(record.subscriptions.count))
        for (filter, subscription) in record.subscriptions.sorted(by: { $0.key < $1.key }) {
            out.writeText(filter)
            out.writeInteger(optionsByte(subscription.options))
            out.writeOptional(subscription.identifier.map(Int64.init))
            out.writeInteger(UInt16(subscription.excluded.count))
            for pattern in subscription.excluded { out.writeText(pattern) }
        }
        if let will = record.will {
            out.writeInteger(UInt8(1))
            out.writeOptional(will.fireAt.map { $0 + offset })
            out.writeOptional(will.will.properties.willDelayInterval.map(Int64.init))
            var properties = will.will.properties
            properties.willDelayInterval = nil
            let bytes = try encode(Publish(topic: will.will.topic, payload: will.will.payload, qos: will.will.qos,
                                           retain: will.will.retain, packetID: will.will.qos == .atMostOnce ? nil : 1,
                                           properties: properties))
            out.writeInteger(UInt32(bytes.count))
            out.writeBytes(bytes)
        } else {
            out.writeInteger(UInt8(0))
        }
        out.writeInteger(UInt16(record.inboundQoS2.count))
        for id in record.inboundQoS2 { out.writeInteger(id) }
        return Array(out.readableBytesView)
    }

    static func decodeSession(_ bytes: [UInt8], clientID: String, offset: Int64) throws -> SessionRecord {
        var input = ByteBuffer(bytes: bytes)
        guard try input.read(UInt8.self) == sessionFormat else { throw Malformed(description: "unknown session format") }
        let name = try input.readText()
        var attributes: [String: String] = [:]
        for _ in 0..<(try input.read(UInt16.self)) { attributes[try input.readText()] = try input.readText() }
        let expiry = try input.read(UInt32.self)
        let disconnectedAt = try input.readOptional().map { $0 - offset }
        var subscriptions: [String: SubscriptionRecord] = [:]
        for _ in 0..<(try input.read(UInt32.self)) {
            let filter = try input.readText()
            let options = try options(try input.read(UInt8.self))
            let identifier = try input.readOptional().map { Int($0) }
            var excluded: [String] = []
            for _ in 0..<(try input.read(UInt16.self)) { excluded.append(try input.readText()) }
            subscriptions[filter] = SubscriptionRecord(options: options, identifier: identifier, excluded: excluded)
        }
        var will: WillRecord?
        if try input.read(UInt8.self) == 1 {
            let fireAt = try input.readOptional().map { $0 - offset }
            let delay = try input.readOptional()
            let length = Int(try input.read(UInt32.self))
            guard let bytes = input.readBytes(length: length) else { throw Malformed(description: "a saved will is cut short") }
            let publish = try decodePublish(bytes)
            var properties = publish.properties
            properties.willDelayInterval = delay.map { UInt32(clamping: $0) }
            will = WillRecord(will: Will(topic: publish.topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
                                         properties: properties), fireAt: fireAt)
        }
        var inbound: [UInt16] = []
        for _ in 0..<(try input.read(UInt16.self)) { inbound.append(try input.read(UInt16.self)) }
        guard input.readableBytes == 0 else { throw Malformed(description: "a saved session has trailing bytes") }
        return SessionRecord(clientID: clientID, principal: Principal(name: name, attributes: attributes), expiryInterval: expiry,
                             disconnectedAt: disconnectedAt, subscriptions: subscriptions, will: will, inboundQoS2: inbound)
    }

    private static func optionsByte(_ options: SubscriptionOptions) -> UInt8 {
        options.qos.rawValue | (options.noLocal ? 0x04 : 0) | (options.retainAsPublished ? 0x08 : 0) | options.retainHandling.rawValue << 4
    }

    private static func options(_ byte: UInt8) throws -> SubscriptionOptions {
        guard let qos = QoS(rawValue: byte & 0x03), let handling = SubscriptionOptions.RetainHandling(rawValue: (byte >> 4) & 0x03)
        else { throw Malformed(description: "bad saved subscription options") }
        return SubscriptionOptions(qos: qos, noLocal: byte & 0x04 != 0, retainAsPublished: byte & 0x08 != 0, retainHandling: handling)
    }

    // MARK: Subscription identifiers of a saved message

    static func encode(_ ids: [Int]) -> String { ids.map(String.init).joined(separator: ",") }

    static func decodeIDs(_ text: String) throws -> [Int] {
        guard !text.isEmpty else { return [] }
        return try text.split(separator: ",").map {
            guard let id = Int($0) else { throw Malformed(description: "bad saved subscription identifier '\($0)'") }
            return id
        }
    }
}

private extension ByteBuffer {
    mutating func writeText(_ text: String) {
        writeInteger(UInt32(text.utf8.count))
        writeString(text)
    }

    mutating func writeOptional(_ value: Int64?) {
        writeInteger(UInt8(value == nil ? 0 : 1))
        if let value { writeInteger(value) }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard let value = readInteger(as: T.self) else { throw RecordCodec.Malformed(description: "a saved record is cut short") }
        return value
    }

    mutating func readText() throws -> String {
        let length = Int(try read(UInt32.self))
        guard let text = readString(length: length) else { throw RecordCodec.Malformed(description: "a saved text is cut short") }
        return text
    }

    mutating func readOptional() throws -> Int64? {
        try read(UInt8.self) == 1 ? try read(Int64.self) : nil
    }
}
