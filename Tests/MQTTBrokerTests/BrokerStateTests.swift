@testable import MQTTBroker
import MQTTCodec
import NIOCore
import Testing

@Suite struct ConnectTests {
    @Test func connackAdvertisesLimitsInV5() throws {
        var h = BrokerHarness()
        let actions = h.connect(1, BrokerHarness.connect("a"))
        guard case .connack(let ack) = actions.sent(to: 1).first else { Issue.record("no CONNACK"); return }
        #expect(ack.reasonCode == .success)
        #expect(!ack.sessionPresent)
        #expect(ack.properties.receiveMaximum == h.state.limits.receiveMaximum)
        #expect(ack.properties.topicAliasMaximum == h.state.limits.topicAliasMaximum)
        #expect(ack.properties.maximumPacketSize == UInt32(h.state.limits.maxPacketSize))
    }

    @Test func emptyClientIDIsAssignedInV5() {
        var h = BrokerHarness()
        guard case .connack(let ack) = h.connect(1, BrokerHarness.connect("")).sent(to: 1).first else { return }
        #expect(ack.properties.assignedClientIdentifier?.isEmpty == false)
    }

    @Test func emptyClientIDWithPersistentSessionIsRejectedIn311() {
        var h = BrokerHarness()
        let actions = h.connect(1, BrokerHarness.connect("", .v311, clean: false))
        #expect(actions.sent(to: 1) == [.connack(ConnAck(reasonCode: .clientIdentifierNotValid))])
        #expect(actions.closes(1))
        #expect(h.state.connectionCount == 0)
    }

    @Test func serverKeepAliveCapsTheClient() {
        var limits = BrokerLimits()
        limits.maxKeepAlive = 30
        var h = BrokerHarness(limits: limits)
        guard case .connack(let ack) = h.connect(1, BrokerHarness.connect("a", keepAlive: 0)).sent(to: 1).first else { return }
        #expect(ack.properties.serverKeepAlive == 30)
    }

    @Test func connectionLimitRefuses() {
        var limits = BrokerLimits()
        limits.maxConnections = 1
        var h = BrokerHarness(limits: limits)
        h.connect(1, BrokerHarness.connect("a"))
        let actions = h.connect(2, BrokerHarness.connect("b"))
        #expect(actions.sent(to: 2) == [.connack(ConnAck(reasonCode: .quotaExceeded))])
        #expect(h.state.statistics.connectionsRefused == 1)
    }

    @Test func takeoverDisconnectsTheOldConnection() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("a"))
        let actions = h.connect(2, BrokerHarness.connect("a"))
        #expect(actions.sent(to: 1) == [.disconnect(Disconnect(reasonCode: .sessionTakenOver))])
        #expect(actions.closes(1))
        #expect(h.state.connectionCount == 1)
    }

    @Test func enhancedAuthenticationIsRefused() {
        var h = BrokerHarness()
        var connect = BrokerHarness.connect("a")
        connect.properties.authenticationMethod = "SCRAM-SHA-1"
        #expect(h.connect(1, connect).sent(to: 1) == [.connack(ConnAck(reasonCode: .badAuthenticationMethod))])
    }

    @Test func secondConnectIsAProtocolError() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("a"))
        let actions = h.send(1, .connect(BrokerHarness.connect("a")))
        #expect(actions.closes(1))
        guard case .disconnect(let d) = actions.sent(to: 1).first else { Issue.record("no DISCONNECT"); return }
        #expect(d.reasonCode == .protocolError)
    }
}

