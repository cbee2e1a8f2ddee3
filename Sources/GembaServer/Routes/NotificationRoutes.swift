internal import Foundation
internal import GembaCore
internal import GembaIngest
internal import GembaNotifications
internal import GembaRules
internal import GembaStorage
internal import Hummingbird

/// Notification channels (webhooks signed per Standard Webhooks, Slack, Teams, the log) and
/// policies, managed by admins; the notifications sent, their delivery log, dead letters and replay.
struct NotificationRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let group = "Alarms"
        let channelParameter = Parameter.path("channel", "The channel's id")
        let policyParameter = Parameter.path("policy", "The policy's id")
        return [
            Endpoint(.get, "/api/v1/notification-channels", .requires(.manageTenant), group: group,
                     summary: "The tenant's notification channels (secrets are never shown again)",
                     responses: [.json(200, "Channels", AdminRoutes.items(Self.channel)), Self.unavailable]) { _, context in
                let channels = try center().channels(tenant: context.tenant)
                var json = JSONWriter()
                json.object { json in json.field("items") { json in json.array { json in for channel in channels { Self.write(channel, into: &json) } } } }
                return .json(json)
            },
            Endpoint(.put, "/api/v1/notification-channels/{channel}", .requires(.manageTenant), group: group,
                     summary: "Create or change a channel; a new webhook channel's signing secret is answered once",
                     description: "Targets in loopback or private ranges are refused unless the server allows them (`--notify-allow-private-networks`).",
                     parameters: [channelParameter], body: .json(Self.channelInput),
                     responses: [.json(200, "The channel (with `secret` when one was made)", Self.channel.withMember("secret", Schema.string.orNull)
                                        .named("NotificationChannelSaved")),
                                 .problem(409, "The channel exists with another kind"), .problem(422, "A field is not valid"), Self.unavailable]) { request, context in
                let id = try context.parameters.require("channel")
                let input: ChannelInput
                do { input = try JSONDecoder().decode(ChannelInput.self, from: try await AlarmRoutes.collect(request)) } catch {
                    throw Problem(.unprocessableContent, "the channel is not valid: name and kind are required; \(Self.reason(error))")
                }
                guard let kind = NotificationChannel.Kind(rawValue: input.kind) else {
                    throw Problem(.unprocessableContent, "kind is \(NotificationChannel.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                var channel = NotificationChannel(id: id, name: input.name, kind: kind, url: input.url)
                channel.email = input.email
                channel.mqtt = input.mqtt
                channel.enabled = input.enabled ?? true
                let (saved, secret) = try await refusingModelErrors {
                    try await center().save(channel, password: input.password, tenant: context.tenant)
                }
                await server.audit(context, "notification.channel.save", target: id, detail: "kind=\(kind.rawValue)")
                var json = JSONWriter()
                Self.write(saved, secret: .some(secret), into: &json)
                return .json(json)
            },
            Endpoint(.post, "/api/v1/notification-channels/{channel}/rotate-secret", .requires(.manageTenant), group: group,
                     summary: "Give a webhook channel a new signing secret, answered once; the previous one signs beside it until the next rotation",
                     parameters: [channelParameter],
                     responses: [.json(200, "The new secret", .object(["secret": .string]).named("RotatedSecret")),
                                 .problem(404, "No such webhook channel"), Self.unavailable]) { _, context in
                let id = try context.parameters.require("channel")
                guard let secret = try await center().rotateSecret(channel: id, tenant: context.tenant) else {
                    throw Problem.notFound("no webhook channel \(id)")
                }
                await server.audit(context, "notification.channel.rotate", target: id, detail: "")
                var json = JSONWriter()
                json.object { json in json.field("secret") { $0.string(secret) } }
                return .json(json)
            },
            Endpoint(.post, "/api/v1/notification-channels/{channel}/test", .requires(.manageTenant), group: group,
                     summary: "Queue a test message on a channel", parameters: [channelParameter],
                     responses: [.json(202, "Queued", Self.delivery), .problem(404, "No such channel"), Self.unavailable]) { _, context in
                let id = try context.parameters.require("channel")
                guard let entry = try await center().sendTest(channel: id, tenant: context.tenant, by: try context.requireCaller().name) else {
                    throw Problem.notFound("no channel \(id)")
                }
                var json = JSONWriter()
                Self.write(entry, into: &json)
                return .json(json, status: .accepted)
            },
            Endpoint(.delete, "/api/v1/notification-channels/{channel}", .requires(.manageTenant), group: group,
                     summary: "Delete a channel (queued messages to it become dead letters)", parameters: [channelParameter],
                     responses: [.empty(204, "Deleted"), .problem(404, "No such channel"), Self.unavailable]) { _, context in
                let id = try context.parameters.require("channel")
                guard try await center().deleteChannel(id, tenant: context.tenant) else { throw Problem.notFound("no channel \(id)") }
                await server.audit(context, "notification.channel.delete", target: id, detail: "")
                return Response(status: .noContent)
            },
            Endpoint(.get, "/api/v1/notification-policies", .requires(.manageTenant), group: group, summary: "The tenant's notification policies",
                     responses: [.json(200, "Policies", AdminRoutes.items(Self.policy)), Self.unavailable]) { _, context in
                let policies = try center().policies(tenant: context.tenant)
                var json = JSONWriter()
                json.object { json in json.field("items") { json in json.array { json in for policy in policies { Self.write(policy, into: &json) } } } }
                return .json(json)
            },
            Endpoint(.put, "/api/v1/notification-policies/{policy}", .requires(.manageTenant), group: group,
                     summary: "Create or change a policy: which alarm events (severity, scope, labels) go to which channels, worded how",
                     parameters: [policyParameter], body: .json(Self.policyInput),
                     responses: [.json(200, "The policy", Self.policy), .problem(422, "A field is not valid"), Self.unavailable]) { request, context in
                let id = try context.parameters.require("policy")
                let data = try await AlarmRoutes.collect(request)
                var policy: NotificationPolicy
                do { policy = try JSONDecoder().decode(NotificationPolicy.self, from: data) } catch {
                    throw Problem(.unprocessableContent, "the policy is not valid: name and channels or recipients are required; \(Self.reason(error))")
                }
                guard policy.id.isEmpty || policy.id == id else { throw Problem(.unprocessableContent, "id differs from the policy's path") }
                policy.id = id
                let saved = try await refusingModelErrors { try await center().save(policy, tenant: context.tenant) }
                await server.audit(context, "notification.policy.save", target: id,
                                   detail: "channels=\(saved.channels.joined(separator: ",")) recipients=\(saved.recipients.joined(separator: ","))")
                var json = JSONWriter()
                Self.write(saved, into: &json)
                return .json(json)
            },
            Endpoint(.delete, "/api/v1/notification-policies/{policy}", .requires(.manageTenant), group: group,
                     summary: "Delete a policy", parameters: [policyParameter],
                     responses: [.empty(204, "Deleted"), .problem(404, "No such policy"), Self.unavailable]) { _, context in
                let id = try context.parameters.require("policy")
                guard try await center().deletePolicy(id, tenant: context.tenant) else { throw Problem.notFound("no policy \(id)") }
                await server.audit(context, "notification.policy.delete", target: id, detail: "")
                return Response(status: .noContent)
            },
            Endpoint(.get, "/api/v1/notifications", .requires(.readData), group: group,
                     summary: "Notifications sent and queued, newest first: the dashboard's notification list; `status=dead` lists dead letters",
                     parameters: [Parameter("status", .oneOf(OutboxEntry.Status.allCases.map(\.rawValue)), "Only this status"),
                                  Parameter("limit", .integer(minimum: 1, maximum: 1000), "At most this many (default 100)")],
                     responses: [.json(200, "Notifications", AdminRoutes.items(Self.delivery)), Self.unavailable]) { request, context in
                let parameters = request.uri.queryParameters
                let status = try parameters.get("status").map { text throws(Problem) in
                    guard let status = OutboxEntry.Status(rawValue: text) else { throw Problem.badRequest("status is pending, delivered or dead") }
                    return status
                }
                let limit = try QueryRoutes.limit(parameters.get("limit"), default: 100, maximum: 1000)
                let entries = try await center().deliveries(tenant: context.tenant, status: status, limit: limit)
                var json = JSONWriter(capacity: 512 * entries.count + 32)
                json.object { json in json.field("items") { json in json.array { json in for entry in entries { Self.write(entry, into: &json) } } } }
                return .json(json)
            },
            Endpoint(.get, "/api/v1/notifications/{id}/attempts", .requires(.readData), group: group,
                     summary: "A notification's delivery log: every attempt with its answer and time",
                     parameters: [.path("id", "The notification's id")],
                     responses: [.json(200, "Attempts in time order", AdminRoutes.items(Self.attempt)), .problem(404, "No such notification"),
                                 Self.unavailable]) { _, context in
                guard let id = Int64(try context.parameters.require("id")),
                      let attempts = try await center().attempts(tenant: context.tenant, id: id) else {
                    throw Problem.notFound("no such notification")
                }
                var json = JSONWriter()
                json.object { json in
                    json.field("items") { json in
                        json.array { json in
                            for attempt in attempts {
                                json.object { json in
                                    json.field("time") { $0.int(attempt.time) }
                                    json.field("status_code") { json in attempt.statusCode.map { json.int(Int64($0)) } ?? json.null() }
                                    json.field("error") { json in attempt.error.map { json.string($0) } ?? json.null() }
                                    json.field("duration_ms") { $0.int(attempt.durationMilliseconds) }
                                }
                            }
                        }
                    }
                }
                return .json(json)
            },
            Endpoint(.post, "/api/v1/notifications/{id}/replay", .requires(.manageTenant), group: group,
                     summary: "Send a notification again (a dead letter after its endpoint is fixed): queued for an attempt now",
                     parameters: [.path("id", "The notification's id")],
                     responses: [.empty(202, "Queued"), .problem(404, "No such notification"), Self.unavailable]) { _, context in
                guard let id = Int64(try context.parameters.require("id")), try await center().replay(id, tenant: context.tenant) else {
                    throw Problem.notFound("no such notification")
                }
                await server.audit(context, "notification.replay", target: String(id), detail: "")
                return Response(status: .accepted)
            },
        ]
    }

    private func center() throws -> Notifier {
        guard let center = server.notifications else { throw Problem(.serviceUnavailable, "notifications are not running on this server") }
        return center
    }
}

