public import GembaAccess
internal import GembaCore
public import Hummingbird
internal import HTTPTypes
public import Logging

/// Who may call each endpoint, looked up by method and path pattern, as the endpoints declare it.
public struct AccessRules: Sendable {
    /// One endpoint's rule.
    public struct Rule: Sendable {
        public let access: RouteAccess
        /// A WebSocket: browsers cannot set headers on one, so the token may come as `?access_token=`.
        public let tokenInQuery: Bool
    }

    private let rules: [String: Rule]

    public init(_ endpoints: [Endpoint]) {
        rules = Dictionary(endpoints.map { ($0.key, Rule(access: $0.access, tokenInQuery: $0.frames != nil)) },
                           uniquingKeysWith: { first, _ in first })
    }

    /// The rule of a route as Hummingbird names it (`GET /api/v1/members/{user}`).
    public func rule(method: HTTPRequest.Method, path: String) -> Rule? { rules["\(method.rawValue) \(path)"] }
}

/// Authenticates every request against the endpoints' access rules, checks the permission,
/// applies the per-principal rate limit, and puts the caller (and so the tenant) into the
/// request context. Open routes pass through; an unknown route answers 404 as before; a routed
/// path without a rule answers 500, so nothing registered outside an endpoint is ever open.
public struct AccessMiddleware: RouterMiddleware {
    public typealias Context = GembaRequestContext
    let access: AccessService
    let rules: AccessRules
    let logger: Logger

    public init(access: AccessService, rules: AccessRules, logger: Logger) {
        self.access = access
        self.rules = rules
        self.logger = logger
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.requestID = request.headers[HTTPField.Name("X-Request-ID")!].map { String($0.prefix(64)) } ?? Secrets.identifier()
        guard let path = context.endpointPath, path != "NotFound" else { return try await next(request, context) }
        guard let found = rules.rule(method: request.method, path: path) else {
            logger.error("route without an access rule; refusing it", metadata: ["http.route": "\(request.method) \(path)"])
            throw Problem(.internalServerError, "this route has no access rule")
        }
        let rule = found.access
        if rule == .open { return try await next(request, context) }
        let caller: Caller
        do {
            if let header = request.headers[.authorization] {
                (caller, context.credentialExpiry) = try await access.credentials(authorization: header)
            } else if found.tokenInQuery, let token = request.uri.queryParameters["access_token"] {
                // Browsers cannot set headers on a WebSocket: the token (or an API key) comes in the query.
                (caller, context.credentialExpiry) = try await access.credentials(authorization: "Bearer \(token)")
            } else {
                throw AccessError(.unauthorized, "authentication required: send Authorization: Bearer <token>")
            }
            try Self.check(rule, caller)
            try access.limitAPI(caller)
        } catch let error as AccessError {
            throw Problem(error)
        }
        context.caller = caller
        return try await next(request, context)
    }

    static func check(_ rule: RouteAccess, _ caller: Caller) throws(AccessError) {
        switch rule {
        case .open: return
        case .signedIn:
            guard caller.kind == .user else { throw AccessError(.forbidden, "this route is for signed-in users") }
        case .requires(let permission):
            guard caller.may(permission) else {
                throw AccessError(.forbidden, "your role (\(caller.role?.rawValue ?? caller.kind.rawValue)) does not allow \(permission.rawValue)")
            }
        }
    }
}

extension Problem {
    /// The HTTP form of an access refusal.
    init(_ error: AccessError) {
        switch error.code {
        case .unauthorized:
            self.init(.unauthorized, error.message, headers: [.wwwAuthenticate: #"Bearer realm="gemba""#])
        case .forbidden: self.init(.forbidden, error.message)
        case .notFound: self.init(.notFound, error.message)
        case .invalid: self.init(.badRequest, error.message)
        case .conflict: self.init(.conflict, error.message)
        case .rateLimited: self.init(.tooManyRequests, error.message, headers: [.retryAfter: "\(error.retryAfter ?? 1)"])
        case .unavailable: self.init(.serviceUnavailable, error.message, headers: [.retryAfter: "\(error.retryAfter ?? 1)"])
        }
    }
}

/// Appends every mutating request (POST, PUT, PATCH, DELETE) to the audit log with its outcome,
/// except data writes (ingest and line protocol), which metrics count instead.
public struct AuditMiddleware: RouterMiddleware {
    public typealias Context = GembaRequestContext
    let access: AccessService
    static let unaudited: Set<String> = ["/api/v1/ingest", "/api/v2/write", "/write"]

    public init(access: AccessService) { self.access = access }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard [.post, .put, .patch, .delete].contains(request.method), let path = context.endpointPath, path != "NotFound",
              !Self.unaudited.contains(path) else { return try await next(request, context) }
        do {
            let response = try await next(request, context)
            await record(request, context, status: Int(response.status.code))
            return response
        } catch let error as any HTTPResponseError {
            await record(request, context, status: Int(error.status.code))
            throw error
        } catch {
            await record(request, context, status: 500)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, status: Int) async {
        let caller = context.caller
        // The target is the path as called; ids in it are not secrets. Query strings are left out (tokens could be there).
        await access.record(AuditEvent(
            tenant: context.tenant, time: Timestamp.now(), actorKind: caller?.kind.rawValue ?? "anonymous", actorID: caller?.id ?? "",
            actorName: caller?.name ?? "", action: "http.\(request.method.rawValue.lowercased())", target: request.uri.path,
            outcome: "\(status)", sourceIP: context.clientIP, requestID: context.requestID))
    }
}

/// Security headers on every response, errors included; CORS only for the configured origins.
public struct SecurityHeadersMiddleware: RouterMiddleware {
    public typealias Context = GembaRequestContext
    let allowedOrigins: Set<String>
    let tls: Bool

    public init(allowedOrigins: Set<String>, tls: Bool) {
        self.allowedOrigins = allowedOrigins
        self.tls = tls
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let origin = request.headers[.origin].flatMap { allowedOrigins.contains($0) ? $0 : nil }
        if request.method == .options, origin != nil, request.headers[.accessControlRequestMethod] != nil {
            var response = Response(status: .noContent)
            decorate(&response, origin: origin)
            response.headers[.accessControlAllowMethods] = "GET, POST, PUT, DELETE"
            response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type, Content-Encoding, Idempotency-Key, X-Request-ID"
            response.headers[.accessControlMaxAge] = "600"
            return response
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        decorate(&response, origin: origin)
        return response
    }

    private func decorate(_ response: inout Response, origin: String?) {
        response.headers[.contentSecurityPolicy] = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
            + "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        if tls { response.headers[.strictTransportSecurity] = "max-age=31536000; includeSubDomains" }
        if let origin {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.vary] = "Origin"
        }
    }
}