@Suite struct QoSFlowTests {
    @Test func qos1And2AreAcknowledged() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub"))
        h.subscribe(2, "t", qos: .exactlyOnce)
        let q1 = h.publish(1, "t", "one", qos: .atLeastOnce, packetID: 5)
        #expect(q1.sent(to: 1) == [.puback(PublishAck(packetID: 5))])
        let q2 = h.publish(1, "t", "two", qos: .exactlyOnce, packetID: 6)
        #expect(q2.sent(to: 1) == [.pubrec(PublishAck(packetID: 6))])
        // A retransmitted QoS 2 PUBLISH is acknowledged but not delivered twice.
        let again = h.publish(1, "t", "two", qos: .exactlyOnce, packetID: 6)
        #expect(again.publishes(to: 2).isEmpty)
        #expect(h.send(1, .pubrel(PublishAck(packetID: 6))).sent(to: 1) == [.pubcomp(PublishAck(packetID: 6))])
        // Unknown PUBREL: v5 answers 0x92.
        #expect(h.send(1, .pubrel(PublishAck(packetID: 9))).sent(to: 1)
                == [.pubcomp(PublishAck(packetID: 9, reasonCode: .packetIdentifierNotFound))])
        #expect(q1.publishes(to: 2).map(\.qos) == [.atLeastOnce])
        #expect(q2.publishes(to: 2).map(\.qos) == [.exactlyOnce])
    }

    @Test func outboundQoS2HandshakeCompletes() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub"))
        h.subscribe(2, "t", qos: .exactlyOnce)
        let publish = h.publish(1, "t", "x", qos: .exactlyOnce).publishes(to: 2)[0]
        let id = publish.packetID!
        #expect(h.send(2, .pubrec(PublishAck(packetID: id))).sent(to: 2) == [.pubrel(PublishAck(packetID: id))])
        h.send(2, .pubcomp(PublishAck(packetID: id)))
        #expect(h.state.sessions["sub"]?.inflight.isEmpty == true)
    }

    @Test func noMatchingSubscribersIsReportedInV5() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        #expect(h.publish(1, "nobody", "x", qos: .atLeastOnce).sent(to: 1)
                == [.puback(PublishAck(packetID: 1, reasonCode: .noMatchingSubscribers))])
    }

    @Test func receiveMaximumExceededDisconnects() {
        var limits = BrokerLimits()
        limits.receiveMaximum = 2
        var h = BrokerHarness(limits: limits)
        h.connect(1, BrokerHarness.connect("pub"))
        h.publish(1, "t", "a", qos: .exactlyOnce, packetID: 1)
        h.publish(1, "t", "b", qos: .exactlyOnce, packetID: 2)
        let actions = h.publish(1, "t", "c", qos: .exactlyOnce, packetID: 3)
        #expect(actions.closes(1))
        guard case .disconnect(let d) = actions.sent(to: 1).first else { Issue.record("no DISCONNECT"); return }
        #expect(d.reasonCode == .receiveMaximumExceeded)
    }

    /// MQTT 3.1.1 has no Receive Maximum: a client past it is not disconnected; the shell pauses reading instead.
    @Test func receiveMaximumDoesNotDisconnectA311Client() {
        var limits = BrokerLimits()
        limits.receiveMaximum = 2
        var h = BrokerHarness(limits: limits, hasReceiver: true)
        h.connect(1, BrokerHarness.connect("pub", .v311))
        for id in 1...3 { #expect(!h.publish(1, "t", "x", qos: .atLeastOnce, packetID: UInt16(id)).closes(1)) }
        #expect(h.state.inboundInflight(of: ConnectionID(1)) == 3)
    }

    @Test func clientReceiveMaximumLimitsInflightAndQueues() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub", receiveMaximum: 2))
        h.subscribe(2, "t", qos: .atLeastOnce)
        var delivered: [Publish] = []
        for i in 1...5 { delivered += h.publish(1, "t", "\(i)", qos: .atLeastOnce, packetID: UInt16(i)).publishes(to: 2) }
        #expect(delivered.map(\.text) == ["1", "2"])
        let next = h.send(2, .puback(PublishAck(packetID: delivered[0].packetID!))).publishes(to: 2)
        #expect(next.map(\.text) == ["3"])
    }

    @Test func receiverDefersTheAcknowledgement() {
        var h = BrokerHarness(hasReceiver: true)
        h.connect(1, BrokerHarness.connect("pub"))
        let actions = h.publish(1, "t", "x", qos: .atLeastOnce, packetID: 4)
        #expect(actions.sent(to: 1).isEmpty)
        guard case .receive(let message, let ack, let to)? = actions.first(where: {
            if case .receive = $0 { true } else { false }
        }) else { Issue.record("no receive action"); return }
        #expect(message.message.topic == "t")
        #expect(ack == .puback(PublishAck(packetID: 4)))
        #expect(to == ConnectionID(1))
    }
}

