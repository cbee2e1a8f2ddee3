internal import GembaCore
internal import GembaIngest
internal import Hummingbird
internal import HummingbirdWebSocket
internal import NIOWebSocket
internal import NIOCore
internal import Synchronization

/// `GET /api/v1/live` (WebSocket): new samples of the machines and tags a client subscribed to.
///
/// Subscribe with query parameters at connect (`?machine=<path>&tag=<name>`, both repeatable,
/// none = every machine of the tenant) or by sending `{"subscribe": {"machines": [...], "tags": [...]}}`,
/// which replaces the current subscription. Frames are
/// `{"samples": [{"machine", "tag", "t", "v", "quality"}], "skipped": n}`, where `skipped` counts
/// samples dropped because the client read too slowly (it always gets the latest of each series).
///
/// Authentication: `Authorization: Bearer …` or, from a browser, `?access_token=…`. When a user's
/// access token expires the server closes the stream with code 4401 and the reason
/// "access token expired"; sending `{"access_token": "<new token>"}` before then extends it.
struct LiveRoute {
    let server: ServerContext

    static let frame = Schema.object([
        "samples": .array(QueryRoutes.latestValue),
        "skipped": Schema.integer(minimum: 0).described("Samples dropped because the client read too slowly"),
    ]).named("LiveFrame")

    var endpoints: [Endpoint] {
        [
            Endpoint(.get, "/api/v1/live", .requires(.readData), group: "Telemetry",
                     summary: "WebSocket: new samples of the subscribed machines and tags",
                     description: "Upgrade to WebSocket. Subscribe with machine/tag query parameters (none: every machine), or send "
                         + "`{\"subscribe\": {\"machines\": [...], \"tags\": [...]}}` to replace the subscription. Text frames are "
                         + "LiveFrame objects. A user's stream closes with 4401 when the access token expires; send "
                         + "`{\"access_token\": \"…\"}` before then to extend it.",
                     parameters: [.machine, .tag, Parameter.accessToken],
                     responses: [.empty(101, "Switching to WebSocket; frames are LiveFrame objects"), Endpoint.upgradeRequired],
                     serving: .webSocket(frames: Self.frame) { router in register(on: router) }),
        ]
    }

    private func register(on router: Router<GembaRequestContext>) {
        router.ws("/api/v1/live") { request, context in
            try Endpoint.requireUpgrade(request)
            _ = try Self.filter(request.uri.queryParameters.getAll("machine"), request.uri.queryParameters.getAll("tag"),
                                tenant: context.tenant)
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let tenant = context.requestContext.tenant
            let parameters = context.request.uri.queryParameters
            let initial = try Self.filter(parameters.getAll("machine"), parameters.getAll("tag"), tenant: tenant)
            let connection = LiveConnection(hub: server.hub, filter: initial)
            defer { connection.close() }
            let caller = context.requestContext.caller
            let expiry = StreamExpiry(context.requestContext.credentialExpiry)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await connection.send(to: outbound) }
                if expiry.until != nil {
                    group.addTask { try await Self.closeOnExpiry(expiry, outbound: outbound, connection: connection) }
                }
                for try await message in inbound.messages(maxSize: 1 << 16) {
                    guard case .text(let text) = message else { continue }
                    do {
                        let json = try JSONParser.parse(Array(text.utf8))
                        if case .string(let token)? = json["access_token"] {
                            let (renewed, until) = try await server.access.authenticateWithExpiry(accessToken: token)
                            guard renewed.id == caller?.id, renewed.tenant == tenant else {
                                throw Problem(.forbidden, "the new token belongs to someone else")
                            }
                            expiry.until = until
                        } else {
                            connection.replace(with: try Self.subscription(from: json, tenant: tenant))
                        }
                    } catch {
                        try await outbound.write(.text(#"{"error":\#(JSONWriter.quoted("\(error)"))}"#))
                    }
                }
                connection.close()
                group.cancelAll()
            }
        }
    }

