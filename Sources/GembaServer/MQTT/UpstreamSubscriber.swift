public import GembaCore
public import Logging
public import MQTTClient
internal import MQTTCodec
public import ServiceLifecycle
internal import Synchronization

/// Subscribes to `gemba/v1/#` on an external broker and feeds what arrives into the pipeline.
///
/// A QoS 1/2 message is acknowledged to the broker only after the commit that holds it (manual
/// acknowledgement, in arrival order), and the session persists: a message this node received
/// but had not committed when it stopped or died is sent again by the broker. A message that
/// could not be stored is not acknowledged; the connection is dropped so that the broker resends
/// it. With a share group, several Gemba nodes take the stream together (MQTT 5 shared
/// subscription `$share/<group>/gemba/v1/#`), each message going to one of them.
///
/// The client reconnects on its own; while the pipeline is saturated the client stops reading, and
/// TCP pushes back on the broker.
public final class UpstreamSubscriber: Service, Sendable {
    private let client: MQTTClient
    private let filter: String
    private let logger: Logger
    private let description: String

    /// `shareGroup`: subscribe as a member of this MQTT 5 share group. `tenant`: where the
    /// messages' samples belong.
    public init(configuration: MQTTClientConfiguration, ingest: MQTTIngest, tenant: TenantID = .default,
                shareGroup: String? = nil, logger: Logger) {
        var configuration = configuration
        if configuration.clientID.isEmpty { configuration.clientID = "gemba-ingest" }
        configuration.cleanStart = false
        configuration.connectProperties.sessionExpiryInterval = 3600
        configuration.manualAcknowledgement = true
        let intake = Intake(ingest: ingest, tenant: tenant, logger: logger)
        let client = MQTTClient(configuration: configuration, logger: logger, onMessage: intake.take)
        intake.client.withLock { $0 = client }
        self.client = client
        self.filter = shareGroup.map { "$share/\($0)/gemba/v1/#" } ?? "gemba/v1/#"
        self.logger = logger
        self.description = "\(configuration.host):\(configuration.port)"
    }

    /// Connects (retrying while the broker cannot be reached) and subscribes, then serves until
    /// graceful shutdown (or cancellation) and disconnects. A broker that refuses the connection
    /// (credentials, client id) stops the node: that is a configuration error.
    public func run() async throws {
        // Messages are taken from the first moment (a resumed session's backlog can arrive before
        // the SUBACK), on the client's event loop.
        guard try await client.connectPatiently(to: description, logger: logger) else { return }
        _ = try await client.subscribe(filter, qos: .atLeastOnce)
        logger.info("subscribed to upstream broker", metadata: ["mqtt.upstream": "\(description)", "mqtt.filter": "\(filter)"])
        try? await gracefulShutdown()
        await client.disconnect()
    }
}

/// Hands each message to ingest on the client's event loop, acknowledges it after its commit, and
/// holds the client's reading while the pipeline is saturated.
private final class Intake: Sendable {
    let ingest: MQTTIngest
    let tenant: TenantID
    let logger: Logger
    /// The client the messages come from; set right after it is made, before it connects.
    let client = Mutex<MQTTClient?>(nil)
    /// Whether reading is held until the pipeline drains (one hold, however many messages the
    /// read in progress still hands over).
    private let holding = Atomic<Bool>(false)

    init(ingest: MQTTIngest, tenant: TenantID, logger: Logger) {
        self.ingest = ingest
        self.tenant = tenant
        self.logger = logger
    }

    @Sendable func take(_ message: InboundMessage) {
        let client = self.client.withLock { $0 }
        ingest.handle(topic: message.topic, payload: message.payload, tenant: tenant) { [logger] result in
            switch result {
            case .success:
                message.acknowledge()
            case .failure(let error):
                logger.warning("upstream message not stored; reconnecting so that the broker sends it again",
                               metadata: ["mqtt.topic": "\(message.topic)", "error": "\(error)"])
                Task { await client?.dropConnection() }
            }
        }
        if ingest.isSaturated, let client, holding.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            client.holdReading()
            ingest.whenReady { [self] in
                holding.store(false, ordering: .releasing)
                client.resumeReading()
            }
        }
    }
}