@Suite struct RoutingTests {
    @Test func overlappingSubscriptionsDeliverOnceAtHighestQoSWithAllIdentifiers() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub"))
        h.subscribe(2, "a/+", qos: .atMostOnce, identifier: 1)
        h.subscribe(2, "a/#", qos: .atLeastOnce, identifier: 2)
        let got = h.publish(1, "a/b", "x", qos: .exactlyOnce).publishes(to: 2)
        #expect(got.count == 1)
        #expect(got.first?.qos == .atLeastOnce)
        #expect(Set(got.first?.properties.subscriptionIdentifiers ?? []) == [1, 2])
    }

    @Test func noLocalSkipsThePublisher() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("me"))
        h.subscribe(1, "t", options: SubscriptionOptions(noLocal: true))
        #expect(h.publish(1, "t", "x").publishes(to: 1).isEmpty)
        h.subscribe(1, "u")
        #expect(h.publish(1, "u", "x").publishes(to: 1).count == 1)
    }

    @Test func retainAsPublishedKeepsTheFlag() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("plain"))
        h.connect(3, BrokerHarness.connect("rap"))
        h.subscribe(2, "t")
        h.subscribe(3, "t", options: SubscriptionOptions(retainAsPublished: true))
        let actions = h.publish(1, "t", "x", retain: true)
        #expect(actions.publishes(to: 2).first?.retain == false)
        #expect(actions.publishes(to: 3).first?.retain == true)
    }

    @Test func sharedSubscriptionsRoundRobin() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("w1"))
        h.connect(3, BrokerHarness.connect("w2"))
        h.subscribe(2, "$share/g/jobs/#")
        h.subscribe(3, "$share/g/jobs/#")
        var counts = [0, 0]
        for i in 0..<10 {
            let actions = h.publish(1, "jobs/\(i)", "x")
            counts[0] += actions.publishes(to: 2).count
            counts[1] += actions.publishes(to: 3).count
        }
        #expect(counts == [5, 5])
    }

    @Test func sharedSubscriptionPrefersOnlineMembers() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("w1", expiry: 600))
        h.connect(3, BrokerHarness.connect("w2"))
        h.subscribe(2, "$share/g/jobs")
        h.subscribe(3, "$share/g/jobs")
        h.close(2)
        for _ in 0..<4 { #expect(h.publish(1, "jobs", "x").publishes(to: 3).count == 1) }
    }

    @Test func dollarTopicsAreNotMatchedByLeadingWildcards() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub"))
        h.subscribe(2, "#")
        h.subscribe(2, "+/x", packetID: 2)
        #expect(h.publish(1, "$SYS/x", "x").publishes(to: 2).isEmpty)
        h.subscribe(2, "$SYS/#", packetID: 3)
        #expect(h.publish(1, "$SYS/x", "x").publishes(to: 2).count == 1)
    }

    @Test func topicAliasesResolve() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub"))
        h.subscribe(2, "long/topic/name")
        var alias = Properties()
        alias.topicAlias = 7
        #expect(h.publish(1, "long/topic/name", "first", properties: alias).publishes(to: 2).map(\.text) == ["first"])
        let second = h.publish(1, "", "second", properties: alias).publishes(to: 2)
        #expect(second.map(\.topic) == ["long/topic/name"])
        #expect(second.first?.properties.topicAlias == nil)
        var unknown = Properties()
        unknown.topicAlias = 8
        #expect(h.publish(1, "", "x", properties: unknown).closes(1))
    }

    @Test func topicAliasAboveMaximumIsRejected() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        var alias = Properties()
        alias.topicAlias = h.state.limits.topicAliasMaximum + 1
        let actions = h.publish(1, "t", "x", properties: alias)
        guard case .disconnect(let d) = actions.sent(to: 1).first else { Issue.record("no DISCONNECT"); return }
        #expect(d.reasonCode == .topicAliasInvalid)
    }

    @Test func clientMaximumPacketSizeDropsLargeMessages() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub", maximumPacketSize: 64))
        h.subscribe(2, "t")
        #expect(h.publish(1, "t", String(repeating: "x", count: 100)).publishes(to: 2).isEmpty)
        #expect(h.publish(1, "t", "small").publishes(to: 2).count == 1)
        #expect(h.state.statistics.droppedTooLarge == 1)
    }

    @Test func userAndRequestResponsePropertiesPassThrough() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub"))
        h.subscribe(2, "req")
        var properties = Properties()
        properties.userProperties = [UserProperty("line", "3")]
        properties.responseTopic = "resp/1"
        properties.correlationData = [1, 2]
        properties.contentType = "application/json"
        let got = h.publish(1, "req", "x", properties: properties).publishes(to: 2).first
        #expect(got?.properties.userProperties == [UserProperty("line", "3")])
        #expect(got?.properties.responseTopic == "resp/1")
        #expect(got?.properties.correlationData == [1, 2])
        #expect(got?.properties.contentType == "application/json")
    }

    @Test func refusedSubscriptionsAndPublishes() throws {
        let acl = try TopicACL(parsing: "allow publish user:dev plant/%u/#\nallow subscribe user:dev cmd/%u/#")
        var h = BrokerHarness(authorizer: acl)
        h.connect(1, BrokerHarness.connect("c"), principal: Principal(name: "dev"))
        let suback = h.send(1, .subscribe(Subscribe(packetID: 1, subscriptions: [
            Subscription(filter: "cmd/dev/+"), Subscription(filter: "cmd/#"), Subscription(filter: "a/#/b"),
        ])))
        #expect(suback.sent(to: 1) == [.suback(SubAck(packetID: 1, reasonCodes: [.grantedQoS0, .notAuthorized, .topicFilterInvalid]))])
        let refused = h.publish(1, "other/x", "x", qos: .atLeastOnce)
        #expect(refused.sent(to: 1) == [.puback(PublishAck(packetID: 1, reasonCode: .notAuthorized))])
        #expect(refused.contains { if case .notice(_, let text) = $0 { text.contains("other/x") } else { false } })
        #expect(h.publish(1, "plant/dev/x", "x", qos: .atLeastOnce).sent(to: 1)
                == [.puback(PublishAck(packetID: 1, reasonCode: .noMatchingSubscribers))])
    }
}