    static func frame(_ update: LiveHub.Update) -> ByteBuffer {
        var json = JSONWriter(capacity: 96 * update.samples.count + 32)
        json.object { json in
            json.field("samples") { json in
                json.array { json in
                    for entry in update.samples {
                        json.object { json in
                            json.field("machine") { $0.string(entry.key.machine.description) }
                            json.field("tag") { $0.string(entry.key.tag) }
                            json.field("t") { $0.int(entry.sample.time.millisecondsSinceEpoch) }
                            json.field("v") { $0.value(entry.sample.value) }
                            json.field("quality") { $0.string(entry.sample.quality.name) }
                        }
                    }
                }
            }
            json.field("skipped") { $0.int(Int64(update.skipped)) }
        }
        return json.buffer
    }

    /// Closes the stream once the caller's token has expired (the expiry may be pushed back meanwhile).
    static func closeOnExpiry(_ expiry: StreamExpiry, outbound: WebSocketOutboundWriter, connection: LiveConnection) async throws {
        while let until = expiry.until {
            let left = until.millisecondsSinceEpoch - Timestamp.now().millisecondsSinceEpoch
            if left <= 0 {
                connection.close()
                try await outbound.close(.unknown(4401), reason: "access token expired")
                return
            }
            try await Task.sleep(for: .milliseconds(left))
        }
    }

    static func subscription(from json: JSONValue, tenant: TenantID) throws -> LiveHub.Filter {
        guard let body = json["subscribe"], case .object = body else {
            throw Problem.badRequest("expected {\"subscribe\": {\"machines\": [...], \"tags\": [...]}}")
        }
        func strings(_ name: String) throws -> [String] {
            switch body[name] {
            case nil: return []
            case .array(let items)?:
                return try items.map { item in
                    guard case .string(let text) = item else { throw Problem.badRequest("\(name) must be strings") }
                    return text
                }
            default: throw Problem.badRequest("\(name) must be an array")
            }
        }
        return try filter(try strings("machines"), try strings("tags"), tenant: tenant)
    }

    static func filter(_ machines: [String], _ tags: [String], tenant: TenantID) throws -> LiveHub.Filter {
        LiveHub.Filter(tenant: tenant, machines: Set(try machines.map { try QueryRoutes.machinePath($0) }), tags: Set(tags))
    }
}

/// One WebSocket client's current subscription; replaced on request, removed from the hub at once on close.
final class LiveConnection: Sendable {
    private let hub: LiveHub
    private let state: Mutex<(subscription: LiveHub.Subscription?, closed: Bool)>

    init(hub: LiveHub, filter: LiveHub.Filter) {
        self.hub = hub
        state = Mutex((hub.subscribe(filter), false))
    }

    func replace(with filter: LiveHub.Filter) {
        let old = state.withLock { state -> LiveHub.Subscription? in
            guard !state.closed else { return nil }
            defer { state.subscription = hub.subscribe(filter) }
            return state.subscription
        }
        if let old { hub.remove(old) }
    }

    func close() {
        let old = state.withLock { state -> LiveHub.Subscription? in
            state.closed = true
            defer { state.subscription = nil }
            return state.subscription
        }
        if let old { hub.remove(old) }
    }

    /// Writes updates until closed; a replaced subscription ends its `next()` with nil and the loop picks up the new one.
    func send(to outbound: WebSocketOutboundWriter) async throws {
        while let subscription = state.withLock({ $0.closed ? nil : $0.subscription }) {
            guard let update = await subscription.next() else { continue }
            try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: LiveRoute.frame(update))))
        }
    }
}

/// When a live stream's credentials run out; a renewed token moves it.
final class StreamExpiry: Sendable {
    private let value: Mutex<Timestamp?>

    init(_ until: Timestamp?) { value = Mutex(until) }

    var until: Timestamp? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
