internal import GembaCore
internal import GembaIngest
public import Logging
public import MQTTBroker
public import MQTTClient
internal import MQTTCodec
internal import NIOCore
public import ServiceLifecycle
internal import Sparkplug

/// The embedded broker's publish receiver: `spBv1.0/` messages go to the Sparkplug host (in the
/// publisher's tenant), everything else to the JSON telemetry ingest.
public struct BrokerReceiver: PublishReceiver {
    let telemetry: MQTTIngest
    let sparkplug: SparkplugHostService

    public init(telemetry: MQTTIngest, sparkplug: SparkplugHostService) {
        self.telemetry = telemetry
        self.sparkplug = sparkplug
    }

    public func receive(_ message: ReceivedMessage, done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let topic = message.message.topic
        guard topic.hasPrefix("spBv1.0/") else { return telemetry.receive(message, done: done) }
        sparkplug.handle(topic: topic, payload: message.message.payload, tenant: message.principal.tenant, connection: 0,
                         done: done)
    }

    /// Gemba's own topics; anything else (a unified namespace) is only routed.
    public func wants(topic: String) -> Bool {
        topic.hasPrefix(JSONRecordDecoder.topicPrefix) || topic.hasPrefix("spBv1.0/")
    }

    public var isSaturated: Bool { telemetry.isSaturated }

    public func whenReady(_ resume: @escaping @Sendable () -> Void) { telemetry.whenReady(resume) }
}

/// The host on the embedded broker (connection 0): STATE `online` while Gemba runs, `offline` with
/// the same timestamp when it stops. In process, so no will is needed: the broker stops with it.
public struct EmbeddedSparkplugHost: Service {
    let broker: MQTTBroker
    let service: SparkplugHostService

    public init(broker: MQTTBroker, service: SparkplugHostService) {
        self.broker = broker
        self.service = service
    }

    public func run() async throws {
        await service.attach(EmbeddedBrokerLink(broker: broker), connection: 0)
        try? await gracefulShutdown()
        await service.retire(connection: 0)
    }
}

/// Gemba as the primary host on an external broker: connects with its STATE `offline` as the will,
/// subscribes to `spBv1.0/#` (and QoS 1 to its own STATE topic) before publishing STATE `online`
/// with the will's timestamp, and starts over with a new timestamp after a lost connection.
/// Several of these run side by side for redundant brokers, each with its own STATE.
///
/// In a cluster (several nodes on one database) the nodes share one host id, and only the node
/// running the singleton jobs (`mayRun`) is the host: the others stay off the broker. When the
/// leader dies, the broker publishes its will (STATE `offline` with its birth timestamp); the node
/// that takes over connects with a later timestamp and publishes STATE `online`. A node that loses
/// the lead while alive disconnects normally, so no `offline` of its older birth can overwrite
/// the new leader's retained `online`.
public final class SparkplugUpstream: Service, Sendable {
    private let configuration: MQTTClientConfiguration
    private let service: SparkplugHostService
    private let connection: Int
    private let tenant: TenantID
    private let mayRun: @Sendable () -> Bool
    private let logger: Logger

    /// `mayRun`: whether this node may be the host now (checked every second).
    public init(configuration: MQTTClientConfiguration, connection: Int, service: SparkplugHostService,
                mayRun: @escaping @Sendable () -> Bool = { true }, logger: Logger) {
        var configuration = configuration
        if configuration.clientID.isEmpty { configuration.clientID = "gemba-sparkplug-\(service.configuration.hostID)-\(connection)" }
        configuration.reconnect = nil  // each connection needs its own STATE timestamp: this service reconnects
        configuration.cleanStart = true
        self.configuration = configuration
        self.service = service
        self.connection = connection
        self.tenant = .default
        self.mayRun = mayRun
        var logger = logger
        logger[metadataKey: "mqtt.upstream"] = "\(configuration.host):\(configuration.port)"
        self.logger = logger
    }

    public func run() async throws {
        var attempt = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            guard mayRun() else {
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            let birth = UInt64(Timestamp.now().millisecondsSinceEpoch)
            var configuration = self.configuration
            let offline = SparkplugHostState(online: false, timestamp: birth)
            configuration.will = Will(topic: service.stateTopic, payload: ByteBuffer(bytes: offline.json), qos: .atLeastOnce,
                                      retain: true)
            let client = MQTTClient(configuration: configuration, logger: logger)
            do {
                try await client.connect()
                _ = try await client.subscribe([
                    Subscription(filter: "spBv1.0/#", options: SubscriptionOptions(qos: .atMostOnce)),
                    Subscription(filter: service.stateTopic, options: SubscriptionOptions(qos: .atLeastOnce)),
                ])
                await service.attach(ClientLink(client: client), connection: connection, birth: birth)
                logger.info("Sparkplug host online on upstream broker", metadata: ["sparkplug.state_topic": "\(service.stateTopic)"])
                attempt = 0
                await withGracefulShutdownHandler {
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask { [mayRun, logger] in
                            // The lead moved: leave without STATE offline (the will is not sent on a normal disconnect).
                            while !Task.isCancelled, mayRun() { try? await Task.sleep(for: .seconds(1)) }
                            guard !Task.isCancelled else { return }
                            logger.notice("Sparkplug host leaves the upstream broker: another node leads")
                            await client.disconnect()
                        }
                        for await publish in client.messages {
                            service.handle(topic: publish.topic, payload: publish.payload, tenant: tenant, connection: connection) { _ in }
                        }
                        group.cancelAll()
                    }
                } onGracefulShutdown: { [service, connection] in
                    Task {
                        await service.retire(connection: connection)
                        await client.disconnect()
                    }
                }
                service.detach(connection: connection)
            } catch {
                logger.warning("Sparkplug upstream connection failed", metadata: ["error": "\(error)"])
            }
            attempt += 1
            let delay = ReconnectPolicy().delay(attempt: attempt)
            try? await Task.sleep(for: .nanoseconds(delay.nanoseconds))
        }
    }
}

/// Publishing through the embedded broker, in process.
struct EmbeddedBrokerLink: SparkplugBrokerLink {
    let broker: MQTTBroker

    func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws {
        try await broker.publish(topic: topic, payload: ByteBuffer(bytes: payload), qos: qos == 0 ? .atMostOnce : .atLeastOnce,
                                 retain: retain)
    }
}

/// Publishing on an upstream connection.
struct ClientLink: SparkplugBrokerLink {
    let client: MQTTClient

    func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws {
        try await client.publish(topic, payload: ByteBuffer(bytes: payload), qos: qos == 0 ? .atMostOnce : .atLeastOnce,
                                 retain: retain)
    }
}
