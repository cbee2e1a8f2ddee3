internal import GembaCore
internal import GembaRules
internal import Hummingbird
internal import HummingbirdWebSocket
internal import NIOCore
internal import NIOWebSocket

/// `GET /api/v1/live/alarms?asset=…&state=standing` (WebSocket): the alarm list of an asset,
/// pushed when it changes (raised, cleared, acknowledged, shelved, escalated…). The first frame
/// comes at once; changes are looked for four times a second and a frame is sent only when
/// something changed. Frames have the shape of `GET /api/v1/alarms`. Authentication as for
/// `/api/v1/live`; the stream closes with 4401 when a user's access token expires.
struct LiveAlarmsRoute {
    let server: ServerContext

    var endpoints: [Endpoint] {
        [
            Endpoint(.get, "/api/v1/live/alarms", .requires(.readData), group: "Alarms",
                     summary: "WebSocket: the alarm list of an asset, pushed when it changes",
                     description: "Upgrade to WebSocket. Frames have the shape of GET /api/v1/alarms. "
                         + "A user's stream closes with 4401 when the access token expires.",
                     parameters: [.asset, AlarmRoutes.stateParameter, Parameter.accessToken],
                     responses: [.empty(101, "Switching to WebSocket; frames are lists of alarms"), Endpoint.upgradeRequired,
                                 AlarmRoutes.unavailable],
                     serving: .webSocket(frames: AdminRoutes.items(AlarmRoutes.alarm)) { router in register(on: router) }),
        ]
    }

    private func register(on router: Router<GembaRequestContext>) {
        router.ws("/api/v1/live/alarms") { request, _ in
            try Endpoint.requireUpgrade(request)
            guard server.alarms != nil else { throw Problem(.serviceUnavailable, "alarms are not running on this server") }
            _ = try AlarmRoutes.listing(request)
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let engine = server.alarms else { return }
            let (scope, filter) = try AlarmRoutes.listing(context.request)
            let tenant = context.requestContext.tenant
            let expiry = context.requestContext.credentialExpiry
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var sent: (revision: UInt64, frame: ByteBuffer)?
                    while !Task.isCancelled {
                        if let expiry, expiry <= Timestamp.now() {
                            try await outbound.close(.unknown(4401), reason: "access token expired")
                            return
                        }
                        let revision = engine.revision
                        if revision != sent?.revision {
                            let frame = AlarmRoutes.list(engine, tenant: tenant, scope: scope, filter: filter).buffer
                            // Another tenant's change moves the revision too; only a different list is sent.
                            if frame != sent?.frame { try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: frame))) }
                            sent = (revision, frame)
                        }
                        try await Task.sleep(for: .milliseconds(250))
                    }
                }
                for try await _ in inbound.messages(maxSize: 1 << 12) {}  // the client has nothing to say; this waits for its close
                group.cancelAll()
            }
        }
    }
}
