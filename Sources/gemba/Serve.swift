import ArgumentParser
import Foundation
import GembaAccess
import GembaCore
import GembaIngest
import GembaServer
import GembaSimulator
import GembaStorage
import Hummingbird
import Logging
import Metrics
import MQTTBroker
import MQTTClient
import MQTTCodec
import NIOCore
import NIOSSL
import Prometheus
import ServiceLifecycle
import Sparkplug

/// `gemba serve`: runs the platform's services in one ServiceGroup until SIGINT/SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Gemba platform: embedded MQTT broker, storage, ingest, HTTP/WebSocket API.")

    @OptionGroup var common: CommonOptions

    @Option(help: "Address the MQTT broker binds (0.0.0.0 for all interfaces). Env: GEMBA_MQTT_HOST.")
    var mqttHost: String?

    @Option(help: "MQTT port (default 1883). Env: GEMBA_MQTT_PORT.")
    var mqttPort: Int?

    @Option(help: "MQTT over TLS port, used with a certificate (default 8883). Env: GEMBA_MQTT_TLS_PORT.")
    var mqttTlsPort: Int?

    @Option(help: "PEM certificate chain for MQTT over TLS. Env: GEMBA_MQTT_TLS_CERT.")
    var mqttTlsCert: String?

    @Option(help: "PEM private key for MQTT over TLS. Env: GEMBA_MQTT_TLS_KEY.")
    var mqttTlsKey: String?

    @Option(help: "Directory for Gemba's data (created if missing; default ./gemba-data). Env: GEMBA_DATA_DIR.")
    var dataDir: String?

    @Option(help: "Maximum MQTT packet size in bytes (default 1048576). Env: GEMBA_MQTT_MAX_PACKET_SIZE.")
    var mqttMaxPacketSize: Int?

    @Option(help: "Maximum concurrent MQTT connections (default 100000). Env: GEMBA_MQTT_MAX_CONNECTIONS.")
    var mqttMaxConnections: Int?

    @Option(help: "Maximum queued QoS 1/2 messages per offline session (default 10000). Env: GEMBA_MQTT_MAX_QUEUED.")
    var mqttMaxQueued: Int?

    @Option(help: "Maximum in-flight QoS 1/2 messages per session (default 256). Env: GEMBA_MQTT_MAX_INFLIGHT.")
    var mqttMaxInflight: Int?

    @Option(help: "Longest keepalive a client may use, seconds; longer or 0 is replaced (v5 Server Keep Alive). Env: GEMBA_MQTT_MAX_KEEPALIVE.")
    var mqttMaxKeepalive: Int?

    @Option(help: "Address the HTTP API binds (default 127.0.0.1). Env: GEMBA_HTTP_HOST.")
    var httpHost: String?

    @Option(help: "HTTP port (default 8080). Env: GEMBA_HTTP_PORT.")
    var httpPort: Int?

    @Option(help: "Subscribe to gemba/v1/# on an external broker too: mqtt://[user:pass@]host[:port]. Env: GEMBA_MQTT_UPSTREAM.")
    var mqttUpstream: String?

    @Option(help: "Commit durability: full (fsync every commit, survives power loss) or normal (survives a crash). Env: GEMBA_DURABILITY.")
    var durability: String?

    @Option(help: "Oldest sample accepted, in days before now (default 30). Env: GEMBA_INGEST_MAX_AGE_DAYS.")
    var ingestMaxAgeDays: Int?

    @Flag(help: "Also run a simulated factory that publishes into the embedded broker.")
    var demo = false

    @Option(help: "Machines in the demo factory (default 12). Env: GEMBA_DEMO_MACHINES.")
    var demoMachines: Int?

    @Option(help: "Hours of simulated history a fresh demo starts with (default 24, 0 for none). Env: GEMBA_DEMO_HISTORY_HOURS.")
    var demoHistoryHours: Int?

    @Flag(help: "Accept MQTT clients without credentials, in the default tenant (always on with --demo).")
    var mqttAllowAnonymous = false

    @Flag(help: "Require credentials (admin role) for /metrics.")
    var metricsAuth = false

    @Option(help: "A browser origin allowed to call the API (CORS); repeatable. Env: GEMBA_CORS_ORIGINS (comma-separated).")
    var corsOrigin: [String] = []

    @Option(help: "Email of the owner created on first start (default admin@gemba.local). Env: GEMBA_ADMIN_EMAIL. Its password comes from GEMBA_ADMIN_PASSWORD or is generated and printed once.")
    var adminEmail: String?

    @Option(help: "PEM certificate chain for HTTPS (the API and WebSocket); with --http-tls-key. Env: GEMBA_HTTP_TLS_CERT.")
    var httpTlsCert: String?

    @Option(help: "PEM private key for HTTPS. Env: GEMBA_HTTP_TLS_KEY.")
    var httpTlsKey: String?

    @Option(help: "Sign-in attempts per minute per client IP (default 10); per account it is half. Env: GEMBA_LOGIN_RATE.")
    var loginRate: Int?

    @Option(help: "API requests per minute per user, key or device (default 6000). Env: GEMBA_API_RATE.")
    var apiRate: Int?

    @Option(help: "File holding the access-token signing key (default: <data-dir>/jwt.key, generated). Env: GEMBA_JWT_KEY_FILE.")
    var jwtKeyFile: String?

    @Option(help: "Sparkplug host id: STATE is published on spBv1.0/STATE/<id> (default gemba). Env: GEMBA_SPARKPLUG_HOST_ID.")
    var sparkplugHostId: String?

    @Option(help: "Where Sparkplug ids land: a 3- or 4-segment path template over {group}, {node}, {device} (default {group}/{node}/{device}). Env: GEMBA_SPARKPLUG_PATH.")
    var sparkplugPath: String?

    @Option(help: "Machine name that holds an edge node's own metrics, in place of {device} (default _node). Env: GEMBA_SPARKPLUG_NODE_MACHINE.")
    var sparkplugNodeMachine: String?

    @Option(help: "How long a Sparkplug seq gap may wait for the missing message before a rebirth is requested, ms (default 2000). Env: GEMBA_SPARKPLUG_REORDER_TIMEOUT.")
    var sparkplugReorderTimeout: Int?

    @Option(help: "Shortest time between two rebirth requests to one edge node, ms (default 5000). Env: GEMBA_SPARKPLUG_REBIRTH_INTERVAL.")
    var sparkplugRebirthInterval: Int?

    @Option(help: "Also be the Sparkplug primary host on an external broker, mqtt://[user:pass@]host[:port]; repeatable for redundant brokers. Env: GEMBA_SPARKPLUG_UPSTREAM (comma-separated).")
    var sparkplugUpstream: [String] = []

    func run() async throws {
        let settings = try common.settings()
        var configuration = try brokerConfiguration(settings)
        let dataDirectory = settings.string("data-dir", flag: dataDir)?.value ?? "gemba-data"
        let httpHost = settings.string("http-host", flag: httpHost)?.value ?? "127.0.0.1"
        let httpPort = try settings.int("http-port", flag: httpPort, default: 8080, range: 0...65535)
        let upstream = try settings.string("mqtt-upstream", flag: mqttUpstream).map { try Self.upstream($0.value, source: $0.source) }
        let durability = try Self.durability(settings.string("durability", flag: durability))
        let demoMachines = try settings.int("demo-machines", flag: demoMachines, default: 12, range: 1...100_000)
        let demoHistory = try settings.int("demo-history-hours", flag: demoHistoryHours, default: 24, range: 0...168)
        let maxAgeDays = try settings.int("ingest-max-age-days", flag: ingestMaxAgeDays, default: 30, range: 1...36_500)
        let validation = SampleValidation(maxAge: Int64(maxAgeDays) * TenantLimits.day)
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("cannot create data directory \(dataDirectory): \(error.localizedDescription)")
        }
        let logger = try common.bootstrapLogging(settings)
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))

        let store: SQLiteStore
        do {
            store = try SQLiteStore(directory: dataDirectory, durability: durability, logger: logger)
        } catch {
            throw ConfigurationError("cannot open the database in \(dataDirectory): \(error)")
        }
        var accessConfiguration = AccessService.Configuration()
        let loginRate = try settings.int("login-rate", flag: loginRate, default: 10, range: 1...100_000)
        accessConfiguration.loginPerIP = .init(perMinute: Double(loginRate), burst: Double(loginRate))
        accessConfiguration.loginPerAccount = .init(perMinute: Double(max(1, loginRate / 2)), burst: Double(max(1, loginRate / 2)))
        let apiRate = try settings.int("api-rate", flag: apiRate, default: 6_000, range: 1...10_000_000)
        accessConfiguration.apiPerPrincipal = .init(perMinute: Double(apiRate), burst: Double(max(1, apiRate / 6)))
        let httpTLS = try Self.serverTLS(cert: settings.string("http-tls-cert", flag: httpTlsCert),
                                         key: settings.string("http-tls-key", flag: httpTlsKey), what: "--http-tls")
        let access = try await AccessSetup.service(dataDirectory: dataDirectory,
                                                   keyFile: settings.string("jwt-key-file", flag: jwtKeyFile)?.value,
                                                   configuration: accessConfiguration, logger: logger)
        try await AccessSetup.bootstrap(access, email: settings.string("admin-email", flag: adminEmail)?.value ?? "admin@gemba.local",
                                        password: ProcessInfo.processInfo.environment["GEMBA_ADMIN_PASSWORD"], demo: demo)
        configuration.authenticator = DeviceAuthenticator(access: access, allowAnonymous: demo || mqttAllowAnonymous)
        let pipeline = IngestPipeline(store: store, logger: logger)
        try await pipeline.loadCatalog()
        let hub = LiveHub()
        pipeline.addObserver(hub)
        let ingest = MQTTIngest(pipeline: pipeline, decoder: JSONRecordDecoder(validation: validation), logger: logger)
        let sparkplug = try sparkplugHost(settings, validation: validation, pipeline: pipeline, logger: logger)
        configuration.authorizer = TenantTopicAuthorizer(sparkplug: sparkplug.configuration.host.mapping)
        configuration.receiver = BrokerReceiver(telemetry: ingest, sparkplug: sparkplug)
        let broker = MQTTBroker(configuration: configuration, logger: logger)
        let sparkplugUpstreams = try sparkplugUpstreamConfigurations(settings)
        var server = ServerContext(
            store: store, pipeline: pipeline, hub: hub, access: access, validation: validation,
            readinessChecks: ["mqtt": { broker.port != nil }],
            metrics: { var buffer: [UInt8] = []; metrics.emit(into: &buffer); return buffer },
            logger: logger)
        server.publicMetrics = !metricsAuth
        server.sparkplug = sparkplug
        let envOrigins = ProcessInfo.processInfo.environment["GEMBA_CORS_ORIGINS"]?.split(separator: ",").map(String.init) ?? []
        server.allowedOrigins = Set(corsOrigin + envOrigins)
        let mqttPort = configuration.port
        let http = try HTTPServer.application(server, host: httpHost, port: httpPort, tls: httpTLS) { port in
            logger.notice("Gemba is running", metadata: [
                "http.url": "\(httpTLS == nil ? "http" : "https")://\(httpHost):\(port)", "mqtt.port": "\(broker.port ?? mqttPort)",
                "storage.path": "\(dataDirectory)",
            ])
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: pipeline),
            .init(service: PeriodicService("retention", every: .seconds(600), logger: logger,
                                           work: Retention(store: store, logger: logger).enforce)),
            .init(service: PeriodicService("storage maintenance", every: .milliseconds(500), logger: logger,
                                           work: store.maintain)),
            .init(service: broker),
            .init(service: http),
        ]
        if let upstream {
            services.append(.init(service: UpstreamSubscriber(configuration: upstream, ingest: ingest, logger: logger)))
        }
        services.append(.init(service: sparkplug))
        services.append(.init(service: EmbeddedSparkplugHost(broker: broker, service: sparkplug)))
        for (index, upstream) in sparkplugUpstreams.enumerated() {
            services.append(.init(service: SparkplugUpstream(configuration: upstream, connection: index + 1, service: sparkplug,
                                                             logger: logger)))
        }
        if let oee = server.oee {
            try await oee.start()
            services.append(.init(service: PeriodicService("oee late data", every: .seconds(2), logger: logger, work: oee.applyLateData)))
        }
        if demo {
            let factory = FactorySimulator(seed: 42, machineCount: demoMachines)
            if let oee = server.oee { try await DemoSetup.configure(oee, factory: factory) }
            var publisher = SimulationPublisher(factory: factory, target: .embedded(broker), interval: .seconds(1), qos: .atLeastOnce,
                                                logger: logger)
            // A fresh demo starts with a simulated day behind it, so every OEE view has shifts to show at once.
            if demoHistory > 0, try await store.machines(tenant: .default).isEmpty {
                publisher.history = (.seconds(3600 * demoHistory), .seconds(15))
            }
            services.append(.init(service: publisher))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            let ports = configuration.tls == nil ? "\(configuration.port)" : "\(configuration.port) or \(configuration.tlsPort)"
            throw ConfigurationError("MQTT port \(ports) or HTTP port \(httpPort) is already in use")
        }
    }

    /// The Sparkplug host service from the `--sparkplug-*` settings.
    func sparkplugHost(_ settings: Settings, validation: SampleValidation, pipeline: IngestPipeline,
                       logger: Logger) throws -> SparkplugHostService {
        var configuration = SparkplugHostService.Configuration()
        configuration.validation = validation
        if let hostID = settings.string("sparkplug-host-id", flag: sparkplugHostId) {
            do {
                _ = try SparkplugTopic(parsing: SparkplugHostState.topic(host: hostID.value))
            } catch {
                throw ConfigurationError("\(hostID.source): \(error.reason)")
            }
            configuration.hostID = hostID.value
        }
        let template = settings.string("sparkplug-path", flag: sparkplugPath)
        let nodeMachine = settings.string("sparkplug-node-machine", flag: sparkplugNodeMachine)
        do {
            configuration.host.mapping = try SparkplugAssetMapping(template: template?.value ?? "{group}/{node}/{device}",
                                                                   nodeMachine: nodeMachine?.value ?? "_node")
        } catch {
            throw ConfigurationError("\(template?.source ?? nodeMachine?.source ?? "--sparkplug-path"): \(error.message)")
        }
        configuration.host.reorderTimeout = Int64(try settings.int(
            "sparkplug-reorder-timeout", flag: sparkplugReorderTimeout, default: 2_000, range: 0...600_000))
        configuration.host.rebirthInterval = Int64(try settings.int(
            "sparkplug-rebirth-interval", flag: sparkplugRebirthInterval, default: 5_000, range: 0...3_600_000))
        return SparkplugHostService(configuration: configuration, pipeline: pipeline, logger: logger)
    }

    /// The brokers of `--sparkplug-upstream` (repeatable) and GEMBA_SPARKPLUG_UPSTREAM.
    func sparkplugUpstreamConfigurations(_ settings: Settings) throws -> [MQTTClientConfiguration] {
        let fromEnvironment = ProcessInfo.processInfo.environment["GEMBA_SPARKPLUG_UPSTREAM"]?
            .split(separator: ",").map { (String($0), "GEMBA_SPARKPLUG_UPSTREAM") } ?? []
        return try (sparkplugUpstream.map { ($0, "--sparkplug-upstream") } + fromEnvironment).map {
            try Self.upstream($0.0, source: $0.1)
        }
    }

    static func durability(_ raw: (value: String, source: String)?) throws -> SQLiteStore.Durability {
        guard let raw else { return .full }
        guard let value = SQLiteStore.Durability(rawValue: raw.value) else {
            throw ConfigurationError("\(raw.source) must be full or normal, got '\(raw.value)'")
        }
        return value
    }

    /// Parses `mqtt://[user:pass@]host[:port]` (or `mqtts://`, port 8883 by default).
    static func upstream(_ text: String, source: String) throws -> MQTTClientConfiguration {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["mqtt", "mqtts", "tcp", "ssl"].contains(scheme),
              let host = url.host, !host.isEmpty
        else { throw ConfigurationError("\(source) must look like mqtt://[user:pass@]host[:port], got '\(text)'") }
        let secure = scheme == "mqtts" || scheme == "ssl"
        var configuration = MQTTClientConfiguration(host: host, port: url.port ?? (secure ? 8883 : 1883))
        if secure { configuration.tls = TLSConfiguration.makeClientConfiguration() }
        configuration.username = url.user
        configuration.password = url.password.map { Array($0.utf8) }
        return configuration
    }

    func brokerConfiguration(_ settings: Settings) throws -> BrokerConfiguration {
        var configuration = BrokerConfiguration()
        configuration.host = settings.string("mqtt-host", flag: mqttHost)?.value ?? "127.0.0.1"
        configuration.port = try settings.int("mqtt-port", flag: mqttPort, default: 1883, range: 0...65535)
        configuration.tlsPort = try settings.int("mqtt-tls-port", flag: mqttTlsPort, default: 8883, range: 0...65535)
        configuration.limits.maxPacketSize = try settings.int(
            "mqtt-max-packet-size", flag: mqttMaxPacketSize, default: 1 << 20, range: 64...Packet.maximumSize)
        configuration.limits.maxConnections = try settings.int(
            "mqtt-max-connections", flag: mqttMaxConnections, default: 100_000, range: 1...10_000_000)
        configuration.limits.maxQueuedMessagesPerSession = try settings.int(
            "mqtt-max-queued", flag: mqttMaxQueued, default: 10_000, range: 0...10_000_000)
        configuration.limits.maxInflightPerSession = try settings.int(
            "mqtt-max-inflight", flag: mqttMaxInflight, default: 256, range: 1...65_535)
        let maxKeepAlive = try settings.int("mqtt-max-keepalive", flag: mqttMaxKeepalive, default: 0, range: 0...65535)
        configuration.limits.maxKeepAlive = maxKeepAlive == 0 ? nil : UInt16(maxKeepAlive)
        configuration.tls = try Self.serverTLS(cert: settings.string("mqtt-tls-cert", flag: mqttTlsCert),
                                               key: settings.string("mqtt-tls-key", flag: mqttTlsKey), what: "--mqtt-tls")
        return configuration
    }

    /// A server TLS configuration from a PEM certificate chain and key, both or neither.
    static func serverTLS(cert: (value: String, source: String)?, key: (value: String, source: String)?,
                          what: String) throws -> TLSConfiguration? {
        switch (cert, key) {
        case (nil, nil): return nil
        case (let cert?, let key?):
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(cert.value).map { NIOSSLCertificateSource.certificate($0) }
                let privateKey = try NIOSSLPrivateKey(file: key.value, format: .pem)
                return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
            } catch {
                throw ConfigurationError("cannot load TLS certificate \(cert.value) / key \(key.value): \(error)")
            }
        default:
            throw ConfigurationError("\(what)-cert and \(what)-key must be given together")
        }
    }
}
