import Foundation
import GembaAccess
import GembaCore
import GembaIngest
import GembaServer
import Hummingbird
import HTTPTypes
import HummingbirdTesting
import HummingbirdWSTesting
import NIOWebSocket
import Testing

/// Every route × every kind of caller, against the endpoints' declarations: the router must serve
/// exactly the declared endpoints, and each answer must be what the declared access says
/// (2xx/4xx other than 401/403 when allowed).
@Suite struct AccessControlTests {
    /// Paths with their parameters filled in.
    static func concrete(_ path: String) -> String {
        path.replacingOccurrences(of: "{user}", with: "nobody").replacingOccurrences(of: "{id}", with: "nothing")
            .replacingOccurrences(of: "{site}", with: "plant1").replacingOccurrences(of: "{file}", with: "app.js")
            .replacingOccurrences(of: "{rule}", with: "some-rule").replacingOccurrences(of: "{channel}", with: "some-channel")
            .replacingOccurrences(of: "{policy}", with: "some-policy").replacingOccurrences(of: "{roster}", with: "some-roster")
            .replacingOccurrences(of: "{person}", with: "someone@gemba.test").replacingOccurrences(of: "{detector}", with: "some-detector")
            .replacingOccurrences(of: "{version}", with: "1")
            .replacingOccurrences(of: "{plan}", with: "some-plan")
    }

