import GembaCore
import GembaServer
import MQTTBroker
import Testing

/// The broker's tenant rules, as a table: who may publish and subscribe where.
@Suite struct TopicAuthorizationTests {
    let authorizer = TenantTopicRules()
    static let acme = TenantID("acme")!
    let device = Principal(Caller(kind: .device, id: "d1", name: "gw-3", tenant: acme, role: nil,
                                  subtree: try! AssetSubtree("plant1/press-shop/line3")))
    let wholeTenantDevice = Principal(Caller(kind: .device, id: "d2", name: "gw-all", tenant: acme, role: nil))
    let engineerKey = Principal(Caller(kind: .apiKey, id: "k1", name: "scripts", tenant: acme, role: .engineer))
    let viewerKey = Principal(Caller(kind: .apiKey, id: "k2", name: "grafana", tenant: acme, role: .viewer))

    @Test func devicesPublishOnlyInsideTheirSubtree() {
        let table: [(Principal, String, Bool)] = [
            (device, "gemba/v1/plant1/press-shop/line3/press-7", true),
            (device, "gemba/v1/plant1/press-shop/line3/press-7/good_count", true),
            (device, "gemba/v1/plant1/press-shop/line4/press-1", false),
            (device, "gemba/v1/plant1/press-shop/line33/press-1", false),
            (device, "gemba/v1/plant1/press-shop", false),
            (device, "plant1/press-shop/line3/press-7", false),
            (device, "$SYS/broker", false),
            (wholeTenantDevice, "gemba/v1/anywhere/line/machine", true),
            (wholeTenantDevice, "other/topic", false),
            (engineerKey, "gemba/v1/plant1/line1/m1", true),
            (viewerKey, "gemba/v1/plant1/line1/m1", false),
            (.anonymous, "anything/at/all", true),
        ]
        for (principal, topic, allowed) in table {
            #expect(authorizer.mayPublish(principal, topic: topic) == allowed, "\(principal.name) → \(topic)")
        }
    }

    @Test func clientsSubscribeOnlyToTheirTenantsCommandTopics() {
        let table: [(Principal, String, Bool)] = [
            (device, "gemba/cmd/acme/plant1/press-shop/line3/#", true),
            (device, "gemba/cmd/acme/plant1/press-shop/line3/press-7/+", true),
            (device, "gemba/cmd/acme/plant1/#", false),
            (device, "gemba/cmd/other/plant1/press-shop/line3/#", false),
            (device, "gemba/v1/#", false),
            (device, "#", false),
            (wholeTenantDevice, "gemba/cmd/acme/#", true),
            (engineerKey, "gemba/cmd/acme/+/line1/m1/#", true),
            (engineerKey, "gemba/cmd/+/#", false),
            (.anonymous, "#", true),
        ]
        for (principal, filter, allowed) in table {
            #expect(authorizer.maySubscribe(principal, filter: filter) == allowed, "\(principal.name) ⇐ \(filter)")
        }
    }
}

/// Sparkplug on the embedded broker: ids map to machines ({group}/{node}/{device}), and a device
/// credential covers the edge nodes and devices whose machines lie in its subtree.
@Suite struct SparkplugTopicAuthorizationTests {
    let authorizer = TenantTopicRules()
    static let acme = TenantID("acme")!
    let edgeNode = Principal(Caller(kind: .device, id: "d1", name: "e1", tenant: acme, role: nil,
                                    subtree: try! AssetSubtree("G1/E1")))
    let oneMachine = Principal(Caller(kind: .device, id: "d2", name: "press", tenant: acme, role: nil,
                                      subtree: try! AssetSubtree("G1/E1/D1")))
    let operatorKey = Principal(Caller(kind: .apiKey, id: "k1", name: "host", tenant: acme, role: .operator))
    let engineerKey = Principal(Caller(kind: .apiKey, id: "k3", name: "gateway", tenant: acme, role: .engineer))
    let viewerKey = Principal(Caller(kind: .apiKey, id: "k2", name: "grafana", tenant: acme, role: .viewer))

    @Test func edgeNodesPublishOnlyTheirOwnIds() {
        let table: [(Principal, String, Bool)] = [
            (edgeNode, "spBv1.0/G1/NBIRTH/E1", true),
            (edgeNode, "spBv1.0/G1/NDATA/E1", true),
            (edgeNode, "spBv1.0/G1/NDEATH/E1", true),
            (edgeNode, "spBv1.0/G1/DBIRTH/E1/D1", true),
            (edgeNode, "spBv1.0/G1/DDATA/E1/D7", true),
            (edgeNode, "spBv1.0/G1/NBIRTH/E2", false),
            (edgeNode, "spBv1.0/G2/NBIRTH/E1", false),
            (edgeNode, "spBv1.0/G1/NCMD/E1", false),
            (edgeNode, "spBv1.0/STATE/gemba", false),
            (edgeNode, "spBv1.0/G1/NDATA", false),
            (oneMachine, "spBv1.0/G1/DDATA/E1/D1", true),
            (oneMachine, "spBv1.0/G1/DDATA/E1/D2", false),
            (oneMachine, "spBv1.0/G1/NBIRTH/E1", false),
            (engineerKey, "spBv1.0/G9/NDATA/E9", true),
            (operatorKey, "spBv1.0/G9/NDATA/E9", false),  // data needs ingest (engineer)
            (operatorKey, "spBv1.0/G9/DCMD/E9/D1", true),
            (viewerKey, "spBv1.0/G9/NDATA/E9", false),
        ]
        for (principal, topic, allowed) in table {
            #expect(authorizer.mayPublish(principal, topic: topic) == allowed, "\(principal.name) → \(topic)")
        }
    }