@Suite struct SubscriptionLimitTests {
    @Test func subscriptionsPerSessionAreBounded() {
        var limits = BrokerLimits()
        limits.maxSubscriptionsPerSession = 2
        var h = BrokerHarness(limits: limits)
        h.connect(1, BrokerHarness.connect("s"))
        let actions = h.send(1, .subscribe(Subscribe(packetID: 1, subscriptions: [
            Subscription(filter: "a"), Subscription(filter: "b"), Subscription(filter: "c"),
        ])))
        #expect(actions.sent(to: 1) == [.suback(SubAck(packetID: 1, reasonCodes: [.grantedQoS0, .grantedQoS0, .quotaExceeded]))])
        // Re-subscribing to an existing filter is a replacement, not a new subscription.
        #expect(h.subscribe(1, "a", qos: .atLeastOnce, packetID: 2).sent(to: 1)
                == [.suback(SubAck(packetID: 2, reasonCodes: [.grantedQoS1]))])
    }
}

@Suite struct RetainedTests {
    @Test func retainedIsSetReplacedAndCleared() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.publish(1, "r", "v1", retain: true)
        h.publish(1, "r", "v2", retain: true)
        h.connect(2, BrokerHarness.connect("s1"))
        let first = h.subscribe(2, "r").publishes(to: 2)
        #expect(first.map(\.text) == ["v2"])
        #expect(first.first?.retain == true)
        h.publish(1, "r", "", retain: true)
        h.connect(3, BrokerHarness.connect("s2"))
        #expect(h.subscribe(3, "r").publishes(to: 3).isEmpty)
        #expect(h.state.retainedCount == 0)
    }

    @Test func retainedStoreIsBoundedButExistingTopicsStillUpdate() {
        var limits = BrokerLimits()
        limits.maxRetainedMessages = 2
        var h = BrokerHarness(limits: limits)
        h.connect(1, BrokerHarness.connect("pub"))
        h.publish(1, "a", "1", retain: true)
        h.publish(1, "b", "1", retain: true)
        h.publish(1, "c", "1", retain: true)
        #expect(h.state.retainedCount == 2)
        #expect(h.state.statistics.retainedRejected == 1)
        h.publish(1, "a", "2", retain: true)
        h.connect(2, BrokerHarness.connect("s"))
        #expect(h.subscribe(2, "a").publishes(to: 2).map(\.text) == ["2"])
    }

    @Test func retainHandlingOptions() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.publish(1, "r", "v", retain: true)
        h.connect(2, BrokerHarness.connect("s"))
        #expect(h.subscribe(2, "r", options: SubscriptionOptions(retainHandling: .doNotSend)).publishes(to: 2).isEmpty)
        h.connect(3, BrokerHarness.connect("t"))
        #expect(h.subscribe(3, "r", options: SubscriptionOptions(retainHandling: .sendIfNew)).publishes(to: 3).count == 1)
        #expect(h.subscribe(3, "r", options: SubscriptionOptions(retainHandling: .sendIfNew)).publishes(to: 3).isEmpty)
        #expect(h.subscribe(3, "$share/g/r").publishes(to: 3).isEmpty)
    }

    @Test func expiredRetainedMessagesAreNotSent() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        var properties = Properties()
        properties.messageExpiryInterval = 10
        h.publish(1, "r", "v", retain: true, properties: properties)
        h.advance(seconds: 4)
        h.connect(2, BrokerHarness.connect("s"))
        let got = h.subscribe(2, "r").publishes(to: 2)
        #expect(got.first?.properties.messageExpiryInterval == 6)
        h.advance(seconds: 7)
        h.connect(3, BrokerHarness.connect("t"))
        #expect(h.subscribe(3, "r").publishes(to: 3).isEmpty)
    }
}

