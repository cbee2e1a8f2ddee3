import Foundation
import GembaCore
import GembaIngest
import GembaServer
import GembaTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Channels and policies through the API, and an alarm reaching the log channel's notification list.
@Suite struct NotificationAPITests {
    static func put(_ client: any TestClientProtocol, _ path: String, _ body: String) async throws -> TestResponse {
        try await client.execute(uri: path, method: .put, body: ByteBuffer(string: body))
    }

    @Test func anAlarmReachesTheLogChannelThroughItsPolicy() async throws {
        let harness = try await ServerHarness()
        let notifier = try #require(harness.server.notifications)
        let delivery = Task { try await notifier.run() }
        defer { delivery.cancel() }
        try await harness.test { client in
            #expect(try await Self.put(client, "/api/v1/notification-channels/floor", #"{"name": "Floor", "kind": "log"}"#).status == .ok)
            let policy = try await Self.put(client, "/api/v1/notification-policies/all",
                                            #"{"name": "All", "channels": ["floor"], "minimum_severity": "medium", "template": "{{rule_name}} at {{machine}}"}"#)
            #expect(policy.status == .ok, "\(policy.text)")
            #expect(try await Self.put(client, "/api/v1/notification-policies/bad", #"{"name": "x", "channels": ["nope"]}"#).status == .unprocessableContent)
            #expect(try await Self.put(client, "/api/v1/notification-policies/bad", #"{"name": "x", "channels": ["floor"], "template": "{{nope}}"}"#)
                .status == .unprocessableContent)
            #expect(try await AlarmAPITests.put(client, "hot", #"{"name": "Hot spindle", "severity": "high", "condition": "spindle_temp > 85"}"#).status == .ok)
            try await AlarmAPITests.ingest(client, temperature: 95)
            var delivered: JSONValue?
            _ = try await TestSupport.eventually {
                delivered = try await client.execute(uri: "/api/v1/notifications?status=delivered", method: .get).json["items"]?.array.first
                return delivered != nil
            }
            let entry = try #require(delivered)
            #expect(entry["type"] == .string("alarm.activated") && entry["channel"] == .string("floor"))
            #expect(entry["payload"]?.stringValue?.contains("Hot spindle at \(AlarmAPITests.machine)") == true)
            let id = try #require(entry["id"]?.int)
            let attempts = try await client.execute(uri: "/api/v1/notifications/\(id)/attempts", method: .get)
            #expect(attempts.json["items"]?.array.count == 1)
            #expect(try await client.execute(uri: "/api/v1/notifications/999999/attempts", method: .get).status == .notFound)
            // A test message answers the id it was stored under (schemathesis caught a 0 here).
            let test = try await client.execute(uri: "/api/v1/notification-channels/floor/test", method: .post)
            let testID = try #require(test.json["id"]?.int, "\(test.text)")
            #expect(test.status == .accepted && testID > id)
            #expect(try await client.execute(uri: "/api/v1/notifications/\(testID)/attempts", method: .get).status == .ok)
        }
    }

