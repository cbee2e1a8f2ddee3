internal import GembaAccess
internal import GembaCore
internal import GembaStorage
internal import Hummingbird

/// Administration of the caller's tenant: members and invitations, API keys, device credentials,
/// tenant limits, and the audit log. Secrets (keys, device secrets, invitation tokens) appear once,
/// in the creating response; lists never show them.
struct AdminRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let access = server.access
        return [
            Endpoint(.get, "/api/v1/members", .requires(.manageUsers), group: "Access", summary: "The tenant's members and their roles",
                     responses: [.json(200, "Members", Self.items(Self.member))]) { _, context in
                let members = try await access.members(try context.requireCaller())
                return Self.list(members) { json, member in
                    json.field("id") { $0.string(member.user.id) }
                    json.field("email") { $0.string(member.user.email) }
                    json.field("display_name") { $0.string(member.user.displayName) }
                    json.field("role") { $0.string(member.role.rawValue) }
                    json.field("disabled") { $0.bool(member.user.disabled) }
                }
            },
            Endpoint(.put, "/api/v1/members/{user}", .requires(.manageUsers), group: "Access", summary: "Change a member's role",
                     parameters: [.path("user", "The member's user id")], body: .json(.object(["role": AuthRoutes.role])),
                     responses: [.empty(204, "Changed"), .problem(404, "No such member in this tenant"),
                                 .problem(409, "The change would leave the tenant without an owner")]) { request, context in
                let role = try Self.role(try await RequestBody.read(request).string("role"))
                let user = try context.parameters.require("user")
                try await AuthRoutes.mapping { try await access.setRole(try context.requireCaller(), userID: user, role: role, origin: context.origin) }
                return Response(status: .noContent)
            },
            Endpoint(.delete, "/api/v1/members/{user}", .requires(.manageUsers), group: "Access", summary: "Remove a member from the tenant",
                     parameters: [.path("user", "The member's user id")],
                     responses: [.empty(204, "Removed"), .problem(404, "No such member in this tenant"),
                                 .problem(409, "The change would leave the tenant without an owner")]) { _, context in
                let user = try context.parameters.require("user")
                try await AuthRoutes.mapping { try await access.removeMember(try context.requireCaller(), userID: user, origin: context.origin) }
                return Response(status: .noContent)
            },
            Endpoint(.get, "/api/v1/invitations", .requires(.manageUsers), group: "Access", summary: "The tenant's invitations",
                     responses: [.json(200, "Invitations", Self.items(Self.invitation))]) { _, context in
                Self.list(try await access.invitations(try context.requireCaller())) { json, invitation in
                    json.field("id") { $0.string(invitation.id) }
                    json.field("email") { $0.string(invitation.email) }
                    json.field("role") { $0.string(invitation.role.rawValue) }
                    json.field("created_by") { $0.string(invitation.createdBy) }
                    json.field("expires_at") { $0.int(invitation.expiresAt.millisecondsSinceEpoch) }
                    json.field("accepted_at") { json in Self.time(&json, invitation.acceptedAt) }
                }
            },
            Endpoint(.post, "/api/v1/invitations", .requires(.manageUsers), group: "Access", summary: "Invite an email to a role (the code is shown once)",
                     body: .json(.object(["email": .string(minLength: 3, maxLength: 320), "role": AuthRoutes.role])),
                     responses: [.json(201, "Invited, with the code", Self.issuedInvitation), .problem(409, "Already a member or invited")]) { request, context in
                let body = try await RequestBody.read(request)
                let (email, role) = (try body.string("email"), try Self.role(try body.string("role")))
                let issued = try await AuthRoutes.mapping {
                    try await access.invite(try context.requireCaller(), email: email, role: role, origin: context.origin)
                }
                var json = JSONWriter()
                json.object { json in
                    json.field("id") { $0.string(issued.object.id) }
                    json.field("email") { $0.string(issued.object.email) }
                    json.field("role") { $0.string(issued.object.role.rawValue) }
                    json.field("expires_at") { $0.int(issued.object.expiresAt.millisecondsSinceEpoch) }
                    json.field("token") { $0.string(issued.secret) }
                }
                return Response.json(json, status: .created)
            },
            Endpoint(.delete, "/api/v1/invitations/{id}", .requires(.manageUsers), group: "Access",
                     summary: "Withdraw an invitation nobody has accepted (its code stops working)",
                     parameters: [.path("id", "The invitation's id")],
                     responses: [.empty(204, "Withdrawn"), .problem(404, "No open invitation with this id in this tenant")]) { _, context in
                try await Self.revoke(context) { try await access.withdrawInvitation($0, id: $1, origin: $2) }
            },
            Endpoint(.get, "/api/v1/api-keys", .requires(.manageAPIKeys), group: "Access", summary: "The tenant's API keys (never the secrets)",
                     responses: [.json(200, "API keys", Self.items(Self.apiKey))]) { _, context in
                Self.list(try await access.apiKeys(try context.requireCaller())) { json, key in Self.describe(&json, key) }
            },
            Endpoint(.post, "/api/v1/api-keys", .requires(.manageAPIKeys), group: "Access",
                     summary: "Create an API key (shown once) with at most the caller's role",
                     body: .json(.object(["name": .string(minLength: 1, maxLength: 100), "role": AuthRoutes.role,
                                          "expires_at": Schema.epochMilliseconds.orNull], optional: ["expires_at"])),
                     responses: [.json(201, "Created, with the key", Self.issued(Self.apiKey, secret: "key", name: "IssuedAPIKey"))]) { request, context in
                let body = try await RequestBody.read(request)
                let (name, role) = (try body.string("name"), try Self.role(try body.string("role")))
                let expires = try body.optionalInt("expires_at").map(Timestamp.init(millisecondsSinceEpoch:))
                let issued = try await AuthRoutes.mapping {
                    try await access.createAPIKey(try context.requireCaller(), name: name, role: role, expiresAt: expires, origin: context.origin)
                }
                return Self.created(issued, secretField: "key", describe: Self.describe)
            },
            Endpoint(.delete, "/api/v1/api-keys/{id}", .requires(.manageAPIKeys), group: "Access", summary: "Revoke an API key",
                     parameters: [.path("id", "The key's id")],
                     responses: [.empty(204, "Revoked"), .problem(404, "No such key in this tenant")]) { _, context in
                try await Self.revoke(context) { try await access.revokeAPIKey($0, id: $1, origin: $2) }
            },
            Endpoint(.get, "/api/v1/devices", .requires(.manageDevices), group: "Access", summary: "The tenant's device credentials (never the secrets)",
                     responses: [.json(200, "Device credentials", Self.items(Self.device))]) { _, context in
                Self.list(try await access.devices(try context.requireCaller())) { json, device in Self.describe(&json, device) }
            },
            Endpoint(.post, "/api/v1/devices", .requires(.manageDevices), group: "Access",
                     summary: "Create a device credential (the secret is shown once), optionally limited to an asset subtree",
                     body: .json(.object(["username": .string(minLength: 1, maxLength: 100),
                                          "subtree": Schema.string(maxLength: 300).described("site[/area][/line][/machine]")],
                                         optional: ["subtree"])),
                     responses: [.json(201, "Created, with the secret", Self.issued(Self.device, secret: "secret", name: "IssuedDevice")),
                                 .problem(409, "The username is taken")]) { request, context in
                let body = try await RequestBody.read(request)
                let username = try body.string("username")
                let subtree: AssetSubtree?
                do { subtree = try body.optionalString("subtree").map { try AssetSubtree($0) } } catch let error as ModelError {
                    throw Problem.badRequest(error.message)
                }
                let issued = try await AuthRoutes.mapping {
                    try await access.createDevice(try context.requireCaller(), username: username, subtree: subtree, origin: context.origin)
                }
                return Self.created(issued, secretField: "secret", describe: Self.describe)
            },
            Endpoint(.delete, "/api/v1/devices/{id}", .requires(.manageDevices), group: "Access", summary: "Revoke a device credential",
                     parameters: [.path("id", "The credential's id")],
                     responses: [.empty(204, "Revoked"), .problem(404, "No such device credential in this tenant")]) { _, context in
                try await Self.revoke(context) { try await access.revokeDevice($0, id: $1, origin: $2) }
            },
            Endpoint(.get, "/api/v1/tenant", .requires(.readData), group: "Access", summary: "The caller's tenant and its limits",
                     responses: [.json(200, "The tenant", .object(["id": .string, "limits": Self.limits]).named("Tenant"))]) { _, context in
                let limits = try await server.store.limits(tenant: context.tenant)
                var json = JSONWriter()
                json.object { json in
                    json.field("id") { $0.string(context.tenant.rawValue) }
                    json.field("limits") { json in json.object { Self.describe(&$0, limits) } }
                }
                return Response.json(json)
            },
            Endpoint(.put, "/api/v1/tenant/limits", .requires(.manageTenant), group: "Access", summary: "Change the tenant's limits",
                     body: .json(.object(["max_machines": .integer(minimum: 1, maximum: 10_000_000),
                                          "max_tags_per_machine": .integer(minimum: 1, maximum: 1_000_000)],
                                         optional: ["max_machines", "max_tags_per_machine"])),
                     responses: [.json(200, "The limits now", Self.limits)]) { request, context in
                let body = try await RequestBody.read(request)
                var limits = try await server.store.limits(tenant: context.tenant)
                if let value = try body.optionalInt("max_machines") { limits.maxMachines = Int(value) }
                if let value = try body.optionalInt("max_tags_per_machine") { limits.maxTagsPerMachine = Int(value) }
                guard limits.maxMachines > 0, limits.maxTagsPerMachine > 0 else { throw Problem.badRequest("limits must be positive") }
                try await server.store.setLimits(limits, tenant: context.tenant)
                server.pipeline.setLimits(limits, for: context.tenant)
                var json = JSONWriter()
                json.object { json in Self.describe(&json, limits) }
                return Response.json(json)
            },
        ]
    }

    // MARK: Schemas

    /// `{"items": [item]}`, the shape of every administration list.
    static func items(_ item: Schema) -> Schema { .object(["items": .array(item)]) }

    /// The object with its secret, shown once.
    static func issued(_ object: Schema, secret: String, name: String) -> Schema {
        object.withMember(secret, Schema.string.described("Shown once; store it now")).named(name)
    }

    static let member = Schema.object([
        "id": .string, "email": .string, "display_name": .string, "role": AuthRoutes.role, "disabled": .boolean,
    ]).named("Member")
    static let invitation = Schema.object([
        "id": .string, "email": .string, "role": AuthRoutes.role, "created_by": .string, "expires_at": .epochMilliseconds,
        "accepted_at": Schema.epochMilliseconds.orNull,
    ]).named("Invitation")
    static let issuedInvitation = Schema.object([
        "id": .string, "email": .string, "role": AuthRoutes.role, "expires_at": .epochMilliseconds,
        "token": Schema.string.described("The invitation code, shown once"),
    ]).named("IssuedInvitation")
    static let apiKey = Schema.object([
        "id": .string, "name": .string, "role": AuthRoutes.role, "created_by": .string, "created_at": .epochMilliseconds,
        "expires_at": Schema.epochMilliseconds.orNull, "revoked_at": Schema.epochMilliseconds.orNull,
        "last_used_at": Schema.epochMilliseconds.orNull,
    ]).named("APIKey")
    static let device = Schema.object([
        "id": .string, "username": .string, "subtree": Schema.string.orNull, "created_by": .string, "created_at": .epochMilliseconds,
        "revoked_at": Schema.epochMilliseconds.orNull, "last_used_at": Schema.epochMilliseconds.orNull,
    ]).named("DeviceCredential")
    static let limits = Schema.object(["max_machines": .integer(minimum: 1), "max_tags_per_machine": .integer(minimum: 1)])
        .named("TenantLimits")

    /// `201 Created` with the new object and, once, its secret.
    static func created<T>(_ issued: Issued<T>, secretField: String, describe: (inout JSONWriter, T) -> Void) -> Response {
        var json = JSONWriter()
        json.object { json in
            describe(&json, issued.object)
            json.field(secretField) { $0.string(issued.secret) }
        }
        return Response.json(json, status: .created)
    }

    /// Revokes (or withdraws) what the route's `{id}` names in the caller's tenant: 204, or 404.
    static func revoke(_ context: GembaRequestContext,
                       _ operation: (Caller, String, RequestOrigin) async throws -> Void) async throws -> Response {
        let (caller, id) = (try context.requireCaller(), try context.parameters.require("id"))
        try await AuthRoutes.mapping { try await operation(caller, id, context.origin) }
        return Response(status: .noContent)
    }

    static func role(_ name: String) throws -> Role {
        do { return try Role(parsing: name) } catch { throw Problem.badRequest(error.message) }
    }

    static func list<T>(_ items: [T], _ describe: (inout JSONWriter, T) -> Void) -> Response {
        var json = JSONWriter()
        json.object { json in
            json.field("items") { json in json.array { json in for item in items { json.object { describe(&$0, item) } } } }
        }
        return Response.json(json)
    }

    static func time(_ json: inout JSONWriter, _ time: Timestamp?) {
        if let time { json.int(time.millisecondsSinceEpoch) } else { json.null() }
    }

    static func describe(_ json: inout JSONWriter, _ key: APIKey) {
        json.field("id") { $0.string(key.id) }
        json.field("name") { $0.string(key.name) }
        json.field("role") { $0.string(key.role.rawValue) }
        json.field("created_by") { $0.string(key.createdBy) }
        json.field("created_at") { $0.int(key.createdAt.millisecondsSinceEpoch) }
        json.field("expires_at") { time(&$0, key.expiresAt) }
        json.field("revoked_at") { time(&$0, key.revokedAt) }
        json.field("last_used_at") { time(&$0, key.lastUsedAt) }
    }

    static func describe(_ json: inout JSONWriter, _ device: DeviceCredential) {
        json.field("id") { $0.string(device.id) }
        json.field("username") { $0.string(device.username) }
        json.field("subtree") { json in if let subtree = device.subtree { json.string(subtree.description) } else { json.null() } }
        json.field("created_by") { $0.string(device.createdBy) }
        json.field("created_at") { $0.int(device.createdAt.millisecondsSinceEpoch) }
        json.field("revoked_at") { time(&$0, device.revokedAt) }
        json.field("last_used_at") { time(&$0, device.lastUsedAt) }
    }

    static func describe(_ json: inout JSONWriter, _ limits: TenantLimits) {
        json.field("max_machines") { $0.int(Int64(limits.maxMachines)) }
        json.field("max_tags_per_machine") { $0.int(Int64(limits.maxTagsPerMachine)) }
    }
}

