import Foundation
import ArgumentParser
import GembaCore
import GembaServer
import Logging
import MQTTBroker
import MQTTClient
import MQTTCodec
import NIOPosix
import GembaStorage
import ServiceLifecycle

/// The embedded MQTT broker (3.1.1 and 5.0, plain and TLS): devices authenticate with their
/// credentials and publish inside their tenant; JSON topics go to the pipeline and Sparkplug
/// topics to the host. Optionally also subscribes to `gemba/v1/#` on an upstream broker.
struct MQTTCapability: Capability {
    struct Options: ParsableArguments {
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

        @Option(help: "Subscribe to gemba/v1/# on an external broker too: mqtt://[user:pass@]host[:port]. Env: GEMBA_MQTT_UPSTREAM.")
        var mqttUpstream: String?

        @Option(help: "Take the upstream stream together with other Gemba nodes: subscribe as a member of this MQTT 5 share group ($share/<group>/gemba/v1/#), so each message is ingested by one node. Env: GEMBA_MQTT_UPSTREAM_GROUP.")
        var mqttUpstreamGroup: String?

        @Option(help: "Client id on the upstream broker (default gemba-ingest-<host>-<hash of the data directory>: stable across restarts, distinct per node). Env: GEMBA_MQTT_UPSTREAM_CLIENT_ID.")
        var mqttUpstreamClientId: String?

        @Option(help: "Tenant the upstream broker's samples belong to (default: default). Env: GEMBA_MQTT_UPSTREAM_TENANT.")
        var mqttUpstreamTenant: String?

        @Option(help: "Topic rules beyond the tenant rules, one per line: allow|deny publish|subscribe|pubsub <who> <pattern> (see the README); reloaded when the file changes. Env: GEMBA_MQTT_ACL_FILE.")
        var mqttAclFile: String?

        @Flag(help: "Accept MQTT clients without credentials, in the default tenant (always on with --demo).")
        var mqttAllowAnonymous = false

        @Option(help: "The longest the broker waits, in microseconds, before it polls again while many connections each send now and then, so their messages are handled in batches (less CPU per message, up to this much more latency); 0 turns it off (default 4000). Env: GEMBA_MQTT_READ_COALESCING_US.")
        var mqttReadCoalescingUs: Int?

        @Flag(help: "Keep retained messages and persistent sessions in memory only (by default they are saved in the data directory, mqtt/mqtt.sqlite, and survive a restart).")
        var mqttNoPersistence = false

        @Flag(help: "Acknowledge a QoS 1/2 message that a restart must find (retained, or for a persistent session) only after it is saved: nothing acknowledged is lost to a kill -9, at a CPU cost with persistent subscribers (see the README). Env: GEMBA_MQTT_DURABLE_ACKS=1.")
        var mqttDurableAcks = false
    }

    let broker: MQTTBroker
    let configuration: BrokerConfiguration
    let upstream: UpstreamSubscriber?
    /// With a share group: live samples between the nodes, through the same broker.
    let liveRelay: LiveRelay?
    let sparkplug: SparkplugHostService
    /// The topic rules from the file and the API.
    let topicRules: BrokerTopicRules

    /// The validated settings.
    struct Resolved {
        var configuration: BrokerConfiguration
        var upstream: MQTTClientConfiguration?
        var upstreamGroup: String?
        var upstreamTenant: TenantID
        var allowAnonymous: Bool
        var aclFile: String?
        var persistence: Bool
    }

    static func resolve(_ options: Options, _ settings: Settings, dataDirectory: String) throws -> Resolved {
        var upstream = try settings.string("mqtt-upstream", flag: options.mqttUpstream).map { try BrokerURL.parse($0.value, source: $0.source) }
        let group = settings.string("mqtt-upstream-group", flag: options.mqttUpstreamGroup)
        if let group, group.value.isEmpty || group.value.contains(where: { "/+#".contains($0) }) {
            throw ConfigurationError("\(group.source) must be a name without /, + or #, got '\(group.value)'")
        }
        let tenant = settings.string("mqtt-upstream-tenant", flag: options.mqttUpstreamTenant)
        let upstreamTenant = try tenant.map { raw in
            guard let id = TenantID(raw.value) else { throw ConfigurationError("\(raw.source) must be a tenant id (a-z, 0-9, - and _), got '\(raw.value)'") }
            return id
        } ?? .default
        if upstream != nil {
            upstream?.clientID = settings.string("mqtt-upstream-client-id", flag: options.mqttUpstreamClientId)?.value
                ?? UpstreamClientID.make(dataDirectory: dataDirectory)
            if group != nil { upstream?.version = .v5 }
        }
        return Resolved(configuration: try configuration(options, settings), upstream: upstream, upstreamGroup: group?.value,
                 upstreamTenant: upstreamTenant,
                 allowAnonymous: options.mqttAllowAnonymous,
                 aclFile: settings.string("mqtt-acl-file", flag: options.mqttAclFile)?.value,
                 persistence: !options.mqttNoPersistence)
    }

