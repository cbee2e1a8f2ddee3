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

    var endpoints: [Endpoint] {
        let access = server.access
        return [
            Endpoint(.post, "/api/v1/auth/login", .open, group: "Access", summary: "Sign in: an access token (15 min) and a refresh token",
                     body: .json(.object(["email": .string(maxLength: 320), "password": .string(maxLength: 1024),
                                          "tenant": Schema.string(maxLength: 64).described("Which tenant, for a member of several")],
                                         optional: ["tenant"])),
                     responses: [.json(200, "Signed in", Self.tokenPair), .problem(401, "Wrong email or password"),
                                 Self.tooManyAttempts]) { request, context in
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
            },
            Endpoint(.post, "/api/v1/auth/refresh", .open, group: "Access",
                     summary: "Exchange a refresh token (once) for a new pair; presenting a used one ends the session",
                     body: .json(.object(["refresh_token": .string(maxLength: 1024)])),
                     responses: [.json(200, "A new pair", Self.tokenPair), .problem(401, "Unknown, used or expired refresh token"),
                                 Self.tooManyAttempts]) { request, context in
                let body = try await RequestBody.read(request)
                let token = try body.string("refresh_token")
                return Self.tokens(try await Self.mapping { try await access.refresh(token, origin: context.origin) })
            },
            Endpoint(.post, "/api/v1/invitations/accept", .open, group: "Access",
                     summary: "Accept an invitation: set a password and sign in",
                     body: .json(.object(["token": .string(maxLength: 1024), "password": .string(maxLength: 1024),
                                          "display_name": .string(maxLength: 200)], optional: ["display_name"])),
                     responses: [.json(200, "Signed in", Self.tokenPair), .problem(401, "Unknown, used, withdrawn or expired invitation"),
                                 Self.tooManyAttempts]) { request, context in
                let body = try await RequestBody.read(request)
                let (token, password) = (try body.string("token"), try body.string("password"))
                return Self.tokens(try await Self.mapping {
                    try await access.acceptInvitation(token: token, password: password, displayName: body.optionalString("display_name"),
                                                      origin: context.origin)
                })
            },
            Endpoint(.post, "/api/v1/auth/logout", .signedIn, group: "Access", summary: "End this session",
                     responses: [.empty(204, "Ended")]) { _, context in
                try await Self.mapping { try await access.logout(try context.requireCaller(), origin: context.origin) }
                return Response(status: .noContent)
            },
            Endpoint(.post, "/api/v1/auth/logout-everywhere", .signedIn, group: "Access", summary: "End every session of the user",
                     responses: [.empty(204, "Ended")]) { _, context in
                try await Self.mapping { try await access.logoutEverywhere(try context.requireCaller(), origin: context.origin) }
                return Response(status: .noContent)
            },
            Endpoint(.post, "/api/v1/auth/password", .signedIn, group: "Access", summary: "Change the password; the other sessions end",
                     body: .json(.object(["current_password": .string(maxLength: 1024), "new_password": .string(minLength: 12, maxLength: 1024)])),
                     responses: [.empty(204, "Changed")]) { request, context in
                let body = try await RequestBody.read(request)
                let (current, new) = (try body.string("current_password"), try body.string("new_password"))
                try await Self.mapping {
                    try await access.changePassword(try context.requireCaller(), current: current, new: new, origin: context.origin)
                }
                return Response(status: .noContent)
            },
            Endpoint(.get, "/api/v1/auth/me", .signedIn, group: "Access", summary: "The signed-in user: role, permissions and memberships",
                     responses: [.json(200, "Profile", Self.profile)]) { _, context in
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
            },
        ]
    }

    /// Sign-in, refresh and invitation codes are rate limited per address and per account.
    static let tooManyAttempts = Reply.problem(429, "Too many attempts from this address or for this account", retryAfter: true)
    static let tokenPair = Schema.object([
        "access_token": .string, "token_type": .oneOf(["Bearer"]), "expires_at": .epochMilliseconds,
        "refresh_token": .string, "refresh_expires_at": .epochMilliseconds, "tenant": .string, "role": Self.role,
        "user": Schema.string.described("The user's id"),
    ]).named("TokenPair")
    static let role = Schema.oneOf(Role.allCases.map(\.rawValue)).named("Role")
    static let profile = Schema.object([
        "id": .string, "email": .string, "display_name": .string, "tenant": .string, "role": role,
        "permissions": .array(.oneOf(Permission.allCases.map(\.rawValue))),
        "memberships": .array(.object(["tenant": .string, "role": role])),
    ]).named("Profile")

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