/// `GET /api/v1/audit` (JSON) and `GET /api/v1/audit.csv`: the tenant's audit log, newest first,
/// filtered by `from`, `to` (epoch ms), `actor` (name or id), `action` (exact, or a prefix ending in `.`), `limit` (≤ 10,000).
struct AuditRoutes {
    let access: AccessService

    var endpoints: [Endpoint] {
        return [
            Endpoint(.get, "/api/v1/audit", .requires(.readAudit), group: "Access", summary: "The tenant's audit log, newest first",
                     parameters: Self.parameters,
                     responses: [.json(200, "Entries", AdminRoutes.items(Self.entry))]) { request, context in
                let events = try await access.auditLog(try context.requireCaller(), try Self.query(request))
                return AdminRoutes.list(events) { json, event in
                    json.field("id") { $0.int(event.id) }
                    json.field("t") { $0.int(event.time.millisecondsSinceEpoch) }
                    json.field("actor_kind") { $0.string(event.actorKind) }
                    json.field("actor_id") { $0.string(event.actorID) }
                    json.field("actor") { $0.string(event.actorName) }
                    json.field("action") { $0.string(event.action) }
                    json.field("target") { $0.string(event.target) }
                    json.field("outcome") { $0.string(event.outcome) }
                    json.field("source_ip") { $0.string(event.sourceIP) }
                    json.field("request_id") { $0.string(event.requestID) }
                    json.field("detail") { $0.string(event.detail) }
                }
            },
            Endpoint(.get, "/api/v1/audit.csv", .requires(.readAudit), group: "Access", summary: "The audit log as CSV, filtered as the JSON form",
                     parameters: Self.parameters,
                     responses: [Reply(200, "CSV, RFC 3339 times", content: ("text/csv", .string))]) { request, context in
                let events = try await access.auditLog(try context.requireCaller(), try Self.query(request))
                var csv = "id,time,actor_kind,actor_id,actor,action,target,outcome,source_ip,request_id,detail\r\n"
                for event in events {
                    let fields = ["\(event.id)", event.time.rfc3339, event.actorKind, event.actorID, event.actorName, event.action,
                                  event.target, event.outcome, event.sourceIP, event.requestID, event.detail]
                    csv += fields.map(Self.csvField).joined(separator: ",") + "\r\n"
                }
                return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                                       .contentDisposition: #"attachment; filename="audit.csv""#],
                                body: .init(byteBuffer: ByteBuffer(string: csv)))
            },
        ]
    }

    static let parameters = [
        Parameter("from", .integer, "Epoch ms: entries at or after"), Parameter("to", .integer, "Epoch ms: entries before"),
        Parameter("actor", .string(maxLength: 200), "The actor's name or id"),
        Parameter("action", .string(maxLength: 100), "An action (`api_key.create`), or a prefix ending in `.` (`api_key.`)"),
        Parameter("limit", Schema.integer(minimum: 1, maximum: 10_000).defaulting(to: 1000), "Most entries"),
    ]
    static let entry = Schema.object([
        "id": .integer, "t": .epochMilliseconds, "actor_kind": .string, "actor_id": .string, "actor": .string, "action": .string,
        "target": .string, "outcome": .string, "source_ip": .string, "request_id": .string, "detail": .string,
    ]).named("AuditEntry")

    static func query(_ request: Request) throws -> AuditQuery {
        let parameters = request.uri.queryParameters
        func time(_ name: Substring) throws -> Timestamp? {
            guard let text = parameters[name] else { return nil }
            guard let value = Int64(String(text)) else { throw Problem.badRequest("\(name) must be epoch milliseconds") }
            return Timestamp(millisecondsSinceEpoch: value)
        }
        let limit = try parameters["limit"].map { text -> Int in
            guard let value = Int(String(text)), (1...10_000).contains(value) else { throw Problem.badRequest("limit must be 1 to 10000") }
            return value
        } ?? 1000
        return AuditQuery(from: try time("from"), to: try time("to"), actor: parameters["actor"].map(String.init),
                          action: parameters["action"].map(String.init), limit: limit)
    }

    /// Quotes a CSV field when needed; a leading `=`, `+`, `-` or `@` is neutralised so a spreadsheet does not run it.
    static func csvField(_ text: String) -> String {
        var text = text
        if let first = text.first, "=+-@".contains(first) { text = "'" + text }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
