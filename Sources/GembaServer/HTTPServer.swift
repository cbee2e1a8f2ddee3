public import Hummingbird
internal import HummingbirdCore
internal import HummingbirdTLS
internal import HummingbirdWebSocket
public import NIOSSL
internal import GembaStorage
internal import Logging

/// Builds Gemba's HTTP application: every route on one router, WebSocket upgrades included.
public enum HTTPServer {
    /// Every endpoint of a server with every capability, each declared once; the router, the
    /// access check and the OpenAPI document all come from this list.
    public static func endpoints(_ server: ServerContext) -> [Endpoint] {
        endpoints(server, groups: EndpointGroups.all)
    }

    /// The endpoints of a server with the capabilities' groups: health, readiness and metrics
    /// first, the dashboard and the API's own reference last.
    public static func endpoints(_ server: ServerContext, groups: [EndpointGroup]) -> [Endpoint] {
        var endpoints = HealthRoutes(server: server).endpoints
        for group in groups { endpoints += group(server) }
        endpoints += DashboardRoutes().endpoints
        endpoints += ReferenceRoutes.endpoints(documenting: endpoints)
        return endpoints
    }

    /// The router with every endpoint; also what the tests drive.
    public static func router(_ server: ServerContext) -> Router<GembaRequestContext> {
        router(server, endpoints: endpoints(server))
    }

    static func router(_ server: ServerContext, endpoints: [Endpoint]) -> Router<GembaRequestContext> {
        let router = Router(context: GembaRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware(allowedOrigins: server.allowedOrigins, tls: server.tls))
        router.add(middleware: ErrorLoggingMiddleware(logger: server.logger))
        router.add(middleware: AccessMiddleware(access: server.access, rules: AccessRules(endpoints), logger: server.logger))
        router.add(middleware: AuditMiddleware(access: server.access))
        for endpoint in endpoints { endpoint.register(on: router) }
        return router
    }

    /// The application, a `Service` to run in the ServiceGroup, serving the groups' endpoints;
    /// HTTPS (and WSS) when `tls` is given.
    public static func application(_ server: ServerContext, groups: [EndpointGroup] = EndpointGroups.all, host: String, port: Int,
                                   tls: TLSConfiguration? = nil,
                                   onServerRunning: (@Sendable (Int) async -> Void)? = nil) throws -> some ApplicationProtocol {
        var server = server
        server.tls = tls != nil
        let router = router(server, endpoints: endpoints(server, groups: groups))
        let webSocketResponder = router.buildResponder()
        let plain = HTTPServerBuilder { responder in
            ParseErrorGuardedChannel(base: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder,
                                                                        configuration: .init()))
        }
        return Application(
            router: router,
            server: try tls.map { try .tls(plain, tlsConfiguration: $0) } ?? plain,
            configuration: .init(address: .hostname(host, port: port), serverName: "Gemba"),
            onServerRunning: { channel in await onServerRunning?(channel.localAddress?.port ?? port) },
            logger: server.logger
        )
    }
}

/// A capability's endpoints, declared against the server's shared context.
public typealias EndpointGroup = @Sendable (ServerContext) -> [Endpoint]

/// The endpoint groups capabilities serve.
public enum EndpointGroups {
    /// Ingest (JSON batches, line protocol), catalogue, latest, history, CSV and the live stream.
    public static let telemetry: EndpointGroup = { server in
        IngestRoutes(server: server, idempotency: IdempotencyCache()).endpoints + QueryRoutes(server: server).endpoints
            + LiveRoute(server: server).endpoints
    }
    /// Sign-in and tokens, members, invitations, keys, devices, tenant limits, the audit log and the broker's topic rules.
    public static let access: EndpointGroup = { server in
        AuthRoutes(server: server).endpoints + AdminRoutes(server: server).endpoints + AuditRoutes(access: server.access).endpoints
            + TopicRulesRoutes(server: server).endpoints
    }
    /// Writes to machines through Sparkplug edge nodes.
    public static let commands: EndpointGroup = { server in CommandRoutes(server: server).endpoints }
    /// KPIs, stops, reasons, calendars, production settings, orders and quality entries, and the live KPI stream.
    public static let oee: EndpointGroup = { server in
        OEERoutes(server: server).endpoints + QualityRoutes(server: server).endpoints + LiveOEERoute(server: server).endpoints
    }
    /// Sites, areas, lines and machines as managed objects, and tag details.
    public static let assets: EndpointGroup = { server in AssetRoutes(server: server).endpoints }
    /// Rules, alarms, their live list, notification channels, policies, rosters and people.
    public static let alarms: EndpointGroup = { server in
        AlarmRoutes(server: server).endpoints + LiveAlarmsRoute(server: server).endpoints + NotificationRoutes(server: server).endpoints
            + NotificationPeopleRoutes(server: server).endpoints
    }
    /// Maintenance work orders, the decision log, preventive plans, reliability, and the anomaly
    /// detectors with their events and labels.
    public static let maintenance: EndpointGroup = { server in
        WorkOrderRoutes(server: server).endpoints + PlanRoutes(server: server).endpoints + DetectorRoutes(server: server).endpoints
            + DetectorRegistryRoutes(server: server).endpoints + ForecastRoutes(server: server).endpoints
    }

    /// Every group, in the order the reference lists them.
    public static let all: [EndpointGroup] = [telemetry, assets, commands, oee, alarms, maintenance, access]
}

/// Turns unexpected errors into problem+json 500s with a log line; HTTP errors pass through.
struct ErrorLoggingMiddleware: RouterMiddleware {
    typealias Context = GembaRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as Problem {
            throw error
        } catch let error as HTTPError {
            throw Problem(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers)
        } catch let error as any HTTPResponseError {
            throw error
        } catch let error as any StorageAvailabilityError where error.storageUnavailable {
            logger.warning("request failed: storage unavailable", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            throw Problem(.serviceUnavailable, "the storage cannot be reached now; retry shortly", headers: [.retryAfter: "1"])
        } catch {
            logger.error("request failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            throw Problem(.internalServerError, "internal error; see the server log")
        }
    }
}
