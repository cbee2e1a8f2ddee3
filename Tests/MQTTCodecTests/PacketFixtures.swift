import MQTTCodec
import NIOCore

/// One packet of every kind, with properties where the version allows them.
enum PacketFixtures {
    static func buffer(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

    static func fullProperties() -> Properties {
        var p = Properties()
        p.userProperties = [UserProperty("site", "plant-1"), UserProperty("site", "plant-2")]
        p.reasonString = "because"
        return p
    }

    static func all(_ version: ProtocolVersion) -> [Packet] {
        let v5 = version == .v5
        var connectProperties = Properties()
        var willProperties = Properties()
        var publishProperties = Properties()
        var connackProperties = Properties()
        var subscribeProperties = Properties()
        var ackProperties = Properties()
        if v5 {
            connectProperties.sessionExpiryInterval = 3600
            connectProperties.receiveMaximum = 20
            connectProperties.maximumPacketSize = 65_536
            connectProperties.topicAliasMaximum = 10
            connectProperties.requestResponseInformation = 1
            connectProperties.requestProblemInformation = 0
            connectProperties.authenticationMethod = "SCRAM-SHA-1"
            connectProperties.authenticationData = [1, 2, 3]
            connectProperties.userProperties = [UserProperty("k", "v")]
            willProperties.willDelayInterval = 5
            willProperties.messageExpiryInterval = 60
            willProperties.contentType = "text/plain"
            willProperties.payloadFormatIndicator = 1
            publishProperties.messageExpiryInterval = 30
            publishProperties.topicAlias = 3
            publishProperties.responseTopic = "reply/here"
            publishProperties.correlationData = [0xDE, 0xAD]
            publishProperties.subscriptionIdentifiers = [1, 268_435_455]
            publishProperties.contentType = "application/json"
            publishProperties.userProperties = [UserProperty("a", "b")]
            connackProperties.assignedClientIdentifier = "auto-1"
            connackProperties.serverKeepAlive = 30
            connackProperties.receiveMaximum = 100
            connackProperties.maximumQoS = 1
            connackProperties.retainAvailable = 1
            connackProperties.maximumPacketSize = 1_000_000
            connackProperties.topicAliasMaximum = 50
            connackProperties.wildcardSubscriptionAvailable = 1
            connackProperties.subscriptionIdentifierAvailable = 1
            connackProperties.sharedSubscriptionAvailable = 1
            connackProperties.responseInformation = "resp/"
            connackProperties.serverReference = "other:1883"
            connackProperties.sessionExpiryInterval = 10
            subscribeProperties.subscriptionIdentifiers = [42]
            ackProperties = fullProperties()
        }
        let will = Will(topic: "gemba/v1/lwt", payload: buffer("gone"), qos: .atLeastOnce, retain: true,
                        properties: willProperties)
        let ok: ReasonCode = .success
        let failure: ReasonCode = v5 ? .notAuthorized : .serverUnavailable
        return [
            .connect(Connect(protocolVersion: version, clientID: "press-7", cleanStart: false, keepAlive: 30,
                             username: "dev", password: [0, 1, 255], will: will, properties: connectProperties)),
            .connect(Connect(protocolVersion: version, clientID: "", cleanStart: true, keepAlive: 0)),
            .connack(ConnAck(sessionPresent: true, reasonCode: ok, properties: connackProperties)),
            .connack(ConnAck(sessionPresent: false, reasonCode: failure)),
            .publish(Publish(topic: "a/b", payload: buffer("hello"), properties: publishProperties)),
            .publish(Publish(topic: "a/é/c", payload: buffer(""), qos: .atLeastOnce, retain: true, dup: true, packetID: 7)),
            .publish(Publish(topic: "x", payload: ByteBuffer(repeating: 0x41, count: 70_000), qos: .exactlyOnce, packetID: 65_535)),
            .puback(PublishAck(packetID: 1)),
            .puback(PublishAck(packetID: 2, reasonCode: v5 ? .noMatchingSubscribers : ok, properties: ackProperties)),
            .pubrec(PublishAck(packetID: 3, reasonCode: v5 ? .quotaExceeded : ok)),
            .pubrel(PublishAck(packetID: 4, reasonCode: v5 ? .packetIdentifierNotFound : ok, properties: ackProperties)),
            .pubcomp(PublishAck(packetID: 5)),
            .subscribe(Subscribe(packetID: 10, subscriptions: [
                Subscription(filter: "plant/+/temp", options: SubscriptionOptions(qos: .exactlyOnce)),
                Subscription(filter: "#", options: v5
                    ? SubscriptionOptions(qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend)
                    : SubscriptionOptions(qos: .atLeastOnce)),
                Subscription(filter: "$share/g1/plant/#"),
            ], properties: subscribeProperties)),
            .suback(SubAck(packetID: 10, reasonCodes: [.grantedQoS2, .grantedQoS1, v5 ? .notAuthorized : .unspecifiedError],
                           properties: ackProperties)),
            .unsubscribe(Unsubscribe(packetID: 11, filters: ["a/#", "b/+"], properties: v5 ? Properties.withUser() : Properties())),
            .unsuback(UnsubAck(packetID: 11, reasonCodes: v5 ? [.success, .noSubscriptionExisted] : [], properties: ackProperties)),
            .pingreq,
            .pingresp,
            .disconnect(Disconnect()),
            .disconnect(Disconnect(reasonCode: v5 ? .disconnectWithWillMessage : .normalDisconnection,
                                   properties: v5 ? Properties.withSessionExpiry(0) : Properties())),
        ] + (v5 ? [.auth(Auth()), .auth(Auth(reasonCode: .continueAuthentication, properties: Properties.withAuth()))] : [])
    }
}

extension Properties {
    static func withUser() -> Properties {
        var p = Properties()
        p.userProperties = [UserProperty("who", "me")]
        return p
    }

    static func withSessionExpiry(_ seconds: UInt32) -> Properties {
        var p = Properties()
        p.sessionExpiryInterval = seconds
        p.reasonString = "bye"
        return p
    }

    static func withAuth() -> Properties {
        var p = Properties()
        p.authenticationMethod = "SCRAM-SHA-256"
        p.authenticationData = [9, 8, 7]
        return p
    }
}
