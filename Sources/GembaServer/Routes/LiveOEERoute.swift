internal import GembaCore
internal import Hummingbird
internal import HummingbirdWebSocket
internal import NIOCore
internal import NIOWebSocket

/// `GET /api/v1/live/oee?asset=…&interval=2` (WebSocket): the current shift's KPIs of an asset,
/// pushed when they change. The figures are recomputed every `interval` seconds (1–60,
/// default 2) and sent only when they differ from the last frame; the first frame comes at once.
/// Frames have the shape of `GET /api/v1/oee/current`. Authentication as for `/api/v1/live`;
/// the stream closes with 4401 when a user's access token expires.
struct LiveOEERoute {
    let server: ServerContext

    var endpoints: [Endpoint] {
        [
            Endpoint(.get, "/api/v1/live/oee", .requires(.readData), group: "OEE",
                     summary: "WebSocket: the current shift's KPIs of an asset, pushed when they change",
                     description: "Upgrade to WebSocket. Frames have the shape of GET /api/v1/oee/current (CurrentShift). "
                         + "A user's stream closes with 4401 when the access token expires.",
                     parameters: [.asset, Parameter("interval", Schema.integer(minimum: 1, maximum: 60).defaulting(to: 2),
                                                    "Seconds between recomputations"), Parameter.accessToken],
                     responses: [.empty(101, "Switching to WebSocket; frames are CurrentShift objects"), Endpoint.upgradeRequired,
                                 .problem(404, "No machine lies in the asset"), OEERoutes.unavailable],
                     serving: .webSocket(frames: OEERoutes.currentShift) { router in register(on: router) }),
        ]
    }

    private func register(on router: Router<GembaRequestContext>) {
        router.ws("/api/v1/live/oee") { request, context in
            try Endpoint.requireUpgrade(request)
            guard server.oee != nil else { throw Problem(.serviceUnavailable, "this store keeps no OEE data") }
            guard Self.interval(request) != nil else { throw Problem.badRequest("interval must be 1 to 60 seconds") }
            _ = try await OEERoutes.machines(server, request, context)
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let request = context.request
            let requestContext = context.requestContext
            guard let engine = server.oee, let interval = Self.interval(request) else { return }
            let (asset, machines) = try await OEERoutes.machines(server, request, requestContext)
            let expiry = requestContext.credentialExpiry
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var last: ByteBuffer?
                    while !Task.isCancelled {
                        if let expiry, expiry <= Timestamp.now() {
                            try await outbound.close(.unknown(4401), reason: "access token expired")
                            return
                        }
                        let catalogue = try await engine.catalogue(tenant: requestContext.tenant)
                        let (shifts, report) = try await engine.currentShift(tenant: requestContext.tenant, machines: machines)
                        let frame = OEEJSON.current(report, shifts: shifts, asset: asset, catalogue: catalogue).buffer
                        if frame != last {
                            try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: frame)))
                            last = frame
                        }
                        try await Task.sleep(for: .seconds(interval))
                    }
                }
                for try await _ in inbound.messages(maxSize: 1 << 12) {}  // the client has nothing to say; this waits for its close
                group.cancelAll()
            }
        }
    }

    static func interval(_ request: Request) -> Int? {
        guard let text = request.uri.queryParameters.get("interval") else { return 2 }
        guard let seconds = Int(text), (1...60).contains(seconds) else { return nil }
        return seconds
    }
}