/// What a PUT of a channel carries: the channel, and for e-mail and MQTT the password (written once, never shown).
private struct ChannelInput: Decodable {
    var name: String
    var kind: String
    var url: String?
    var enabled: Bool?
    var email: SMTPSettings?
    var mqtt: MQTTTarget?
    var password: String?
}

extension NotificationRoutes {
    static let unavailable = Reply.problem(503, "Notifications are not running on this server")
    static let kind = Schema.oneOf(NotificationChannel.Kind.allCases.map(\.rawValue)).named("ChannelKind")
    static let email = Schema.object([
        "host": .string(minLength: 1, maxLength: 253), "port": .integer(minimum: 1, maximum: 65535),
        "security": Schema.oneOf(SMTPSecurity.allCases.map(\.rawValue)).described("starttls (default, port 587), tls (465) or none (25, no password)"),
        "username": .string(minLength: 1, maxLength: 200), "from": .string(maxLength: 254), "to": .array(.string(maxLength: 254), minItems: 1, maxItems: 50),
        "ca_certificate": Schema.string(maxLength: 65536).described("A PEM CA certificate to trust instead of the system's"),
    ], optional: ["port", "security", "username", "ca_certificate"]).named("EmailSettings")
    static let mqtt = Schema.object([
        "topic": Schema.string(minLength: 1, maxLength: 500).described("With {{machine}}, {{rule}}, {{severity}}, {{event}}, {{state}}, {{tenant}}"),
        "qos": .integer(minimum: 0, maximum: 1), "retain": .boolean, "username": .string(minLength: 1, maxLength: 200),
    ], optional: ["qos", "retain", "username"]).named("MQTTSettings")
    static let channelInput = Schema.object([
        "name": .string(minLength: 1, maxLength: 200), "kind": kind,
        "url": Schema.string(maxLength: 2000).orNull.described("http(s) for webhook, slack and teams; mqtt(s)://host:port for an external broker"),
        "enabled": .boolean, "email": email, "mqtt": mqtt,
        "password": Schema.string(minLength: 1, maxLength: 1000).described("The SMTP or MQTT password: stored encrypted, never shown again"),
    ], optional: ["url", "enabled", "email", "mqtt", "password"]).named("NotificationChannelInput")
    static let channel = Schema.object([
        "id": AlarmRoutes.ruleID, "name": .string, "kind": kind,
        "url": Schema.string.orNull.described("Slack and Teams URLs carry a secret: only their host is shown"),
        "email": email.orNull, "mqtt": mqtt.orNull,
        "enabled": .boolean, "disabled_reason": Schema.string.orNull, "signing_secrets": .integer(minimum: 0),
        "password_set": Schema.boolean.described("Whether an e-mail or MQTT channel has a password (never shown)"),
    ]).named("NotificationChannel")
    static let policyMembers: [(String, Schema)] = [
        ("id", AlarmRoutes.ruleID), ("name", .string(minLength: 1, maxLength: 200)), ("minimum_severity", AlarmRoutes.severity),
        ("scope", TelemetrySchemas.assetPath), ("labels", .map(.string(maxLength: 200))),
        ("events", .array(.oneOf(AlarmTransition.Kind.allCases.map(\.rawValue)), maxItems: 20)),
        ("channels", .array(AlarmRoutes.ruleID, maxItems: 20)),
        ("recipients", recipients),
        ("repeat_every", AlarmRoutes.duration.described("Remind the same audience this often while the alarm stays active and unacknowledged")),
        ("escalation", .array(.object(["after": AlarmRoutes.duration, "channels": .array(AlarmRoutes.ruleID, maxItems: 20), "recipients": recipients],
                                      optional: ["channels", "recipients"]).described("Told when still unacknowledged this long after the alarm was raised"),
                              maxItems: 10)),
        ("group", Schema.object(["by": .oneOf(NotificationGrouping.Key.allCases.map(\.rawValue)), "wait": AlarmRoutes.duration,
                                 "interval": AlarmRoutes.duration])
            .described("Notices of one rule, machine, line, site or of everything, close together, go as one message: the first waits `wait` (1s–1h), later ones go at most every `interval`")),
        ("template", Schema.string(maxLength: 2000).described("Text with {{severity}}, {{rule_name}}, {{machine}}, {{tag}}, {{value}}, {{threshold}}, {{link}}, …")),
        ("enabled", .boolean),
    ]
    static let recipients = Schema.array(.string(pattern: "^(user:.+@.+|roster:[A-Za-z0-9_-]{1,64})$"), maxItems: 20)
        .described("People (user:<sign-in e-mail>) and rosters (roster:<id>, whoever is on call), reached through their preferences")
    static let policyInput = Schema.object(policyMembers, optional: ["id", "minimum_severity", "scope", "labels", "events", "channels", "recipients",
                                                                     "repeat_every", "escalation", "group", "template", "enabled"])
        .named("NotificationPolicyInput")
    static let policy = Schema.object(policyMembers, optional: ["scope", "template", "repeat_every", "group"]).named("NotificationPolicy")
    static let delivery = Schema.object([
        "id": .integer(minimum: 1),
        "channel": Schema.string(minLength: 1).described("The channel's id; for a recipient nobody could reach, the recipient"),
        "recipient": Schema.string.orNull.described("The person it went to; null: the channel's own audience"),
        "message_id": .string, "type": .string,
        "payload": Schema.string.described("The body as sent (JSON)"), "created_at": .epochMilliseconds,
        "status": .oneOf(OutboxEntry.Status.allCases.map(\.rawValue)), "attempts": .integer(minimum: 0),
        "next_attempt_at": .epochMilliseconds, "last_error": Schema.string.orNull, "delivered_at": Schema.epochMilliseconds.orNull,
    ]).named("Notification")
    static let attempt = Schema.object([
        "time": .epochMilliseconds, "status_code": Schema.integer.orNull, "error": Schema.string.orNull, "duration_ms": .integer(minimum: 0),
    ]).named("DeliveryAttempt")