@Suite struct WillTests {
    static let will = Will(topic: "status/a", payload: ByteBuffer(string: "offline"), qos: .atLeastOnce)

    @Test func willIsPublishedOnAbnormalClose() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("a", will: Self.will))
        h.connect(2, BrokerHarness.connect("watcher"))
        h.subscribe(2, "status/#", qos: .atLeastOnce)
        #expect(h.close(1).publishes(to: 2).map(\.text) == ["offline"])
    }

    @Test func normalDisconnectDiscardsTheWill() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("a", will: Self.will))
        h.connect(2, BrokerHarness.connect("watcher"))
        h.subscribe(2, "status/#")
        #expect(h.send(1, .disconnect(Disconnect())).publishes(to: 2).isEmpty)
    }

    @Test func disconnectWithWillPublishesIt() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("a", will: Self.will))
        h.connect(2, BrokerHarness.connect("watcher"))
        h.subscribe(2, "status/#")
        #expect(h.send(1, .disconnect(Disconnect(reasonCode: .disconnectWithWillMessage))).publishes(to: 2).count == 1)
    }

    @Test func willDelayWaitsAndIsCancelledByReconnect() {
        var will = Self.will
        will.properties.willDelayInterval = 5
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("a", expiry: 60, will: will))
        h.connect(2, BrokerHarness.connect("watcher"))
        h.subscribe(2, "status/#")
        #expect(h.close(1).publishes(to: 2).isEmpty)
        #expect(h.advance(seconds: 3).publishes(to: 2).isEmpty)
        h.connect(3, BrokerHarness.connect("a", clean: false, expiry: 60, will: will))
        #expect(h.advance(seconds: 10).publishes(to: 2).isEmpty)
        // Dropped again: this time nobody comes back within the delay.
        h.close(3)
        #expect(h.advance(seconds: 4).publishes(to: 2).isEmpty)
        #expect(h.advance(seconds: 2).publishes(to: 2).map(\.text) == ["offline"])
    }

    @Test func keepAliveTimeoutClosesAfterOneAndAHalfIntervals() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("a", keepAlive: 10, will: Self.will))
        #expect(!h.advance(seconds: 14).closes(1))
        h.send(1, .pingreq)
        #expect(!h.advance(seconds: 14).closes(1))
        let actions = h.advance(seconds: 2)
        #expect(actions.closes(1))
        guard case .disconnect(let d) = actions.sent(to: 1).first else { Issue.record("no DISCONNECT"); return }
        #expect(d.reasonCode == .keepAliveTimeout)
    }
}

