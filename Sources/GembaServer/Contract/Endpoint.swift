public import GembaCore
public import Hummingbird
internal import HummingbirdWebSocket

/// Who may call a route.
public enum RouteAccess: Sendable, Hashable {
    /// No credentials: health, readiness, sign-in, refresh, invitation acceptance (and `/metrics` unless configured otherwise).
    case open
    /// Any signed-in user, whatever their role (their own profile, password, sign-out).
    case signedIn
    /// A caller holding the permission.
    case requires(Permission)
}

/// One HTTP operation, declared once: its method and path, who may call it, what it reads and
/// answers, and the code that serves it. The router, the access check and `/openapi.json` are
/// all derived from the list of endpoints; there is no second table to keep in step.
public struct Endpoint: Sendable {
    /// How the endpoint is served.
    enum Handler: Sendable {
        /// A plain request → response.
        case http(@Sendable (Request, GembaRequestContext) async throws -> Response)
        /// A WebSocket upgrade, registered by the closure (the route's own `router.ws`); `frames` is
        /// the schema of the text frames the server sends (the document's `x-websocket-frames`).
        case webSocket(frames: Schema, @Sendable (Router<GembaRequestContext>) -> Void)
    }

    public let method: HTTPRequest.Method
    /// The path as Hummingbird and OpenAPI both write it: `/api/v1/members/{user}`.
    public let path: String
    public let access: RouteAccess
    /// The reference section the endpoint is listed under (`Telemetry`, `OEE`, `Access`, …).
    public let group: String
    public let summary: String
    public var description: String?
    public var parameters: [Parameter]
    public var body: Body?
    /// The answers the endpoint gives; the access errors (401, 403, 429) are added from ``access``.
    public var responses: [Reply]
    let handler: Handler

    init(_ method: HTTPRequest.Method, _ path: String, _ access: RouteAccess, group: String, summary: String,
         description: String? = nil, parameters: [Parameter] = [], body: Body? = nil, responses: [Reply],
         handler: @escaping @Sendable (Request, GembaRequestContext) async throws -> Response) {
        self.init(method, path, access, group: group, summary: summary, description: description, parameters: parameters,
                  body: body, responses: responses, serving: .http(handler))
    }

    init(_ method: HTTPRequest.Method, _ path: String, _ access: RouteAccess, group: String, summary: String,
         description: String? = nil, parameters: [Parameter] = [], body: Body? = nil, responses: [Reply], serving handler: Handler) {
        self.method = method
        self.path = path
        self.access = access
        self.group = group
        self.summary = summary
        self.description = description
        self.parameters = parameters
        self.body = body
        self.responses = responses
        self.handler = handler
    }

    /// The schema of the frames a WebSocket endpoint sends.
    var frames: Schema? {
        if case .webSocket(let frames, _) = handler { return frames }
        return nil
    }

    /// `GET /api/v1/members/{user}`: the key the access check looks the endpoint up by.
    public var key: String { "\(method.rawValue) \(path)" }

    /// The answers with the ones every authenticated route can give.
    public var allResponses: [Reply] {
        var replies = responses
        func add(_ reply: Reply) { if !replies.contains(where: { $0.status == reply.status }) { replies.append(reply) } }
        if access != .open {
            add(.problem(401, "No valid credentials (WWW-Authenticate says how to send them)"))
            add(.problem(403, "The caller's role does not allow this"))
            add(.problem(429, "Too many requests from this caller; retry after Retry-After seconds", retryAfter: true))
        }
        if body != nil || parameters.contains(where: { $0.location != .header }) {
            add(.problem(400, "A parameter or the body is invalid; detail names it"))
        }
        if body != nil { add(.problem(413, "The body is larger than the route accepts")) }
        return replies.sorted { $0.status < $1.status }
    }

    /// The answer of a WebSocket route to a plain request.
    static let upgradeRequired = Reply.problem(426, "Not a WebSocket handshake: send Connection: Upgrade and Upgrade: websocket")

    /// Refuses a request to a WebSocket route that is not a WebSocket handshake (Hummingbird would answer 200 with nothing).
    static func requireUpgrade(_ request: Request) throws {
        guard request.headers[.upgrade]?.lowercased() == "websocket" else {
            throw Problem(.upgradeRequired, "this route speaks WebSocket only: send Connection: Upgrade and Upgrade: websocket",
                          headers: [.upgrade: "websocket"])
        }
    }

    /// Adds the endpoint to the router.
    func register(on router: Router<GembaRequestContext>) {
        switch handler {
        case .http(let respond): router.on(RouterPath(path), method: method, use: respond)
        case .webSocket(_, let register): register(router)
        }
    }
}

/// A query, path or header parameter of an endpoint.
public struct Parameter: Sendable {
    public enum Location: String, Sendable { case query, path, header }

    public let name: String
    public let location: Location
    public let schema: Schema
    public let required: Bool
    public let description: String
    /// Whether the parameter may be given several times (`machine=a&machine=b`).
    public let repeatable: Bool
    /// A value from the demo factory: the reference shows it, and contract tests start from it.
    public let example: String?

    public init(_ name: String, in location: Location = .query, _ schema: Schema = .string, required: Bool = false,
                repeatable: Bool = false, example: String? = nil, _ description: String) {
        self.name = name
        self.location = location
        self.schema = schema
        self.required = required || location == .path
        self.repeatable = repeatable
        self.example = example
        self.description = description
    }

    /// The same parameter with more said about it.
    public func described(_ more: String) -> Parameter {
        Parameter(name, in: location, schema, required: required, repeatable: repeatable, example: example, description + more)
    }

    /// A path parameter `{name}`.
    public static func path(_ name: String, _ description: String) -> Parameter {
        Parameter(name, in: .path, .string(minLength: 1, maxLength: 200), _: description)
    }
}

/// The request body an endpoint reads.
public struct Body: Sendable {
    /// `application/json` unless said otherwise.
    public let mediaType: String
    public let schema: Schema
    public let required: Bool

    public static func json(_ schema: Schema, required: Bool = true) -> Body {
        Body(mediaType: "application/json", schema: schema, required: required)
    }

    public static func text(_ mediaType: String, _ schema: Schema) -> Body {
        Body(mediaType: mediaType, schema: schema, required: true)
    }
}

/// One answer an endpoint gives: a status, what it means, and its body's media type and schema.
public struct Reply: Sendable {
    public let status: Int
    public let description: String
    /// Media types and schemas the body may have; none: no body.
    public let contents: [(mediaType: String, schema: Schema)]
    /// Response headers worth documenting, with their schemas.
    public let headers: [(String, Schema)]

    public init(_ status: Int, _ description: String, content: (mediaType: String, schema: Schema)...,
                headers: [(String, Schema)] = []) {
        self.status = status
        self.description = description
        self.contents = content
        self.headers = headers
    }

    /// A JSON answer.
    public static func json(_ status: Int = 200, _ description: String, _ schema: Schema) -> Reply {
        Reply(status, description, content: ("application/json", schema))
    }

    /// An answer without a body (204, 101).
    public static func empty(_ status: Int, _ description: String) -> Reply { Reply(status, description) }

    /// An `application/problem+json` error.
    public static func problem(_ status: Int, _ description: String, retryAfter: Bool = false) -> Reply {
        Reply(status, description, content: ("application/problem+json", ProblemSchemas.problem),
              headers: retryAfter ? [("Retry-After", .integer(minimum: 0))] : [])
    }
}
