public import MQTTCodec
public import NIOCore

/// An application message as the broker holds it: shared by reference between every queue and subscriber.
public final class Message: Sendable {
    public let topic: String
    public let payload: ByteBuffer
    public let qos: QoS
    public let retain: Bool
    /// v5 properties to forward (topic alias and subscription identifiers removed).
    public let properties: Properties
    /// Client id of the publisher, for no-local.
    public let publisherID: String
    /// Broker time (ms) after which the message must not be delivered; from the message expiry interval.
    public let expiresAt: Int64?

    init(topic: String, payload: ByteBuffer, qos: QoS, retain: Bool, properties: Properties, publisherID: String,
         expiresAt: Int64?) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.publisherID = publisherID
        self.expiresAt = expiresAt
    }

    convenience init(_ publish: Publish, topic: String, publisherID: String, now: Int64) {
        var properties = publish.properties
        var expiresAt: Int64?
        if !properties.isEmpty {  // The common case has none: skip the per-field work.
            properties.topicAlias = nil
            properties.subscriptionIdentifiers = []
            expiresAt = properties.messageExpiryInterval.map { now + Int64($0) * 1000 }
        }
        self.init(topic: topic, payload: publish.payload, qos: publish.qos, retain: publish.retain,
                  properties: properties, publisherID: publisherID, expiresAt: expiresAt)
    }

    convenience init(will: Will, publisherID: String, now: Int64) {
        var properties = will.properties
        properties.willDelayInterval = nil
        let expiresAt = properties.messageExpiryInterval.map { now + Int64($0) * 1000 }
        self.init(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
                  properties: properties, publisherID: publisherID, expiresAt: expiresAt)
    }

    func isExpired(at now: Int64) -> Bool { expiresAt.map { now >= $0 } ?? false }

    /// The PUBLISH that delivers this message to one subscriber.
    func publish(qos: QoS, retain: Bool, packetID: UInt16?, subscriptionIDs: [Int], dup: Bool, now: Int64) -> Publish {
        var publish = Publish(topic: topic, payload: payload, qos: qos, retain: retain, dup: dup, packetID: packetID)
        if !properties.isEmpty || !subscriptionIDs.isEmpty {
            publish.properties = properties
            publish.properties.subscriptionIdentifiers = subscriptionIDs
            if let expiresAt {
                // Remaining lifetime, rounded up so it never reads 0 while still valid.
                publish.properties.messageExpiryInterval = UInt32(max(0, (expiresAt - now + 999) / 1000))
            }
        }
        return publish
    }
}
