import Foundation
import GembaCore
import GembaNotifications
import GembaRules
import GembaStorage
import Testing

@Suite struct NotificationTests {
    /// The Standard Webhooks specification's own example.
    @Test func signsLikeTheSpecificationsExample() {
        let signature = StandardWebhook.signature(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: #"{"test": 2432232314}"#,
                                                  secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        let rotated = StandardWebhook.signature(id: "msg_1", timestamp: 1, body: "{}", secrets: [StandardWebhook.newSecret(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        #expect(rotated.split(separator: " ").count == 2 && rotated.split(separator: " ").allSatisfy { $0.hasPrefix("v1,") })
        #expect(StandardWebhook.key(of: "not a secret") == nil)
    }

    @Test func retriesFollowTheScheduleWithJitterAndRetryAfter() {
        let schedule = RetrySchedule.standard
        #expect(schedule.next(after: 1, now: 0, jitter: 0) == 5_000)
        #expect(schedule.next(after: 2, now: 0, jitter: 1) == 330_000)
        #expect(schedule.next(after: 2, now: 0, jitter: -1) == 270_000)
        #expect(schedule.next(after: 1, now: 0, retryAfter: 120_000, jitter: 0) == 120_000)
        #expect(schedule.next(after: 7, now: 0, jitter: 0) == 36_000_000)
        #expect(schedule.next(after: 8, now: 0, jitter: 0) == nil)
    }

    @Test(arguments: [("127.0.0.1", true), ("10.1.2.3", true), ("172.20.0.1", true), ("192.168.1.1", true), ("169.254.169.254", true),
                      ("100.64.0.1", true), ("0.0.0.0", true), ("::1", true), ("fd00::1", true), ("fe80::1", true), ("::ffff:127.0.0.1", true),
                      ("8.8.8.8", false), ("172.32.0.1", false), ("2001:4860::8888", false)])
    func refusesPrivateAndLoopbackAddresses(_ address: String, _ refused: Bool) async {
        let refusal = await NetworkGuard(allowPrivateNetworks: false).refusal(host: address)
        #expect((refusal != nil) == refused)
        #expect(await NetworkGuard(allowPrivateNetworks: true).refusal(host: address) == nil)
    }

    @Test func secretsAreSealedAndOpened() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-box-\(UUID().uuidString)").path
        let box = try SecretBox.open(directory: directory)
        let sealed = try box.seal(["whsec_abc", "whsec_def"])
        #expect(!sealed.contains("abc"))
        #expect(try SecretBox.open(directory: directory).open(sealed) == ["whsec_abc", "whsec_def"])
        let permissions = try FileManager.default.attributesOfItem(atPath: directory + "/notifications.key")[.posixPermissions] as? Int
        #expect(permissions == 0o600)
    }

    @Test func policiesRouteByEventSeverityScopeAndLabels() throws {
        let router = NotificationRouter(baseURL: "https://gemba.example", clock: { 1_000 })
        let notifier = try Self.notifier(router)
        _ = notifier
        var rule = AlarmRule(id: "hot", name: "Spindle hot", text: "", expression: try RuleParser.parse("spindle_temp > 85"), severity: .high)
        rule.labels = ["team": "maintenance"]
        let machine = try AssetPath("plant1/machining/line1/cnc-1")
        let transition = AlarmTransition(kind: .activated, time: 1_796_191_200_000, from: .normal, to: .activeUnacknowledged, severity: .high,
                                         value: 91.5, actor: nil, comment: nil, notify: true)
        let notice = AlarmNotice(tenant: .default, rule: rule, machine: machine, transition: transition)
        let message = NotificationMessage(notice, baseURL: "https://gemba.example")
        #expect(message.text(nil as String?) == "[HIGH] Spindle hot on plant1/machining/line1/cnc-1: activated (spindle_temp = 91.5, threshold 85)")
        #expect(message.text("{{machine}} {{link}}") == "plant1/machining/line1/cnc-1 https://gemba.example/#/machine/plant1/machining/line1/cnc-1")
        let body = try JSONSerialization.jsonObject(with: Data(message.body(for: .webhook, template: nil, type: "alarm.activated").utf8)) as? [String: Any]
        #expect(body?["type"] as? String == "alarm.activated")
        #expect((body?["data"] as? [String: Any])?["severity"] as? String == "high")
    }

    static func notifier(_ router: NotificationRouter) throws -> Notifier {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-notify-\(UUID().uuidString)").path
        let store = try SQLiteStore(directory: directory, logger: .init(label: "test"))
        return Notifier(store: store, box: try SecretBox.open(directory: directory), router: router, logger: .init(label: "test"))
    }
}
