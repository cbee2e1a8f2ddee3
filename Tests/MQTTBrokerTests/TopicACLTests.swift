@testable import MQTTBroker
import MQTTCodec
import Testing

@Suite struct TopicACLTests {
    static let device = Principal(name: "press-1", attributes: ["kind": "device", "tenant": "acme"])
    static let key = Principal(name: "historian", attributes: ["kind": "api_key", "role": "engineer", "tenant": "default"])

    @Test func parsesRulesAndNamesTheBadLine() throws {
        let acl = try TopicACL(parsing: """
            # the plant's namespace
            allow  subscribe  anonymous      uns/#

            deny   pubsub     device:*@acme  uns/secret/#
            allow  publish    user:%x        uns/%u/%c
            """)
        #expect(acl.rules.map(\.subject) == [.anonymous, .device(nil), .user("%x")])
        #expect(acl.rules[1].tenant == "acme")
        #expect(acl.rules[2].text == "allow publish user:%x uns/%u/%c")
        for (text, message) in [
            ("allow subscribe anonymous", "line 1: expected"),
            ("permit publish all a", "line 1: 'permit' is not allow or deny"),
            ("allow read all a", "line 1: 'read' is not publish"),
            ("allow publish nobody a", "line 1: 'nobody' is not all"),
            ("allow publish device: a", "line 1: 'device:' names no one"),
            ("allow publish anonymous@acme a", "line 1: anonymous clients have no tenant"),
            ("\n\nallow publish all a/#/b", "line 3: pattern:"),
            ("allow subscribe all $share/g/a", "line 1: a pattern cannot be a $share filter"),
        ] {
            #expect(throws: TopicACLError.self) { try TopicACL(parsing: text) }
            do {
                _ = try TopicACL(parsing: text)
            } catch {
                #expect(error.message.hasPrefix(message), "\(text) → \(error.message)")
            }
        }
    }

    @Test func firstMatchingRuleDecidesPublishing() throws {
        let acl = try TopicACL(parsing: """
            deny publish device:press-1 uns/plant/press-1/secret
            allow publish device:* uns/plant/%u/#
            allow publish role:engineer uns/#
            """)
        #expect(acl.publishDecision(Self.device, clientID: "c", topic: "uns/plant/press-1/temp") == .allow)
        #expect(acl.publishDecision(Self.device, clientID: "c", topic: "uns/plant/press-1/secret") == .deny)
        #expect(acl.publishDecision(Self.device, clientID: "c", topic: "uns/plant/press-2/temp") == nil)
        #expect(acl.publishDecision(Self.key, clientID: "c", topic: "uns/plant/press-2/temp") == .allow)
        #expect(acl.publishDecision(.anonymous, clientID: "c", topic: "uns/plant/x") == nil)
    }

    @Test func substitutionsNeverWidenAPattern() throws {
        let acl = try TopicACL(parsing: "allow pubsub all uns/%u/%c/#")
        let named = Principal(name: "a", attributes: ["kind": "device"])
        #expect(acl.publishDecision(named, clientID: "c1", topic: "uns/a/c1/x") == .allow)
        #expect(acl.publishDecision(named, clientID: "c1", topic: "uns/a/c2/x") == nil)
        #expect(acl.publishDecision(named, clientID: "#", topic: "uns/a/#/x") == nil)
        #expect(acl.publishDecision(Principal(name: "a/b"), clientID: "c", topic: "uns/a/b/c/x") == nil)
        #expect(acl.publishDecision(.anonymous, clientID: "c", topic: "uns//c/x") == nil)
        #expect(acl.subscriptionDecision(named, clientID: "+", filter: "uns/a/+/#").effect == nil)
    }

    @Test func subjectsAndTenants() throws {
        let acl = try TopicACL(parsing: """
            allow publish device:*@other a
            allow publish key:historian b
            allow publish role:viewer c
            allow publish anonymous d
            allow publish user:press-1 e
            """)
        #expect(acl.publishDecision(Self.device, clientID: "x", topic: "a") == nil)
        #expect(acl.publishDecision(Self.key, clientID: "x", topic: "b") == .allow)
        #expect(acl.publishDecision(Self.key, clientID: "x", topic: "c") == nil)
        #expect(acl.publishDecision(Self.device, clientID: "x", topic: "d") == nil)
        #expect(acl.publishDecision(.anonymous, clientID: "x", topic: "d") == .allow)
        #expect(acl.publishDecision(Self.device, clientID: "x", topic: "e") == .allow)
    }

    @Test func subscriptionsAreCoveredOrHeldBack() throws {
        let acl = try TopicACL(parsing: """
            deny subscribe anonymous test/nosubscribe
            deny subscribe anonymous uns/secret/#
            allow subscribe anonymous uns/#
            """)
        let decide = { (filter: String) in acl.subscriptionDecision(.anonymous, clientID: "c", filter: filter) }
        #expect(decide("test/nosubscribe") == .init(effect: .deny, excluded: []))
        #expect(decide("test/other") == .init(effect: nil, excluded: []))
        #expect(decide("test/#") == .init(effect: nil, excluded: ["test/nosubscribe"]))
        #expect(decide("uns/secret/a") == .init(effect: .deny, excluded: []))
        #expect(decide("uns/+/a") == .init(effect: .allow, excluded: ["uns/secret/#"]))
        #expect(decide("$share/g/uns/line/#") == .init(effect: .allow, excluded: []))
        #expect(acl.subscription(.anonymous, clientID: "c", filter: "test/other") == .refused)
        #expect(acl.subscription(.anonymous, clientID: "c", filter: "uns/#") == .granted(excluding: ["uns/secret/#"]))
    }

