internal import Hummingbird
internal import NIOCore

/// `/health` (liveness), `/ready` (storage writable, broker listening) and `/metrics` (Prometheus).
struct HealthRoutes {
    let server: ServerContext

    static let readiness = Schema.object([
        "status": .oneOf(["ready", "not ready"]),
        "checks": Schema.map(.oneOf(["ok", "failing"])).described("Each check (storage, mqtt, …) by name"),
    ]).named("Readiness")

    var endpoints: [Endpoint] {
        var endpoints = [
            Endpoint(.get, "/health", .open, group: "Operations", summary: "Liveness: the process answers",
                     responses: [.json(200, "Up", .object(["status": .oneOf(["ok"])]))]) { _, _ in
                Self.json(.ok, #"{"status":"ok"}"#)
            },
            Endpoint(.get, "/ready", .open, group: "Operations", summary: "Readiness: storage writable and the broker listening",
                     responses: [.json(200, "Ready", Self.readiness), .json(503, "Not ready; checks says what fails", Self.readiness)]) { _, _ in
                await ready()
            },
        ]
        if let metrics = server.metrics {
            endpoints.append(Endpoint(
                .get, "/metrics", server.publicMetrics ? .open : .requires(.readAudit), group: "Operations",
                summary: "Prometheus metrics (text exposition format)",
                description: "Open unless the server runs with --metrics-auth; then it needs the readAudit permission.",
                responses: [Reply(200, "Every counter, gauge and histogram", content: ("text/plain", .string))]) { _, _ in
                Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                         body: .init(byteBuffer: ByteBuffer(bytes: metrics())))
            })
        }
        return endpoints
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
