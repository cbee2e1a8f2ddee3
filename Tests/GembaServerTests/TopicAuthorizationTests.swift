import GembaCore
import GembaServer
import MQTTBroker
import Testing

/// The broker's tenant rules, as a table: who may publish and subscribe where.
@Suite struct TopicAuthorizationTests {
    let authorizer = TenantTopicAuthorizer()
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
    let authorizer = TenantTopicAuthorizer()
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