    init(_ resolved: Resolved, telemetry: TelemetryCapability, access: AccessCapability, sparkplug: SparkplugCapability, demo: Bool,
         logger: Logger) async throws {
        do {
            topicRules = try await BrokerTopicRules(filePath: resolved.aclFile, store: telemetry.store,
                                                    logger: logger)
        } catch let error as TopicACLError {
            throw ConfigurationError("--mqtt-acl-file: \(error)")
        }
        var configuration = resolved.configuration
        if resolved.persistence {
            configuration.persistence = try SQLiteBrokerStore(directory: (telemetry.dataDirectory as NSString).appendingPathComponent("mqtt"),
                                                              logger: logger)
        }
        configuration.authenticator = DeviceAuthenticator(access: access.service, allowAnonymous: demo || resolved.allowAnonymous)
        configuration.authorizer = BrokerAuthorizer(tenantRules: TenantTopicRules(sparkplug: sparkplug.host.configuration.host.mapping),
                                                    rules: topicRules)
        configuration.receiver = BrokerReceiver(telemetry: telemetry.mqttIngest, sparkplug: sparkplug.host)
        self.configuration = configuration
        broker = MQTTBroker(configuration: configuration, logger: logger)
        upstream = resolved.upstream.map {
            UpstreamSubscriber(configuration: $0, ingest: telemetry.mqttIngest, tenant: resolved.upstreamTenant,
                               shareGroup: resolved.upstreamGroup, logger: logger)
        }
        liveRelay = resolved.upstream.flatMap { upstream in
            resolved.upstreamGroup.map { LiveRelay(configuration: upstream, group: $0, hub: telemetry.hub, logger: logger) }
        }
        self.sparkplug = sparkplug.host
        topicRules.attach(broker)
    }

    var services: [any Service] {
        [broker, EmbeddedSparkplugHost(broker: broker, service: sparkplug)] + (upstream.map { [$0] } ?? []) + (liveRelay.map { [$0] } ?? [])
            + (topicRules.file == nil ? [] : [TopicRulesWatcher(rules: topicRules)])
    }

    func configure(_ server: inout ServerContext) {
        server.topicRules = topicRules
        let broker = broker
        server.readinessChecks["mqtt"] = { broker.port != nil }
    }

    /// The ports the broker binds, for a message when one is taken.
    var ports: String { configuration.tls == nil ? "\(configuration.port)" : "\(configuration.port) or \(configuration.tlsPort)" }

    static func configuration(_ options: Options, _ settings: Settings) throws -> BrokerConfiguration {
        var configuration = BrokerConfiguration()
        configuration.host = settings.string("mqtt-host", flag: options.mqttHost)?.value ?? "127.0.0.1"
        configuration.port = try settings.int("mqtt-port", flag: options.mqttPort, default: 1883, range: 0...65535)
        configuration.tlsPort = try settings.int("mqtt-tls-port", flag: options.mqttTlsPort, default: 8883, range: 0...65535)
        configuration.limits.maxPacketSize = try settings.int(
            "mqtt-max-packet-size", flag: options.mqttMaxPacketSize, default: 1 << 20, range: 64...Packet.maximumSize)
        configuration.limits.maxConnections = try settings.int(
            "mqtt-max-connections", flag: options.mqttMaxConnections, default: 100_000, range: 1...10_000_000)
        configuration.limits.maxQueuedMessagesPerSession = try settings.int(
            "mqtt-max-queued", flag: options.mqttMaxQueued, default: 10_000, range: 0...10_000_000)
        configuration.limits.maxInflightPerSession = try settings.int(
            "mqtt-max-inflight", flag: options.mqttMaxInflight, default: 256, range: 1...65_535)
        configuration.durableAcknowledgements = options.mqttDurableAcks
            || ["1", "true", "yes"].contains(settings.string("mqtt-durable-acks", flag: nil)?.value.lowercased() ?? "")
        configuration.readCoalescing = .microseconds(Int64(try settings.int(
            "mqtt-read-coalescing-us", flag: options.mqttReadCoalescingUs, default: 4000, range: 0...10_000)))
        let maxKeepAlive = try settings.int("mqtt-max-keepalive", flag: options.mqttMaxKeepalive, default: 0, range: 0...65535)
        configuration.limits.maxKeepAlive = maxKeepAlive == 0 ? nil : UInt16(maxKeepAlive)
        configuration.tls = try ServerTLS.load(cert: settings.string("mqtt-tls-cert", flag: options.mqttTlsCert),
                                               key: settings.string("mqtt-tls-key", flag: options.mqttTlsKey), what: "--mqtt-tls")
        return configuration
    }
}

/// The upstream client id a node uses unless told: its host name and a hash of its data
/// directory's absolute path, so that it is the same after a restart (the broker keeps its
/// session) and differs between nodes, even on one machine.
enum UpstreamClientID {
    static func make(dataDirectory: String, prefix: String = "gemba-ingest", host: String = ProcessInfo.processInfo.hostName) -> String {
        let path = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325   // FNV-1a, stable across runs (unlike Hasher)
        for byte in path.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let safeHost = String(host.prefix(32).map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "-" })
        return "\(prefix)-\(safeHost)-\(String(hash % 0xFFFF_FFFF, radix: 16))"
    }
}