@Suite struct SessionTests {
    @Test func persistentSessionQueuesAndRedelivers() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub", .v311, clean: false))
        h.subscribe(2, "t", qos: .atLeastOnce)
        let unacked = h.publish(1, "t", "before", qos: .atLeastOnce).publishes(to: 2)
        #expect(unacked.count == 1)
        h.close(2)
        h.publish(1, "t", "while-offline", qos: .atLeastOnce)
        h.publish(1, "t", "qos0-not-queued")
        let resumed = h.connect(3, BrokerHarness.connect("sub", .v311, clean: false))
        guard case .connack(let ack) = resumed.sent(to: 3).first else { Issue.record("no CONNACK"); return }
        #expect(ack.sessionPresent)
        let again = resumed.publishes(to: 3)
        #expect(again.map(\.text) == ["before", "while-offline"])
        #expect(again.first?.dup == true)
        #expect(again.first?.packetID == unacked.first?.packetID)
        #expect(again.last?.dup == false)
    }

    @Test func outboundPubrelIsResentAfterReconnect() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub", expiry: 100))
        h.subscribe(2, "t", qos: .exactlyOnce)
        let id = h.publish(1, "t", "x", qos: .exactlyOnce).publishes(to: 2)[0].packetID!
        h.send(2, .pubrec(PublishAck(packetID: id)))
        h.close(2)
        let resumed = h.connect(3, BrokerHarness.connect("sub", clean: false, expiry: 100))
        #expect(resumed.sent(to: 3).dropFirst().first == .pubrel(PublishAck(packetID: id)))
    }

    @Test func cleanStartDiscardsTheSession() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub", expiry: 100))
        h.subscribe(2, "t", qos: .atLeastOnce)
        h.close(2)
        h.connect(3, BrokerHarness.connect("sub", clean: true, expiry: 100))
        #expect(h.publish(1, "t", "x", qos: .atLeastOnce).publishes(to: 3).isEmpty)
    }

    @Test func sessionExpiryEndsTheSession() {
        var h = BrokerHarness()
        h.connect(2, BrokerHarness.connect("sub", expiry: 10))
        h.subscribe(2, "t", qos: .atLeastOnce)
        h.close(2)
        #expect(h.state.sessionCount == 1)
        h.advance(seconds: 11)
        #expect(h.state.sessionCount == 0)
        #expect(h.state.subscriptionCount == 0)
    }

    @Test func offlineQueueIsBounded() {
        var limits = BrokerLimits()
        limits.maxQueuedMessagesPerSession = 3
        var h = BrokerHarness(limits: limits)
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub", expiry: 100))
        h.subscribe(2, "t", qos: .atLeastOnce)
        h.close(2)
        for i in 0..<5 { h.publish(1, "t", "\(i)", qos: .atLeastOnce) }
        #expect(h.state.queuedMessageCount == 3)
        #expect(h.state.statistics.droppedQueueFull == 2)
        let resumed = h.connect(3, BrokerHarness.connect("sub", clean: false, expiry: 100))
        #expect(resumed.publishes(to: 3).map(\.text) == ["0", "1", "2"])
    }

    @Test func expiredQueuedMessagesAreDropped() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("pub"))
        h.connect(2, BrokerHarness.connect("sub", expiry: 100))
        h.subscribe(2, "t", qos: .atLeastOnce)
        h.close(2)
        var short = Properties()
        short.messageExpiryInterval = 2
        h.publish(1, "t", "short", qos: .atLeastOnce, properties: short)
        h.publish(1, "t", "long", qos: .atLeastOnce)
        h.advance(seconds: 5)
        let resumed = h.connect(3, BrokerHarness.connect("sub", clean: false, expiry: 100))
        #expect(resumed.publishes(to: 3).map(\.text) == ["long"])
    }

    @Test func disconnectMayNotRaiseZeroSessionExpiry() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("a", expiry: 0))
        var properties = Properties()
        properties.sessionExpiryInterval = 30
        let actions = h.send(1, .disconnect(Disconnect(properties: properties)))
        guard case .disconnect(let d) = actions.sent(to: 1).first else { Issue.record("no DISCONNECT"); return }
        #expect(d.reasonCode == .protocolError)
    }
}