    @Test func aWebhooksSecretIsShownOnceAndSlackURLsNever() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let created = try await Self.put(client, "/api/v1/notification-channels/ops", #"{"name": "Ops", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}"#)
            #expect(created.status == .ok)
            let secret = try #require(created.json["secret"]?.stringValue)
            #expect(secret.hasPrefix("whsec_"))
            let changed = try await Self.put(client, "/api/v1/notification-channels/ops", #"{"name": "Ops team", "kind": "webhook", "url": "http://127.0.0.1:9/h"}"#)
            #expect(changed.json["secret"] == .null && changed.json["signing_secrets"] == .integer(1))
            let listed = try await client.execute(uri: "/api/v1/notification-channels", method: .get)
            #expect(!listed.text.contains(secret.dropFirst(6)))
            let rotated = try await client.execute(uri: "/api/v1/notification-channels/ops/rotate-secret", method: .post)
            #expect(rotated.json["secret"]?.stringValue?.hasPrefix("whsec_") == true && rotated.json["secret"]?.stringValue != secret)
            #expect(try await client.execute(uri: "/api/v1/notification-channels", method: .get).json["items"]?.array.first?["signing_secrets"]
                == .integer(2))
            #expect(try await Self.put(client, "/api/v1/notification-channels/ops", #"{"name": "x", "kind": "slack", "url": "https://hooks.slack.com/a"}"#)
                .status == .conflict)
            let slack = try await Self.put(client, "/api/v1/notification-channels/chat",
                                           #"{"name": "Chat", "kind": "slack", "url": "https://hooks.slack.com/services/T000/B000/XXXXSECRET"}"#)
            #expect(slack.json["url"] == .string("https://hooks.slack.com/…") && !slack.text.contains("XXXXSECRET"))
            #expect(try await Self.put(client, "/api/v1/notification-channels/bad", #"{"name": "x", "kind": "webhook", "url": "ftp://x"}"#)
                .status == .unprocessableContent)
        }
    }

    /// An e-mail channel's password is taken once and never answered; MQTT channels are checked.
    @Test func emailAndMQTTChannelsKeepTheirPasswordToThemselves() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let body = #"""
                {"name": "Mail", "kind": "email", "password": "hunter2hunter2",
                 "email": {"host": "127.0.0.1", "username": "gemba", "from": "alarms@plant.example", "to": ["m@plant.example"]}}
                """#
            let saved = try await Self.put(client, "/api/v1/notification-channels/mail", body)
            #expect(saved.status == .ok, "\(saved.text)")
            #expect(saved.json["password_set"] == .bool(true) && saved.json["email"]?["port"] == .integer(587) && !saved.text.contains("hunter2"))
            let listed = try await client.execute(uri: "/api/v1/notification-channels", method: .get)
            #expect(!listed.text.contains("hunter2") && listed.json["items"]?.array.first?["email"]?["username"] == .string("gemba"))
            // Changing the channel without a password keeps the stored one.
            let renamed = try await Self.put(client, "/api/v1/notification-channels/mail", body.replacingOccurrences(of: #""password": "hunter2hunter2","#, with: ""))
            #expect(renamed.json["password_set"] == .bool(true))
            let clear = body.replacingOccurrences(of: #""username""#, with: #""security": "none", "username""#)
            let refused = try await Self.put(client, "/api/v1/notification-channels/mail2", clear)
            #expect(refused.status == .unprocessableContent && refused.text.contains("in the clear"))
            #expect(try await Self.put(client, "/api/v1/notification-channels/andon", #"{"name": "Andon", "kind": "mqtt", "mqtt": {"topic": "andon/#"}}"#)
                .status == .unprocessableContent)
            let andon = try await Self.put(client, "/api/v1/notification-channels/andon", #"{"name": "Andon", "kind": "mqtt", "mqtt": {"topic": "andon/{{machine}}", "retain": true}}"#)
            #expect(andon.status == .ok && andon.json["mqtt"]?["qos"] == .integer(1))
            #expect(try await Self.put(client, "/api/v1/notification-channels/log2", #"{"name": "x", "kind": "log", "password": "p"}"#)
                .status == .unprocessableContent)
        }
    }

    @Test func rostersAndPreferencesSendToWhoeverIsOnCall() async throws {
        let harness = try await ServerHarness()
        let notifier = try #require(harness.server.notifications)
        let delivery = Task { try await notifier.run() }
        defer { delivery.cancel() }
        let key = try await harness.apiKey(role: .owner)
        try await harness.test { client in
            let owner = ServerHarness.ownerEmail
            #expect(try await Self.put(client, "/api/v1/notification-channels/floor", #"{"name": "Floor", "kind": "log"}"#).status == .ok)
            let mine = try await Self.put(client, "/api/v1/me/notification-preferences",
                                          #"{"channels": ["floor"], "minimum_severity": "medium", "quiet_hours": {"start": "23:00", "end": "23:01", "time_zone": "UTC"}}"#)
            #expect(mine.status == .ok, "\(mine.text)")
            #expect(mine.json["id"] == .string(owner) && mine.json["quiet_hours"]?["weekdays"]?.array.count == 7)
            #expect(try await client.execute(uri: "/api/v1/me/notification-preferences", method: .get).json["minimum_severity"] == .string("medium"))
            #expect(try await Self.put(client, "/api/v1/me/notification-preferences", #"{"channels": ["nope"]}"#).status == .unprocessableContent)
            let roster = #"{"name": "Maintenance", "time_zone": "Europe/Berlin", "people": ["\#(owner)"], "rotation_start": 0, "turn": "7d"}"#
            let saved = try await Self.put(client, "/api/v1/notification-rosters/maintenance", roster)
            #expect(saved.status == .ok, "\(saved.text)")
            #expect(saved.json["on_call"] == .string(owner))
            let stranger = #"{"name": "M", "time_zone": "UTC", "people": ["stranger@elsewhere.example"], "rotation_start": 0, "turn": "1d"}"#
            let refused = try await Self.put(client, "/api/v1/notification-rosters/other", stranger)
            #expect(refused.status == .unprocessableContent && refused.text.contains("not a member"))
            #expect(try await Self.put(client, "/api/v1/notification-rosters/bad", #"{"name": "M"}"#).status == .unprocessableContent)
            let onCall = try await client.execute(uri: "/api/v1/notification-rosters/maintenance/on-call?at=86400000", method: .get)
            #expect(onCall.json["person"] == .string(owner))
            #expect(try await client.execute(uri: "/api/v1/notification-rosters/none/on-call", method: .get).status == .notFound)
            let policy = try await Self.put(client, "/api/v1/notification-policies/oncall",
                                            #"{"name": "On call", "recipients": ["roster:maintenance"], "escalation": [{"after": "10m", "recipients": ["user:\#(owner)"]}]}"#)
            #expect(policy.status == .ok, "\(policy.text)")
            #expect(policy.json["escalation"]?.array.first?["after"] == .string("10m"))
            #expect(try await client.execute(uri: "/api/v1/notification-rosters/maintenance", method: .delete).status == .conflict)
            // Critical: it breaks through the quiet hours, whenever this test runs.
            #expect(try await AlarmAPITests.put(client, "hot", #"{"name": "Hot spindle", "severity": "critical", "condition": "spindle_temp > 85"}"#).status == .ok)
            try await AlarmAPITests.ingest(client, temperature: 95)
            var delivered: JSONValue?
            _ = try await TestSupport.eventually {
                delivered = try await client.execute(uri: "/api/v1/notifications?status=delivered", method: .get).json["items"]?.array.first
                return delivered != nil
            }
            #expect(delivered?["recipient"] == .string(owner) && delivered?["channel"] == .string("floor"))
            // An API key is nobody: it has no preferences of its own.
            let keyed = try await client.execute(uri: "/api/v1/me/notification-preferences", method: .get,
                                                 headers: [.authorization: "Bearer \(key)"])
            #expect(keyed.status == .forbidden)
        }
    }
}