    @Test func coverageAndOverlapOfFilters() {
        #expect(Topic.covers("a/#", "a"))
        #expect(!Topic.covers("#", "$SYS/x"))
        #expect(!Topic.covers("+/x", "$SYS/x"))
        #expect(Topic.overlaps("a/+/c", "a/b/#"))
        #expect(Topic.overlaps("a/#", "a"))
        #expect(Topic.overlaps("a", "a/#"))
        #expect(!Topic.overlaps("a/b", "a/c"))
        #expect(!Topic.overlaps("a/b", "a/b/c"))
        #expect(!Topic.overlaps("#", "$SYS/#"))
        #expect(Topic.overlaps("$SYS/#", "$SYS/+"))
    }
}

@Suite struct BrokerACLTests {
    @Test func aDeniedFilterIsRefusedAndTheOthersGranted() throws {
        let acl = try TopicACL(parsing: "deny subscribe anonymous test/nosubscribe\nallow pubsub all #")
        var h = BrokerHarness(authorizer: acl)
        h.connect(1, BrokerHarness.connect("c", .v311))
        let suback = h.send(1, .subscribe(Subscribe(packetID: 7, subscriptions: [
            Subscription(filter: "test/a"), Subscription(filter: "test/nosubscribe"), Subscription(filter: "test/#"),
        ])))
        #expect(suback.sent(to: 1) == [.suback(SubAck(packetID: 7, reasonCodes: [.grantedQoS0, .notAuthorized, .grantedQoS0]))])
        #expect(h.state.statistics.subscriptionsRefused == 1)
        h.connect(2, BrokerHarness.connect("p"))
        // `test/#` was granted, but the denied topic is held back from it.
        #expect(h.publish(2, "test/nosubscribe", "x").publishes(to: 1).isEmpty)
        #expect(h.publish(2, "test/a", "x").publishes(to: 1).count == 1)
    }

    @Test func retainedMessagesOfHeldBackTopicsAreNotSent() throws {
        let acl = try TopicACL(parsing: "deny subscribe anonymous test/secret\nallow pubsub all #")
        var h = BrokerHarness(authorizer: acl)
        h.connect(2, BrokerHarness.connect("p"))
        h.publish(2, "test/secret", "s", retain: true)
        h.publish(2, "test/open", "o", retain: true)
        h.connect(1, BrokerHarness.connect("c"))
        #expect(h.subscribe(1, "test/+").publishes(to: 1).map(\.topic) == ["test/open"])
    }

    @Test func changedRulesRemoveOrNarrowHeldSubscriptions() throws {
        let rules = MutableACL(try TopicACL(parsing: "allow pubsub all #"))
        var h = BrokerHarness(authorizer: rules)
        h.connect(1, BrokerHarness.connect("c", expiry: 3600))
        h.subscribe(1, "a/b")
        h.subscribe(1, "x/#", packetID: 2)
        h.connect(2, BrokerHarness.connect("p"))
        rules.acl = try TopicACL(parsing: "deny subscribe all a/#\ndeny subscribe all x/secret\nallow pubsub all #")
        var actions: [BrokerAction] = []
        #expect(h.state.reauthorizeSubscriptions(into: &actions) == 1)
        #expect(actions.contains { if case .notice(_, let text) = $0 { text.contains("'a/b'") } else { false } })
        #expect(h.publish(2, "a/b", "x").publishes(to: 1).isEmpty)
        #expect(h.publish(2, "x/secret", "x").publishes(to: 1).isEmpty)
        #expect(h.publish(2, "x/open", "x").publishes(to: 1).count == 1)
    }

    @Test func onlyTheSamePartyResumesOrTakesOverASession() {
        var h = BrokerHarness()
        let owner = Principal(name: "press-1", attributes: ["kind": "device", "tenant": "acme"])
        let stranger = Principal(name: "press-1", attributes: ["kind": "device", "tenant": "other"])
        h.connect(1, BrokerHarness.connect("shared-id", clean: false, expiry: 3600), principal: owner)
        h.subscribe(1, "cmd/#")
        let refused = h.connect(2, BrokerHarness.connect("shared-id", clean: false, expiry: 3600), principal: stranger)
        #expect(refused.sent(to: 2) == [.connack(ConnAck(reasonCode: .clientIdentifierNotValid))])
        h.close(1)
        let fresh = h.connect(3, BrokerHarness.connect("shared-id", clean: false, expiry: 3600), principal: stranger)
        #expect(Self.sessionPresent(fresh, 3) == false)
        h.connect(4, BrokerHarness.connect("p"))
        #expect(h.publish(4, "cmd/x", "x").publishes(to: 3).isEmpty)
        h.close(3)
        let resumed = h.connect(5, BrokerHarness.connect("shared-id", clean: false, expiry: 3600), principal: stranger)
        #expect(Self.sessionPresent(resumed, 5) == true)
    }

    static func sessionPresent(_ actions: [BrokerAction], _ id: Int) -> Bool? {
        for action in actions {
            if case .send(ConnectionID(id), .connack(let ack)) = action { return ack.sessionPresent }
        }
        return nil
    }
}

/// An authorizer whose rules a test swaps, as a reload does.
final class MutableACL: Authorizer, @unchecked Sendable {
    var acl: TopicACL
    init(_ acl: TopicACL) { self.acl = acl }
    func mayPublish(_ principal: Principal, clientID: String, topic: String) -> Bool {
        acl.mayPublish(principal, clientID: clientID, topic: topic)
    }
    func subscription(_ principal: Principal, clientID: String, filter: String) -> SubscriptionGrant {
        acl.subscription(principal, clientID: clientID, filter: filter)
    }
}