@Suite struct TrieTests {
    @Test func removePrunesAndCounts() {
        var trie = SubscriptionTrie()
        trie.insert(filter: "a/b/c", clientID: "x", entry: SubscriptionEntry(options: SubscriptionOptions()))
        trie.insert(filter: "a/+/c", clientID: "y", entry: SubscriptionEntry(options: SubscriptionOptions()))
        #expect(trie.count == 2)
        let both = trie.match(topic: "a/b/c", publisherID: "", isOnline: { _ in true })
        #expect(both.count == 2)
        let removed = trie.remove(filter: "a/b/c", clientID: "x")
        let removedAgain = trie.remove(filter: "a/b/c", clientID: "x")
        #expect(removed && !removedAgain)
        let remaining = trie.match(topic: "a/b/c", publisherID: "", isOnline: { _ in true })
        #expect(remaining.map(\.clientID) == ["y"])
        #expect(trie.count == 1)
    }

    /// The trie finds, for every topic, exactly the clients whose filters `Topic.matches` accepts,
    /// each once, at the highest QoS of its matching filters; also after half the filters are removed.
    @Test func matchesWhatTopicMatchingMatches() {
        let filters = ["#", "+", "a", "a/#", "a/+", "+/b", "+/+/c", "a/+/c", "a/b/c", "$SYS/#", "$SYS/+/z", "+/x",
                       "/+", "a//c", "a/b/c/#", "#/x", "+/#", "a/b", "", "/"]
        let topics = ["a", "a/b", "a/b/c", "a/c", "b/b", "$SYS/x", "$SYS/y/z", "a//c", "/a", "/", "", "x/x",
                      "a/b/c/d", "q"]
        var trie = SubscriptionTrie()
        var subscribed: [(filter: String, client: String, qos: QoS)] = []
        for (number, filter) in filters.enumerated() where (try? Topic.validateFilter(filter)) != nil {
            // Twelve clients, so some hold several overlapping filters (and the index past eight is used).
            let client = "c\(number % 12)", qos = QoS(rawValue: UInt8(number % 3))!
            trie.insert(filter: filter, clientID: client, entry: SubscriptionEntry(options: SubscriptionOptions(qos: qos)))
            subscribed.append((filter, client, qos))
        }
        func check() {
            for topic in topics {
                var expected: [String: QoS] = [:]
                for s in subscribed where Topic.matches(filter: s.filter, name: topic) {
                    expected[s.client] = max(expected[s.client] ?? .atMostOnce, s.qos)
                }
                let found = trie.match(topic: topic, publisherID: "", isOnline: { _ in true })
                #expect(found.count == expected.count, "\(topic)")
                #expect(Dictionary(uniqueKeysWithValues: found.map { ($0.clientID, $0.qos) }) == expected, "\(topic)")
            }
        }
        check()
        for (filter, client, _) in subscribed.enumerated().filter({ $0.offset % 2 == 0 }).map(\.element) {
            let removed = trie.remove(filter: filter, clientID: client)
            #expect(removed, "\(filter) \(client)")
        }
        subscribed = subscribed.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
        #expect(trie.count == subscribed.count)
        check()
    }

