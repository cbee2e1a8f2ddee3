internal import GembaAccess
internal import GembaCore
internal import GembaStorage
internal import Hummingbird

/// Administration of the caller's tenant: members and invitations, API keys, device credentials,
/// tenant limits, and the audit log. Secrets (keys, device secrets, invitation tokens) appear once,
/// in the creating response; lists never show them.
struct AdminRoutes {
    let server: ServerContext

    func register(on router: Router<GembaRequestContext>) {
        let access = server.access
        router.get("/api/v1/members") { _, context in
            let members = try await access.members(try context.requireCaller())
            return Self.list(members) { json, member in
                json.field("id") { $0.string(member.user.id) }
                json.field("email") { $0.string(member.user.email) }
                json.field("display_name") { $0.string(member.user.displayName) }
                json.field("role") { $0.string(member.role.rawValue) }
                json.field("disabled") { $0.bool(member.user.disabled) }
            }
        }
        router.put("/api/v1/members/{user}") { request, context in
            let role = try Self.role(try await RequestBody.read(request).string("role"))
            let user = try context.parameters.require("user")
            try await AuthRoutes.mapping { try await access.setRole(try context.requireCaller(), userID: user, role: role, origin: context.origin) }
            return Response(status: .noContent)
        }
        router.delete("/api/v1/members/{user}") { _, context in
            let user = try context.parameters.require("user")
            try await AuthRoutes.mapping { try await access.removeMember(try context.requireCaller(), userID: user, origin: context.origin) }
            return Response(status: .noContent)
        }
        router.get("/api/v1/invitations") { _, context in
            Self.list(try await access.invitations(try context.requireCaller())) { json, invitation in
                json.field("id") { $0.string(invitation.id) }
                json.field("email") { $0.string(invitation.email) }
                json.field("role") { $0.string(invitation.role.rawValue) }
                json.field("created_by") { $0.string(invitation.createdBy) }
                json.field("expires_at") { $0.int(invitation.expiresAt.millisecondsSinceEpoch) }
                json.field("accepted_at") { json in Self.time(&json, invitation.acceptedAt) }
            }
        }
        router.post("/api/v1/invitations") { request, context in
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
        }
        router.delete("/api/v1/invitations/{id}") { _, context in
            try await Self.revoke(context) { try await access.withdrawInvitation($0, id: $1, origin: $2) }
        }
        router.get("/api/v1/api-keys") { _, context in
            Self.list(try await access.apiKeys(try context.requireCaller())) { json, key in Self.describe(&json, key) }
        }
        router.post("/api/v1/api-keys") { request, context in
            let body = try await RequestBody.read(request)
            let (name, role) = (try body.string("name"), try Self.role(try body.string("role")))
            let expires = try body.optionalInt("expires_at").map(Timestamp.init(millisecondsSinceEpoch:))
            let issued = try await AuthRoutes.mapping {
                try await access.createAPIKey(try context.requireCaller(), name: name, role: role, expiresAt: expires, origin: context.origin)
            }
            return Self.created(issued, secretField: "key", describe: Self.describe)
        }
        router.delete("/api/v1/api-keys/{id}") { _, context in
            try await Self.revoke(context) { try await access.revokeAPIKey($0, id: $1, origin: $2) }
        }
        router.get("/api/v1/devices") { _, context in
            Self.list(try await access.devices(try context.requireCaller())) { json, device in Self.describe(&json, device) }
        }
        router.post("/api/v1/devices") { request, context in
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
        }
        router.delete("/api/v1/devices/{id}") { _, context in
            try await Self.revoke(context) { try await access.revokeDevice($0, id: $1, origin: $2) }
        }
        router.get("/api/v1/tenant") { _, context in
            let limits = try await server.store.limits(tenant: context.tenant)
            var json = JSONWriter()
            json.object { json in
                json.field("id") { $0.string(context.tenant.rawValue) }
                json.field("limits") { json in json.object { Self.describe(&$0, limits) } }
            }
            return Response.json(json)
        }
        router.put("/api/v1/tenant/limits") { request, context in
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
        }
        AuditRoutes(access: access).register(on: router)
    }

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

    func register(on router: Router<GembaRequestContext>) {
        router.get("/api/v1/audit") { request, context in
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
        }
        router.get("/api/v1/audit.csv") { request, context in
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
        }
    }

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
