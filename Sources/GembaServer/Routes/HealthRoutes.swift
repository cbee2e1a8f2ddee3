internal import Hummingbird
internal import NIOCore

/// `/health` (liveness), `/ready` (storage writable, broker listening) and `/metrics` (Prometheus).
struct HealthRoutes {
    let server: ServerContext

    func register(on router: Router<GembaRequestContext>) {
        router.get("/health") { _, _ in
            Self.json(.ok, #"{"status":"ok"}"#)
        }
        router.get("/ready") { _, _ in await ready() }
        if let metrics = server.metrics {
            router.get("/metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                         body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
            }
        }
    }

    private func ready() async -> Response {
        var checks: [(String, Bool)] = []
        do {
            try await server.store.checkWritable()
            checks.append(("storage", true))
        } catch {
            server.logger.warning("readiness: storage not writable", metadata: ["error": "\(error)"])
            checks.append(("storage", false))
        }
        for (name, check) in server.readinessChecks.sorted(by: { $0.key < $1.key }) {
            checks.append((name, await check()))
        }
        let ok = checks.allSatisfy(\.1)
        var json = JSONWriter()
        json.object { json in
            json.field("status") { $0.string(ok ? "ready" : "not ready") }
            json.field("checks") { json in
                json.object { json in
                    for (name, passed) in checks { json.field(name) { $0.string(passed ? "ok" : "failing") } }
                }
            }
        }
        return Response(status: ok ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: json.buffer))
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
