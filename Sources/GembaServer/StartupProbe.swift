internal import Hummingbird
internal import HummingbirdCore
internal import HummingbirdTLS
public import Logging
public import NIOSSL
internal import NIOCore
internal import ServiceLifecycle

/// What the HTTP port answers while the node is still starting (waiting for its PostgreSQL
/// database, migrating): `/health` 200, `/ready` 503 naming the check that fails, and every
/// other path 503 with `Retry-After`, so that load balancers and orchestrators see a node that
/// lives but must not get traffic yet. Stopped, it frees the port for the real server.
public final class StartupProbe: Sendable {
    private let group: ServiceGroup
    private let running: Task<Void, Never>

    /// Starts answering on `host:port` (HTTPS when `tls` is given); `waitingFor` names the failing check.
    public init(host: String, port: Int, tls: TLSConfiguration?, waitingFor check: String, logger: Logger) throws {
        let plain = HTTPServerBuilder.http1()
        let application = Application(
            responder: StartingResponder(check: check),
            server: try tls.map { try .tls(plain, tlsConfiguration: $0) } ?? plain,
            configuration: .init(address: .hostname(host, port: port), serverName: "Gemba"),
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        self.group = group
        running = Task {
            do {
                try await group.run()
            } catch {
                logger.warning("startup probe stopped", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Stops answering and returns once the port is free.
    public func stop() async {
        await group.triggerGracefulShutdown()
        await running.value
    }
}

/// The answers of a node that is starting.
struct StartingResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let check: String

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        switch request.uri.path {
        case "/health":
            return HealthRoutes.json(.ok, #"{"status":"ok"}"#)
        case "/ready":
            return HealthRoutes.json(.serviceUnavailable, #"{"status":"not ready","checks":{"\#(check)":"failing"}}"#)
        default:
            return Response(
                status: .serviceUnavailable, headers: [.contentType: "application/problem+json", .retryAfter: "5"],
                body: .init(byteBuffer: ByteBuffer(string: #"{"title":"Service Unavailable","status":503,"detail":"Gemba is starting"}"#)))
        }
    }
}