    @Test func edgeNodesSubscribeToTheirCommandsAndToHostStates() {
        let table: [(Principal, String, Bool)] = [
            (edgeNode, "spBv1.0/G1/NCMD/E1", true),
            (edgeNode, "spBv1.0/G1/DCMD/E1/+", true),
            (edgeNode, "spBv1.0/G1/DCMD/E1/#", true),
            (edgeNode, "spBv1.0/STATE/gemba", true),
            (edgeNode, "spBv1.0/STATE/+", true),
            (edgeNode, "spBv1.0/G1/NCMD/E2", false),
            (edgeNode, "spBv1.0/G1/NCMD/+", false),
            (edgeNode, "spBv1.0/#", false),
            (edgeNode, "spBv1.0/G1/NDATA/E1", false),
            (oneMachine, "spBv1.0/G1/DCMD/E1/D1", true),
            (oneMachine, "spBv1.0/G1/DCMD/E1/#", false),
            (oneMachine, "spBv1.0/G1/NCMD/E1", false),
        ]
        for (principal, filter, allowed) in table {
            #expect(authorizer.maySubscribe(principal, filter: filter) == allowed, "\(principal.name) → \(filter)")
        }
    }
}

/// The tenant rules first for Gemba's namespaces, then the topic rules: devices and keys reach other
/// topics only through a rule, no rule opens another tenant's Gemba topics, and rules can refuse
/// anonymous clients what they could otherwise do.
@Suite struct BrokerAuthorizerTests {
    static let acme = TenantID("acme")!
    let device = Principal(Caller(kind: .device, id: "d1", name: "gw-3", tenant: acme, role: nil))
    let key = Principal(Caller(kind: .apiKey, id: "k1", name: "historian", tenant: .default, role: .viewer))

    func authorizer(_ rules: [String]) async throws -> BrokerAuthorizer {
        let topicRules = try await BrokerTopicRules(filePath: nil, store: nil, logger: .init(label: "test"))
        try await topicRules.replaceAPIRules(rules)
        return BrokerAuthorizer(tenantRules: TenantTopicRules(), rules: topicRules)
    }

    @Test func otherTopicsNeedARuleAndGembaTopicsKeepTheTenantRules() async throws {
        let authorizer = try await authorizer([
            "allow pubsub device:* uns/%u/#",
            "allow subscribe key:historian #",
            "allow publish all gemba/v1/#",
        ])
        #expect(authorizer.mayPublish(device, clientID: "c", topic: "uns/gw-3/temp"))
        #expect(!authorizer.mayPublish(device, clientID: "c", topic: "uns/gw-4/temp"))
        #expect(authorizer.subscription(device, clientID: "c", filter: "uns/gw-3/#") == .granted)
        #expect(authorizer.subscription(device, clientID: "c", filter: "uns/#") == .refused)
        // A rule allowing `#` does not open Gemba's topics of any tenant to a viewer key.
        #expect(authorizer.subscription(key, clientID: "c", filter: "#") == .refused)
        #expect(authorizer.subscription(key, clientID: "c", filter: "uns/#") == .granted)
        #expect(!authorizer.mayPublish(key, clientID: "c", topic: "gemba/v1/plant/line/m1"))
        #expect(authorizer.mayPublish(device, clientID: "c", topic: "gemba/v1/plant/line/m1"))
    }

    @Test func rulesNarrowWhatAnonymousClientsMayDo() async throws {
        let authorizer = try await authorizer(["deny subscribe anonymous test/nosubscribe", "deny publish anonymous gemba/v1/#"])
        #expect(authorizer.subscription(.anonymous, clientID: "c", filter: "test/nosubscribe") == .refused)
        #expect(authorizer.subscription(.anonymous, clientID: "c", filter: "test/#") == .granted(excluding: ["test/nosubscribe"]))
        #expect(!authorizer.mayPublish(.anonymous, clientID: "c", topic: "gemba/v1/a/b/c"))
        #expect(authorizer.mayPublish(.anonymous, clientID: "c", topic: "uns/a"))
    }

    @Test func aBadRuleIsRefusedWithItsNumberAndTheRulesStay() async throws {
        let topicRules = try await BrokerTopicRules(filePath: nil, store: nil, logger: .init(label: "test"))
        try await topicRules.replaceAPIRules(["allow publish all a"])
        await #expect(throws: TopicACLError("rule 2: 'sometimes' is not allow or deny")) {
            try await topicRules.replaceAPIRules(["allow publish all b", "sometimes publish all c"])
        }
        #expect(topicRules.apiRules == ["allow publish all a"])
    }
}
