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
