internal import GembaAccess
internal import GembaCore
internal import Hummingbird

/// Sign-in, refresh, sign-out, password change, profile, and invitation acceptance.
///
/// `POST /api/v1/auth/login` `{"email", "password", "tenant"?}` and `POST /api/v1/auth/refresh`
/// `{"refresh_token"}` answer `{"access_token", "token_type": "Bearer", "expires_at", "refresh_token",
/// "refresh_expires_at", "tenant", "role", "user"}` (times in epoch ms). Refresh tokens rotate: each
/// works once; presenting a used one ends the session.
struct AuthRoutes {
    let server: ServerContext

    func register(on router: Router<GembaRequestContext>) {
        let access = server.access
        router.post("/api/v1/auth/login") { request, context in
            let body = try await RequestBody.read(request)
            let tenant = try body.optionalString("tenant").map { name -> TenantID in
                guard let tenant = TenantID(name) else { throw Problem.badRequest("\"tenant\" is not a tenant id") }
                return tenant
            }
            let pair = try await Self.mapping {
                try await access.login(email: try body.string("email"), password: try body.string("password"), tenant: tenant,
                                       origin: context.origin)
            }
            return Self.tokens(pair)
        }
        router.post("/api/v1/auth/refresh") { request, context in
            let body = try await RequestBody.read(request)
            let token = try body.string("refresh_token")
            return Self.tokens(try await Self.mapping { try await access.refresh(token, origin: context.origin) })
        }
        router.post("/api/v1/invitations/accept") { request, context in
            let body = try await RequestBody.read(request)
            let (token, password) = (try body.string("token"), try body.string("password"))
            return Self.tokens(try await Self.mapping {
                try await access.acceptInvitation(token: token, password: password, displayName: body.optionalString("display_name"),
                                                  origin: context.origin)
            })
        }
        router.post("/api/v1/auth/logout") { _, context in
            try await Self.mapping { try await access.logout(try context.requireCaller(), origin: context.origin) }
            return Response(status: .noContent)
        }
        router.post("/api/v1/auth/logout-everywhere") { _, context in
            try await Self.mapping { try await access.logoutEverywhere(try context.requireCaller(), origin: context.origin) }
            return Response(status: .noContent)
        }
        router.post("/api/v1/auth/password") { request, context in
            let body = try await RequestBody.read(request)
            let (current, new) = (try body.string("current_password"), try body.string("new_password"))
            try await Self.mapping {
                try await access.changePassword(try context.requireCaller(), current: current, new: new, origin: context.origin)
            }
            return Response(status: .noContent)
        }
        router.get("/api/v1/auth/me") { _, context in
            let caller = try context.requireCaller()
            guard let profile = try await access.profile(caller) else { throw Problem(.unauthorized, "no such user") }
            var json = JSONWriter()
            json.object { json in
                json.field("id") { $0.string(profile.user.id) }
                json.field("email") { $0.string(profile.user.email) }
                json.field("display_name") { $0.string(profile.user.displayName) }
                json.field("tenant") { $0.string(caller.tenant.rawValue) }
                json.field("role") { $0.string(caller.role?.rawValue ?? "") }
                json.field("permissions") { json in
                    json.array { json in for permission in Permission.allCases where caller.may(permission) { json.string(permission.rawValue) } }
                }
                json.field("memberships") { json in
                    json.array { json in
                        for membership in profile.memberships {
                            json.object { json in
                                json.field("tenant") { $0.string(membership.tenant.rawValue) }
                                json.field("role") { $0.string(membership.role.rawValue) }
                            }
                        }
                    }
                }
            }
            return Response.json(json)
        }
    }

    static func tokens(_ pair: TokenPair) -> Response {
        var json = JSONWriter()
        json.object { json in
            json.field("access_token") { $0.string(pair.accessToken) }
            json.field("token_type") { $0.string("Bearer") }
            json.field("expires_at") { $0.int(pair.accessExpiresAt.millisecondsSinceEpoch) }
            json.field("refresh_token") { $0.string(pair.refreshToken) }
            json.field("refresh_expires_at") { $0.int(pair.refreshExpiresAt.millisecondsSinceEpoch) }
            json.field("tenant") { $0.string(pair.tenant.rawValue) }
            json.field("role") { $0.string(pair.role.rawValue) }
            json.field("user") { $0.string(pair.userID) }
        }
        return Response.json(json)
    }

    /// Runs an access operation, turning its refusals into problem responses.
    @discardableResult
    static func mapping<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AccessError {
            throw Problem(error)
        }
    }
}

extension GembaRequestContext {
    var origin: RequestOrigin { RequestOrigin(ip: clientIP, requestID: requestID) }

    /// The authenticated caller; the access middleware guarantees one on every non-open route.
    func requireCaller() throws -> Caller {
        guard let caller else { throw Problem(.unauthorized, "authentication required") }
        return caller
    }
}
