internal import Foundation
internal import GembaCore
internal import GembaNotifications
internal import GembaRules
internal import Hummingbird

/// On-call rosters and each person's notification preferences: admins manage them for everyone;
/// every signed-in person reads and changes their own (`/api/v1/me/notification-preferences`).
struct NotificationPeopleRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let group = "Alarms"
        let rosterParameter = Parameter.path("roster", "The roster's id")
        let personParameter = Parameter.path("person", "The person's sign-in e-mail")
        return [
            Endpoint(.get, "/api/v1/notification-rosters", .requires(.manageTenant), group: group,
                     summary: "The tenant's on-call rosters, each with who is on call now",
                     responses: [.json(200, "Rosters", AdminRoutes.items(Self.roster)), NotificationRoutes.unavailable]) { _, context in
                let rosters = try center().rosters(tenant: context.tenant)
                let now = Timestamp.now().millisecondsSinceEpoch
                var json = JSONWriter()
                json.object { json in json.field("items") { json in json.array { json in for roster in rosters { Self.write(roster, now: now, into: &json) } } } }
                return .json(json)
            },
            Endpoint(.put, "/api/v1/notification-rosters/{roster}", .requires(.manageTenant), group: group,
                     summary: "Create or change an on-call roster: people taking turns, overrides, holidays with their cover, quiet hours",
                     description: "Everyone a roster names must be a member of the tenant.",
                     parameters: [rosterParameter], body: .json(Self.rosterInput),
                     responses: [.json(200, "The roster", Self.roster), .problem(422, "A field is not valid"), NotificationRoutes.unavailable]) { request, context in
                let id = try context.parameters.require("roster")
                var roster: OnCallRoster = try await Self.decode(request, what: "roster", required: "name, time_zone, people, rotation_start and turn")
                guard roster.id.isEmpty || roster.id == id else { throw Problem(.unprocessableContent, "id differs from the roster's path") }
                roster.id = id
                try await checkMembers(roster.everyone, context)
                let saved = try await refusingModelErrors { try await center().save(roster, tenant: context.tenant) }
                await server.audit(context, "notification.roster.save", target: id, detail: "people=\(saved.people.count)")
                var json = JSONWriter()
                Self.write(saved, now: Timestamp.now().millisecondsSinceEpoch, into: &json)
                return .json(json)
            },
            Endpoint(.get, "/api/v1/notification-rosters/{roster}/on-call", .requires(.manageTenant), group: group,
                     summary: "Who is on call at a time (now by default)",
                     parameters: [rosterParameter, Parameter("at", .epochMilliseconds, "The time; now when absent")],
                     responses: [.json(200, "Who is on call", .object(["at": .epochMilliseconds, "person": Schema.string.orNull]).named("OnCall")),
                                 .problem(404, "No such roster"), NotificationRoutes.unavailable]) { request, context in
                let id = try context.parameters.require("roster")
                let at = try request.uri.queryParameters.get("at").map { text throws(Problem) in
                    guard let value = Int64(text), (0...253_402_300_799_000).contains(value) else {
                        throw Problem.badRequest("at is a time in epoch milliseconds")
                    }
                    return value
                } ?? Timestamp.now().millisecondsSinceEpoch
                guard let roster = try center().roster(id, tenant: context.tenant) else { throw Problem.notFound("no roster \(id)") }
                var json = JSONWriter()
                json.object { json in
                    json.field("at") { $0.int(at) }
                    json.field("person") { json in roster.onCall(at: at).map { json.string($0) } ?? json.null() }
                }
                return .json(json)
            },
            Endpoint(.delete, "/api/v1/notification-rosters/{roster}", .requires(.manageTenant), group: group,
                     summary: "Delete a roster that no policy names", parameters: [rosterParameter],
                     responses: [.empty(204, "Deleted"), .problem(404, "No such roster"), .problem(409, "A policy names the roster"),
                                 NotificationRoutes.unavailable]) { _, context in
                let id = try context.parameters.require("roster")
                guard try await refusingModelErrors({ try await center().deleteRoster(id, tenant: context.tenant) }) else {
                    throw Problem.notFound("no roster \(id)")
                }
                await server.audit(context, "notification.roster.delete", target: id, detail: "")
                return Response(status: .noContent)
            },
            Endpoint(.get, "/api/v1/notification-people", .requires(.manageTenant), group: group,
                     summary: "Everyone's notification preferences",
                     responses: [.json(200, "People", AdminRoutes.items(Self.person)), NotificationRoutes.unavailable]) { _, context in
                let people = try center().people(tenant: context.tenant)
                var json = JSONWriter()
                json.object { json in json.field("items") { json in json.array { json in for person in people { json.encoded(person) } } } }
                return .json(json)
            },
            Endpoint(.put, "/api/v1/notification-people/{person}", .requires(.manageTenant), group: group,
                     summary: "Set a member's notification preferences", parameters: [personParameter], body: .json(Self.personInput),
                     responses: [.json(200, "The preferences", Self.person), .problem(422, "A field is not valid"),
                                 NotificationRoutes.unavailable]) { request, context in
                let id = try context.parameters.require("person").lowercased()
                try await checkMembers([id], context)
                let saved = try await save(request, id: id, context)
                await server.audit(context, "notification.person.save", target: id, detail: "channels=\(saved.channels.joined(separator: ","))")
                return .json(Self.encoded(saved))
            },
            Endpoint(.delete, "/api/v1/notification-people/{person}", .requires(.manageTenant), group: group,
                     summary: "Delete a member's notification preferences", parameters: [personParameter],
                     responses: [.empty(204, "Deleted"), .problem(404, "No preferences for this person"), NotificationRoutes.unavailable]) { _, context in
                let id = try context.parameters.require("person").lowercased()
                guard try await center().deletePerson(id, tenant: context.tenant) else { throw Problem.notFound("no preferences for \(id)") }
                await server.audit(context, "notification.person.delete", target: id, detail: "")
                return Response(status: .noContent)
            },
            Endpoint(.get, "/api/v1/me/notification-preferences", .requires(.readData), group: group,
                     summary: "Your own notification preferences (signed-in people only)",
                     responses: [.json(200, "Your preferences", Self.person), .problem(404, "You have none yet"),
                                 .problem(403, "Only people have preferences, not API keys"), NotificationRoutes.unavailable]) { _, context in
                let id = try Self.person(context)
                guard let person = try center().person(id, tenant: context.tenant) else { throw Problem.notFound("you have no notification preferences yet") }
                return .json(Self.encoded(person))
            },
            Endpoint(.put, "/api/v1/me/notification-preferences", .requires(.readData), group: group,
                     summary: "Set your own notification preferences: channels, lowest severity, quiet hours", body: .json(Self.personInput),
                     responses: [.json(200, "Your preferences", Self.person), .problem(403, "Only people have preferences, not API keys"),
                                 .problem(422, "A field is not valid"), NotificationRoutes.unavailable]) { request, context in
                let id = try Self.person(context)
                let saved = try await save(request, id: id, context)
                await server.audit(context, "notification.person.save", target: id, detail: "channels=\(saved.channels.joined(separator: ","))")
                return .json(Self.encoded(saved))
            },
            Endpoint(.delete, "/api/v1/me/notification-preferences", .requires(.readData), group: group,
                     summary: "Delete your own notification preferences (policies and rosters naming you then reach nobody)",
                     responses: [.empty(204, "Deleted"), .problem(404, "You had none"), .problem(403, "Only people have preferences, not API keys"),
                                 NotificationRoutes.unavailable]) { _, context in
                let id = try Self.person(context)
                guard try await center().deletePerson(id, tenant: context.tenant) else { throw Problem.notFound("you have no notification preferences") }
                await server.audit(context, "notification.person.delete", target: id, detail: "")
                return Response(status: .noContent)
            },
        ]
    }

    private func center() throws -> Notifier {
        guard let center = server.notifications else { throw Problem(.serviceUnavailable, "notifications are not running on this server") }
        return center
    }

    private func save(_ request: Request, id: String, _ context: GembaRequestContext) async throws -> NotificationPerson {
        var person: NotificationPerson = try await Self.decode(request, what: "preferences", required: "channels")
        guard person.id.isEmpty || person.id.lowercased() == id else { throw Problem(.unprocessableContent, "id differs from the person's") }
        person.id = id
        return try await refusingModelErrors { try await center().save(person, tenant: context.tenant) }
    }

    /// Refuses anyone who is not a member of the caller's tenant (no other tenant's people, no strangers).
    private func checkMembers(_ people: Set<String>, _ context: GembaRequestContext) async throws {
        let members = Set(try await server.access.members(try context.requireCaller()).map { $0.user.email.lowercased() })
        if let stranger = people.map({ $0.lowercased() }).sorted().first(where: { !members.contains($0) }) {
            throw Problem(.unprocessableContent, "\(stranger) is not a member of this tenant")
        }
    }

    /// The caller's person id: their sign-in e-mail.
    private static func person(_ context: GembaRequestContext) throws -> String {
        let caller = try context.requireCaller()
        guard caller.kind == .user else { throw Problem(.forbidden, "only signed-in people have notification preferences") }
        return caller.name.lowercased()
    }

    private static func decode<Value: Decodable>(_ request: Request, what: String, required: String) async throws -> Value {
        do { return try JSONDecoder().decode(Value.self, from: try await AlarmRoutes.collect(request)) } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(.unprocessableContent, "the \(what) is not valid: \(required) are required; \(NotificationRoutes.reason(error))")
        }
    }
}

