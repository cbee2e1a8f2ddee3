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

    func register(on router: Router<GembaRequestContext>) {
        router.ws("/api/v1/live/oee") { request, context in
            guard server.oee != nil, Self.interval(request) != nil,
                  (try? await OEERoutes.machines(server, request, context)) != nil else { return .dontUpgrade }
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