    @Test func aclCoversNarrowerFilters() {
        #expect(Topic.covers("cmd/dev/#", "cmd/dev/+/x"))
        #expect(Topic.covers("a/+", "a/b"))
        #expect(!Topic.covers("a/+", "a/#"))
        #expect(!Topic.covers("a/b", "a/#"))
    }
}

@Suite struct ServerTopicAliasTests {
    @Test func topicsGetAliasesWithinTheClientsMaximum() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("sub", topicAliasMaximum: 2))
        h.subscribe(1, "t/#")
        h.connect(2, BrokerHarness.connect("pub"))
        let sent = ["t/a", "t/a", "t/b", "t/c", "t/a", "t/c"].flatMap { h.publish(2, $0, "x").publishes(to: 1) }
        #expect(sent.map(\.topic) == ["t/a", "", "t/b", "t/c", "", "t/c"])
        #expect(sent.map(\.properties.topicAlias) == [1, 1, 2, nil, 1, nil])
    }

    @Test func noAliasesWithoutTheClientsConsentOrIn311() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("v5"))
        h.connect(3, BrokerHarness.connect("v311", .v311))
        h.subscribe(1, "t/#")
        h.subscribe(3, "t/#")
        h.connect(2, BrokerHarness.connect("pub"))
        h.publish(2, "t/a", "x")
        let again = h.publish(2, "t/a", "x")
        #expect(again.publishes(to: 1).map(\.topic) == ["t/a"])
        #expect(again.publishes(to: 3).map(\.topic) == ["t/a"])
        #expect(again.publishes(to: 1).first?.properties.topicAlias == nil)
    }

    @Test func aReconnectStartsAFreshAliasMap() {
        var h = BrokerHarness()
        h.connect(1, BrokerHarness.connect("sub", clean: false, expiry: 60, topicAliasMaximum: 4))
        h.subscribe(1, "t/#")
        h.connect(2, BrokerHarness.connect("pub"))
        h.publish(2, "t/a", "x")
        h.close(1)
        h.connect(3, BrokerHarness.connect("sub", clean: false, expiry: 60, topicAliasMaximum: 4))
        let first = h.publish(2, "t/a", "x").publishes(to: 3)
        #expect(first.map(\.topic) == ["t/a"] && first.first?.properties.topicAlias == 1)
    }
}

@Suite struct RetainedIndexTests {
    @Test func findsWhatTopicMatchingFinds() {
        let topics = ["a", "a/b", "a/b/c", "a/c", "b/b", "$SYS/x", "$SYS/y/z", "a//c", "/a", "sport/tennis/player1"]
        var index = RetainedIndex()
        for topic in topics { index.insert(topic) }
        index.insert("gone/x")
        index.remove("gone/x")
        let filters = ["#", "+", "a/#", "a/+", "+/b", "+/+/c", "a/+/c", "$SYS/#", "+/x", "/+", "a/b/c/#", "sport/#", "gone/#", "x"]
        for filter in filters {
            let expected = Set(topics.filter { Topic.matches(filter: filter, name: $0) })
            #expect(Set(index.topics(matching: filter)) == expected, "\(filter)")
        }
    }
}

@Suite struct ReceiverTopicTests {
    @Test func topicsTheReceiverDoesNotTakeAreRoutedAndAcknowledgedAtOnce() {
        var h = BrokerHarness()
        h.state = BrokerState(limits: BrokerLimits(), authorizer: AllowAll(), hasReceiver: true,
                              receives: { $0.hasPrefix("gemba/") })
        h.connect(1, BrokerHarness.connect("pub"))
        let routed = h.publish(1, "uns/line/temp", "x", qos: .atLeastOnce)
        #expect(routed.received.isEmpty)
        #expect(routed.sent(to: 1) == [.puback(PublishAck(packetID: 1, reasonCode: .noMatchingSubscribers))])
        let taken = h.publish(1, "gemba/v1/a/b/c", "x", qos: .atLeastOnce, packetID: 2)
        #expect(taken.received.count == 1 && taken.sent(to: 1).isEmpty)
    }
}