extension NotificationPeopleRoutes {
    static func encoded(_ value: some Encodable) -> JSONWriter {
        var json = JSONWriter()
        json.encoded(value)
        return json
    }

    static let address = Schema.string(minLength: 3, maxLength: 254).described("An e-mail address")
    static let personMembers: [(String, Schema)] = [
        ("id", address.described("The person's sign-in e-mail")),
        ("email", address.described("Where e-mail channels send; the sign-in e-mail when absent")),
        ("channels", .array(AlarmRoutes.ruleID, maxItems: 10)), ("minimum_severity", AlarmRoutes.severity),
        ("quiet_hours", AlarmRoutes.schedule), ("critical_breaks_quiet", .boolean), ("enabled", .boolean),
    ]
    static let personInput = Schema.object(personMembers, optional: ["id", "email", "minimum_severity", "quiet_hours", "critical_breaks_quiet", "enabled"])
        .named("NotificationPreferencesInput")
    static let person = Schema.object(personMembers, optional: ["email", "quiet_hours"]).named("NotificationPreferences")
    static let rosterMembers: [(String, Schema)] = [
        ("id", AlarmRoutes.ruleID), ("name", .string(minLength: 1, maxLength: 200)),
        ("time_zone", Schema.string(maxLength: 64).described("The site's IANA zone: holidays and quiet hours are read in it")),
        ("people", .array(address, minItems: 1, maxItems: 100)),
        ("rotation_start", Schema.epochMilliseconds.described("When the first person's first turn began")),
        ("turn", AlarmRoutes.duration.described("How long a turn lasts: 1d, 7d, … (at least 1h)")),
        ("overrides", .array(.object(["from": .epochMilliseconds, "to": .epochMilliseconds, "person": address]), maxItems: 500)),
        ("holidays", .array(.string(pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), maxItems: 500)),
        ("holiday_cover", address.described("Who is on call on holidays")), ("quiet_hours", AlarmRoutes.schedule),
    ]
    static let rosterInput = Schema.object(rosterMembers, optional: ["id", "overrides", "holidays", "holiday_cover", "quiet_hours"])
        .named("RosterInput")
    static let roster = Schema.object(rosterMembers + [("on_call", Schema.string.orNull.described("Who is on call now"))],
                                      optional: ["holiday_cover", "quiet_hours"]).named("Roster")

    static func write(_ roster: OnCallRoster, now: Int64, into json: inout JSONWriter) {
        json.encoded(RosterView(roster: roster, onCall: roster.onCall(at: now)))
    }
}

/// A roster as answered: its definition and who is on call now.
private struct RosterView: Encodable {
    var roster: OnCallRoster
    var onCall: String?

    enum CodingKeys: String, CodingKey { case onCall = "on_call" }

    func encode(to encoder: any Encoder) throws {
        try roster.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(onCall, forKey: .onCall)
    }
}