    @Test func everyRouteIsDeclaredOnceAndEnforcedForEveryRole() async throws {
        var limits = AccessService.Configuration()
        limits.loginPerIP = .init(perMinute: 1000, burst: 1000)
        limits.loginPerAccount = .init(perMinute: 1000, burst: 1000)
        let harness = try await ServerHarness(access: limits)
        // Routes that end the caller's session go last, each with a fresh sign-in.
        let ending: Set<String> = ["/api/v1/auth/logout", "/api/v1/auth/logout-everywhere", "/api/v1/auth/password"]
        let endpoints = HTTPServer.endpoints(harness.server)
        #expect(Set(endpoints.map(\.key)).count == endpoints.count, "an endpoint is declared twice")
        let declared = Dictionary(endpoints.map { ($0.key, $0.access) }, uniquingKeysWith: { first, _ in first })
        let routes = HTTPServer.router(harness.server).routes.map { ($0.method, $0.path.description) }
            .sorted { !ending.contains($0.1) && ending.contains($1.1) }
        #expect(Set(routes.map { "\($0.0.rawValue) \($0.1)" }) == Set(declared.keys), "the router serves what the endpoints declare")

        var tokens: [Role: String] = [:]
        for role in Role.allCases where role != .owner {
            let invite = try await harness.access.invite(.system(.default), email: "\(role.rawValue)@gemba.test", role: role, origin: .local)
            tokens[role] = try await harness.access.acceptInvitation(token: invite.secret, password: "passphrase of \(role.rawValue)",
                                                                     displayName: nil, origin: .local).accessToken
        }
        tokens[.owner] = try await harness.ownerToken()
        let deviceSecret = try await harness.access.createDevice(.system(.default), username: "gw-1", subtree: nil, origin: .local).secret
        let expiring = try await harness.ownerToken()
        let roleTokens = tokens

        try await harness.test(anonymous: true) { client in
            for (method, path) in routes {
                let rule = try #require(declared["\(method.rawValue) \(path)"])
                let uri = Self.concrete(path)
                // No credentials.
                try await client.execute(uri: uri, method: method, body: ByteBuffer(string: "{}")) { response in
                    if rule == .open {
                        #expect(response.status != .unauthorized && response.status != .forbidden, "\(method) \(path) open")
                    } else {
                        #expect(response.status == .unauthorized, "\(method) \(path) without credentials")
                        #expect(response.headers[.wwwAuthenticate] != nil)
                    }
                    #expect(response.headers[.xContentTypeOptions] == "nosniff")
                    #expect(response.headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
                }
                guard rule != .open else { continue }
                for role in Role.allCases {
                    let allowed = switch rule {
                    case .open, .signedIn: true
                    case .requires(let permission): role.allows(permission)
                    }
                    var token = roleTokens[role]!
                    if ending.contains(path) {
                        let (email, password) = role == .owner ? (ServerHarness.ownerEmail, ServerHarness.ownerPassword)
                                                               : ("\(role.rawValue)@gemba.test", "passphrase of \(role.rawValue)")
                        token = try await harness.access.login(email: email, password: password, tenant: nil, origin: .local).accessToken
                    }
                    try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer \(token)"],
                                             body: ByteBuffer(string: "{}")) { response in
                        if allowed {
                            #expect(response.status != .unauthorized && response.status != .forbidden, "\(method) \(path) as \(role)")
                        } else {
                            #expect(response.status == .forbidden, "\(method) \(path) as \(role): \(response.status)")
                        }
                    }
                }
                // A device may only ingest.
                try await client.execute(uri: uri, method: method, headers: [.authorization: "Token gw-1:\(deviceSecret)"],
                                         body: ByteBuffer(string: "{}")) { response in
                    let allowed = rule == .requires(.ingest)
                    #expect(allowed ? response.status != .forbidden : response.status == .forbidden, "\(method) \(path) as a device")
                }
                // Forged and malformed credentials.
                try await client.execute(uri: uri, method: method, headers: [.authorization: "Bearer eyJhbGciOiJub25lIn0.e30."]) { response in
                    #expect(response.status == .unauthorized, "\(method) \(path) with an unsigned token")
                }
            }
        }
        // Expired: the same token, sixteen minutes later.
        harness.clock.advance(minutes: 16)
        try await harness.test(anonymous: true) { client in
            for (method, path) in routes where declared["\(method.rawValue) \(path)"] != .open {
                try await client.execute(uri: Self.concrete(path), method: method, headers: [.authorization: "Bearer \(expiring)"]) { response in
                    #expect(response.status == .unauthorized, "\(method) \(path) with an expired token")
                    #expect(response.text.contains("expired"))
                }
            }
        }
    }

    @Test func anotherTenantsObjectsAnswerNotFound() async throws {
        let harness = try await ServerHarness()
        let other = TenantID("other")!
        try await harness.identity.createTenant(other, name: "Other", at: .now())
        try await harness.access.createUser(email: "boss@other.test", displayName: "Boss", password: "other passphrase", tenant: other, role: .owner)
        let ownKey = try await harness.access.createAPIKey(.system(.default), name: "mine", role: .viewer, expiresAt: nil, origin: .local)
        let ownDevice = try await harness.access.createDevice(.system(.default), username: "gw-own", subtree: nil, origin: .local)
        let ownInvitation = try await harness.access.invite(.system(.default), email: "new@default.test", role: .viewer, origin: .local)
        let owner = try await harness.access.authenticate(accessToken: try await harness.ownerToken())
        let foreign = try await harness.access.login(email: "boss@other.test", password: "other passphrase", tenant: nil, origin: .local)
        try await harness.test { client in
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: """
                {"records": [{"machine": "plant1/line1/press-1", "values": {"temp": 1}}]}
                """)) { #expect($0.status == .ok) }
            let headers: HTTPFields = [.authorization: "Bearer \(foreign.accessToken)"]
            for (method, uri) in [(HTTPRequest.Method.delete, "/api/v1/api-keys/\(ownKey.object.id)"),
                                  (.delete, "/api/v1/devices/\(ownDevice.object.id)"),
                                  (.delete, "/api/v1/invitations/\(ownInvitation.object.id)"),
                                  (.delete, "/api/v1/members/\(owner.id)"),
                                  (.put, "/api/v1/members/\(owner.id)"),
                                  (.get, "/api/v1/latest?machine=plant1/line1/press-1"),
                                  (.post, "/api/v1/machines/retire"), (.post, "/api/v1/machines/move"),
                                  (.delete, "/api/v1/machines?machine=plant1/line1/press-1&confirm=plant1/line1/press-1"),
                                  (.get, "/api/v1/tags?machine=plant1/line1/press-1")] {
                try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: #"{"role": "viewer", "machine": "plant1/line1/press-1", "retired": true, "to": "plant1/line1/press-2"}"#)) { response in
                    #expect(response.status == .notFound, "\(method) \(uri) from another tenant: \(response.status)")
                }
            }
            try await client.execute(uri: "/api/v1/machines", method: .get, headers: headers) { response in
                #expect(response.status == .ok)
                #expect(!response.text.contains("press-1"))
            }
            try await client.execute(uri: "/api/v1/audit?action=api_key.", method: .get, headers: headers) { response in
                #expect(response.json["items"]?.array.isEmpty == true)
            }
        }
        // Nothing of the default tenant was changed by the other tenant's attempts.
        #expect(try await harness.access.apiKeys(owner).first?.revokedAt == nil)
        #expect(try await harness.access.members(owner).count == 1)
        #expect(try await harness.access.invitations(owner).map(\.id) == [ownInvitation.object.id])
    }

    @Test func theLiveStreamClosesWhenItsTokenExpires() async throws {
        var short = AccessService.Configuration()
        short.accessTokenLifetime = 3_000
        let harness = try await ServerHarness(access: short)
        try await harness.test(anonymous: true) { client in
            // Signed in just before the stream opens: under a loaded test run, the server's start
            // could otherwise take the token's whole lifetime, and the upgrade would be refused.
            let token = try await harness.ownerToken()
            let close = try await client.ws("/api/v1/live?access_token=\(token)") { inbound, _, _ in
                for try await _ in inbound {}
            }
            #expect(close?.closeCode == .unknown(4401))
            #expect(close?.reason == "access token expired")
            // An expired token cannot open a new stream.
            await #expect(throws: (any Error).self) {
                try await client.ws("/api/v1/live?access_token=\(token)") { _, _, _ in }
            }
        }
    }

    @Test func badCredentialsAndBodiesCostNothingElse() async throws {
        let harness = try await ServerHarness()
        try await harness.test(anonymous: true) { client in
            for body in ["", "{", "[]", #"{"email": 1, "password": "x"}"#, String(repeating: "x", count: 100_000)] {
                try await client.execute(uri: "/api/v1/auth/login", method: .post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .badRequest || response.status == .contentTooLarge, "\(body.prefix(20))")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            try await client.execute(uri: "/api/v1/auth/login", method: .post, body: ByteBuffer(string:
                #"{"email": "\#(ServerHarness.ownerEmail)", "password": "\#(ServerHarness.ownerPassword)", "tenant": "UPPER CASE"}"#)) { response in
                #expect(response.status == .badRequest)
            }
        }
        // A header over the parser's limit: 400 and the connection closed, not left hanging.
        try await harness.test(anonymous: true) { client in
            let huge = "Bearer " + String(repeating: "a", count: 200_000)
            try await client.execute(uri: "/api/v1/machines", method: .get, headers: [.authorization: huge]) { response in
                #expect(response.status == .badRequest)
            }
        }
        try await harness.test(anonymous: true) { client in
            // The server is unaffected: a normal sign-in and request still work.
            let token = try await harness.ownerToken()
            try await client.execute(uri: "/api/v1/machines", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func rateLimitsAnswer429WithRetryAfter() async throws {
        // Refilled once a minute: however slowly a loaded machine runs the requests, none is refilled in between.
        var tight = AccessService.Configuration()
        tight.apiPerPrincipal = .init(perMinute: 1, burst: 3)
        tight.loginPerIP = .init(perMinute: 1, burst: 2)
        let harness = try await ServerHarness(access: tight)
        let token = try await harness.ownerToken()  // from another "IP" than the HTTP client's
        try await harness.test(anonymous: true) { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<4 {
                try await client.execute(uri: "/api/v1/machines", method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                    statuses.append(response.status)
                    if response.status == .tooManyRequests { #expect(Int(response.headers[.retryAfter] ?? "") ?? 0 >= 1) }
                }
            }
            #expect(statuses == [.ok, .ok, .ok, .tooManyRequests])
            let login = ByteBuffer(string: #"{"email": "nobody@gemba.test", "password": "whatever it is"}"#)
            for _ in 0..<2 {
                try await client.execute(uri: "/api/v1/auth/login", method: .post, body: login) { #expect($0.status == .unauthorized) }
            }
            try await client.execute(uri: "/api/v1/auth/login", method: .post, body: login) { response in
                #expect(response.status == .tooManyRequests)
                #expect(response.headers[.retryAfter] != nil)
            }
        }
    }

    @Test func corsAnswersOnlyConfiguredOriginsAndUnknownRolesAreRefused() async throws {
        var harness = try await ServerHarness()
        harness.server.allowedOrigins = ["https://dashboard.plant.example"]
        try await harness.test { client in
            for (origin, allowed) in [("https://dashboard.plant.example", true), ("https://evil.example", false)] {
                try await client.execute(uri: "/api/v1/machines", method: .options,
                                         headers: [.origin: origin, .accessControlRequestMethod: "GET"]) { response in
                    #expect(response.headers[.accessControlAllowOrigin] == (allowed ? origin : nil))
                }
                try await client.execute(uri: "/api/v1/machines", method: .get, headers: [.origin: origin]) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.accessControlAllowOrigin] == (allowed ? origin : nil))
                }
            }
            try await client.execute(uri: "/api/v1/api-keys", method: .post, body: ByteBuffer(string: #"{"name": "x", "role": "king"}"#)) { response in
                #expect(response.status == .badRequest)
                #expect(response.text.contains("unknown role"))
            }
            try await client.execute(uri: "/api/v1/devices", method: .post,
                                     body: ByteBuffer(string: #"{"username": "gw", "subtree": "a/b/c/d/e"}"#)) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func theAuditLogRecordsMutationsAndSecurityEventsWithoutSecrets() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            var secret = ""
            try await client.execute(uri: "/api/v1/api-keys", method: .post, headers: [HTTPField.Name("X-Request-ID")!: "req-audit-1"],
                                     body: ByteBuffer(string: #"{"name": "line 3 gateway", "role": "engineer"}"#)) { response in
                #expect(response.status == .created)
                secret = response.json["key"]?.stringValue ?? ""
            }
            #expect(secret.hasPrefix("gak_"))
            try await client.execute(uri: "/api/v1/auth/login", method: .post,
                                     body: ByteBuffer(string: #"{"email": "\#(ServerHarness.ownerEmail)", "password": "not the password"}"#)) { _ in }
            try await client.execute(uri: "/api/v1/audit?limit=50", method: .get) { response in
                #expect(response.status == .ok)
                let items = response.json["items"]?.array ?? []
                let created = items.first { $0["action"]?.stringValue == "api_key.create" }
                #expect(created?["actor"]?.stringValue == ServerHarness.ownerEmail)
                #expect(created?["request_id"]?.stringValue == "req-audit-1")
                #expect(created?["source_ip"]?.stringValue == "127.0.0.1")
                #expect(items.contains { $0["action"]?.stringValue == "http.post" && $0["target"]?.stringValue == "/api/v1/api-keys"
                                         && $0["outcome"]?.stringValue == "201" })
                #expect(items.contains { $0["action"]?.stringValue == "auth.login" && $0["outcome"]?.stringValue == "failure" })
                #expect(!response.text.contains(secret) && !response.text.contains("not the password"))
            }
            try await client.execute(uri: "/api/v1/audit.csv?action=api_key.", method: .get) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/csv") == true)
                let lines = response.text.split(separator: "\r\n")
                #expect(lines.first?.hasPrefix("id,time,actor_kind") == true)
                #expect(lines.count == 2 && lines[1].contains("api_key.create"))
            }
        }
    }
}
