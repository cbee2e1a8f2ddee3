import ArgumentParser
import Foundation
import GembaServer
import Hummingbird
import Logging
import NIOSSL
import Prometheus
import ServiceLifecycle

/// The HTTP/WebSocket API and the dashboard (HTTPS with a certificate), serving every other
/// capability's endpoints; health, readiness and metrics are its own.
struct HTTPCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: "Address the HTTP API binds (default 127.0.0.1). Env: GEMBA_HTTP_HOST.")
        var httpHost: String?

        @Option(help: "HTTP port (default 8080). Env: GEMBA_HTTP_PORT.")
        var httpPort: Int?

        @Option(help: "PEM certificate chain for HTTPS (the API and WebSocket); with --http-tls-key. Env: GEMBA_HTTP_TLS_CERT.")
        var httpTlsCert: String?

        @Option(help: "PEM private key for HTTPS. Env: GEMBA_HTTP_TLS_KEY.")
        var httpTlsKey: String?

        @Flag(help: "Require credentials (admin role) for /metrics.")
        var metricsAuth = false

        @Option(help: "A browser origin allowed to call the API (CORS); repeatable. Env: GEMBA_CORS_ORIGINS (comma-separated).")
        var corsOrigin: [String] = []
    }

    let port: Int
    let services: [any Service]

    /// The validated settings.
    struct Resolved {
        var host: String
        var port: Int
        var tls: TLSConfiguration?
        var publicMetrics: Bool
        var origins: Set<String>
    }

    static func resolve(_ options: Options, _ settings: Settings) throws -> Resolved {
        let fromEnvironment = ProcessInfo.processInfo.environment["GEMBA_CORS_ORIGINS"]?.split(separator: ",").map(String.init) ?? []
        return Resolved(host: settings.string("http-host", flag: options.httpHost)?.value ?? "127.0.0.1",
                        port: try settings.int("http-port", flag: options.httpPort, default: 8080, range: 0...65535),
                        tls: try ServerTLS.load(cert: settings.string("http-tls-cert", flag: options.httpTlsCert),
                                                key: settings.string("http-tls-key", flag: options.httpTlsKey), what: "--http-tls"),
                        publicMetrics: !options.metricsAuth, origins: Set(options.corsOrigin + fromEnvironment))
    }

    /// The application serving `capabilities`' endpoints, with the context they configure.
    init(_ resolved: Resolved, capabilities: [any Capability], telemetry: TelemetryCapability, access: AccessCapability,
         metrics: PrometheusCollectorRegistry, started: @escaping @Sendable (String) -> Void, logger: Logger) throws {
        let (host, tls) = (resolved.host, resolved.tls)
        port = resolved.port
        var server = ServerContext(
            store: telemetry.store, pipeline: telemetry.pipeline, hub: telemetry.hub, access: access.service,
            validation: telemetry.validation,
            metrics: { var buffer: [UInt8] = []; metrics.emit(into: &buffer); return buffer }, logger: logger)
        server.publicMetrics = resolved.publicMetrics
        server.allowedOrigins = resolved.origins
        for capability in capabilities { capability.configure(&server) }
        let scheme = tls == nil ? "http" : "https"
        services = [try HTTPServer.application(server, groups: capabilities.flatMap(\.endpoints), host: host, port: port, tls: tls) { port in
            started("\(scheme)://\(host):\(port)")
        }]
    }
}