    static func reason(_ error: any Error) -> String {
        if case DecodingError.keyNotFound(let key, _) = error { return "\(key.stringValue) is missing" }
        if case DecodingError.typeMismatch(_, let context) = error { return "\(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type" }
        if case DecodingError.dataCorrupted(let context) = error { return context.debugDescription }
        return "the body is not valid JSON"
    }

    /// A channel; `secret` (when given) is the one just made, shown this once.
    static func write(_ channel: NotificationChannel, secret: String?? = nil, into json: inout JSONWriter) {
        json.object { json in
            json.field("id") { $0.string(channel.id) }
            json.field("name") { $0.string(channel.name) }
            json.field("kind") { $0.string(channel.kind.rawValue) }
            json.field("url") { json in channel.shownURL.map { json.string($0) } ?? json.null() }
            json.field("email") { json in channel.email.map { json.encoded($0) } ?? json.null() }
            json.field("mqtt") { json in channel.mqtt.map { json.encoded($0) } ?? json.null() }
            json.field("enabled") { $0.bool(channel.enabled) }
            json.field("disabled_reason") { json in channel.disabledReason.map { json.string($0) } ?? json.null() }
            json.field("signing_secrets") { $0.int(Int64(channel.kind == .webhook ? channel.secrets.count : 0)) }
            json.field("password_set") { $0.bool(channel.kind.takesPassword && !channel.secrets.isEmpty) }
            if let secret { json.field("secret") { json in secret.map { json.string($0) } ?? json.null() } }
        }
    }

    static func write(_ policy: NotificationPolicy, into json: inout JSONWriter) {
        json.encoded(policy)
    }

    static func write(_ entry: OutboxEntry, into json: inout JSONWriter) {
        json.object { json in
            json.field("id") { $0.int(entry.id) }
            json.field("channel") { $0.string(entry.channel) }
            json.field("recipient") { json in entry.recipient.map { json.string($0) } ?? json.null() }
            json.field("message_id") { $0.string(entry.messageID) }
            json.field("type") { $0.string(entry.eventType) }
            json.field("payload") { $0.string(entry.payload) }
            json.field("created_at") { $0.int(entry.createdAt) }
            json.field("status") { $0.string(entry.status.rawValue) }
            json.field("attempts") { $0.int(Int64(entry.attempts)) }
            json.field("next_attempt_at") { $0.int(entry.nextAttemptAt) }
            json.field("last_error") { json in entry.lastError.map { json.string($0) } ?? json.null() }
            json.field("delivered_at") { json in entry.deliveredAt.map { json.int($0) } ?? json.null() }
        }
    }
}
