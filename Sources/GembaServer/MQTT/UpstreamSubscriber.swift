public import GembaCore
public import Logging
public import MQTTClient
internal import MQTTCodec
public import ServiceLifecycle

/// Subscribes to `gemba/v1/#` on an external broker and feeds what arrives into the pipeline.
///
/// A QoS 1/2 message is acknowledged to the broker only after the commit that holds it (manual
/// acknowledgement, in arrival order), and the session persists: a message this node received
/// but had not committed when it stopped or died is sent again by the broker. A message that
/// could not be stored is not acknowledged; the connection is dropped so that the broker resends
/// it. With a share group, several Gemba nodes take the stream together (MQTT 5 shared
/// subscription `$share/<group>/gemba/v1/#`), each message going to one of them.
///
/// The client reconnects on its own; while the pipeline is saturated this service stops taking
/// messages from the client, whose bounded buffer then pushes back on the broker.
public final class UpstreamSubscriber: Service, Sendable {
    private let client: MQTTClient
    private let ingest: MQTTIngest
    private let tenant: TenantID
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
        self.client = MQTTClient(configuration: configuration, logger: logger)
        self.ingest = ingest
        self.tenant = tenant
        self.filter = shareGroup.map { "$share/\($0)/gemba/v1/#" } ?? "gemba/v1/#"
        self.logger = logger
        self.description = "\(configuration.host):\(configuration.port)"
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Messages are taken from the first moment: a resumed session's backlog can arrive
                // before the SUBACK, and unacknowledged messages past the buffer stop the client reading.
                group.addTask { await self.consume() }
                _ = try await client.connect()
                _ = try await client.subscribe(filter, qos: .atLeastOnce)
                logger.info("subscribed to upstream broker", metadata: ["mqtt.upstream": "\(description)", "mqtt.filter": "\(filter)"])
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            Task { await self.client.disconnect() }
        }
    }

    private func consume() async {
        for await message in client.messages {
            if ingest.isSaturated {
                await withCheckedContinuation { continuation in ingest.whenReady { continuation.resume() } }
            }
            ingest.handle(topic: message.topic, payload: message.payload, tenant: tenant) { [client, logger] result in
                switch result {
                case .success:
                    message.acknowledge()
                case .failure(let error):
                    logger.warning("upstream message not stored; reconnecting so that the broker sends it again",
                                   metadata: ["mqtt.topic": "\(message.topic)", "error": "\(error)"])
                    Task { await client.dropConnection() }
                }
            }
        }
    }
}
