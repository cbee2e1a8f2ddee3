internal import GembaCore
internal import GembaIngest
internal import Hummingbird
internal import MQTTBroker

/// The embedded broker's topic rules (allow and deny on topic patterns beyond the tenant rules).
/// The broker's namespace outside Gemba's own topics belongs to the installation, so the rules are
/// read and changed by the default tenant's admins only; other tenants get 403.
struct TopicRulesRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        [
            Endpoint(.get, "/api/v1/mqtt/acl", .requires(.manageDevices), group: "Access",
                     summary: "The broker's topic rules: the file's (in force) and those kept through the API",
                     responses: [.json(200, "The rules, in the order they are applied", Self.rules), Self.forbidden, Self.unavailable]) { _, context in
                let rules = try Self.rules(of: server, for: context)
                return Response.json(Self.describe(rules))
            },
            Endpoint(.put, "/api/v1/mqtt/acl", .requires(.manageDevices), group: "Access",
                     summary: "Replace the topic rules kept through the API (applied after the file's)",
                     body: .json(.object(["rules": .array(Schema.string.described("allow|deny publish|subscribe|pubsub <who> <pattern>"))])),
                     responses: [.json(200, "The rules now", Self.rules), .problem(422, "A rule does not parse (the detail names it)"),
                                 Self.forbidden, Self.unavailable]) { request, context in
                let rules = try Self.rules(of: server, for: context)
                let body = try await RequestBody.read(request)
                guard case .array(let values)? = body.json["rules"] else { throw Problem.badRequest("\"rules\" is required and must be an array of strings") }
                let lines = try values.map { value -> String in
                    guard case .string(let line) = value else { throw Problem.badRequest("\"rules\" must hold strings") }
                    return line
                }
                do {
                    try await rules.replaceAPIRules(lines)
                } catch let error as TopicACLError {
                    throw Problem(.unprocessableContent, error.message)
                }
                await server.audit(context, "mqtt.acl.replace", target: "mqtt/acl", detail: "\(lines.count) rules")
                return Response.json(Self.describe(rules))
            },
        ]
    }

    private static func rules(of server: ServerContext, for context: GembaRequestContext) throws -> BrokerTopicRules {
        guard let rules = server.topicRules else { throw Problem(.serviceUnavailable, "the embedded MQTT broker is not running") }
        guard context.tenant == .default else {
            throw Problem(.forbidden, "the broker's topic rules belong to the installation: the default tenant's admins manage them")
        }
        return rules
    }

    private static func describe(_ rules: BrokerTopicRules) -> JSONWriter {
        var json = JSONWriter()
        let file = rules.file
        json.object { json in
            json.field("file") { json in
                guard let file else { return json.null() }
                json.object { json in
                    json.field("path") { $0.string(file.path) }
                    json.field("rules") { json in json.array { json in for rule in file.acl.rules { json.string(rule.text) } } }
                    json.field("error") { json in if let error = file.error { json.string(error) } else { json.null() } }
                }
            }
            json.field("rules") { json in json.array { json in for rule in rules.apiRules { json.string(rule) } } }
        }
        return json
    }

    static let rules = Schema.object([
        "file": Schema.object(["path": .string, "rules": .array(.string),
                               "error": Schema.string.described("Why the file's latest version was refused (the previous rules stay)").orNull])
            .named("TopicRulesFile").orNull,
        "rules": Schema.array(.string).described("Rules kept through the API, applied after the file's"),
    ]).named("TopicRules")
    static let forbidden = Reply.problem(403, "The caller's tenant is not the installation's (default) tenant")
    static let unavailable = Reply.problem(503, "The embedded MQTT broker is not running")
}
