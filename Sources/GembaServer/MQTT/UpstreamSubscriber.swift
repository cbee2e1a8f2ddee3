public import Logging
public import MQTTClient
internal import MQTTCodec
public import ServiceLifecycle

/// Subscribes to `gemba/v1/#` on an external broker and feeds what arrives into the pipeline.
///
/// The client reconnects on its own; while the pipeline is saturated this service stops taking
/// messages from the client, whose bounded buffer then pushes back on the broker.
public final class UpstreamSubscriber: Service, Sendable {
    private let client: MQTTClient
    private let ingest: MQTTIngest
    private let logger: Logger
    private let description: String

    public init(configuration: MQTTClientConfiguration, ingest: MQTTIngest, logger: Logger) {
        var configuration = configuration
        if configuration.clientID.isEmpty { configuration.clientID = "gemba-ingest" }
        configuration.cleanStart = false
        configuration.connectProperties.sessionExpiryInterval = 3600
        self.client = MQTTClient(configuration: configuration, logger: logger)
        self.ingest = ingest
        self.logger = logger
        self.description = "\(configuration.host):\(configuration.port)"
    }

    public func run() async throws {
        _ = try await client.connect()
        _ = try await client.subscribe("gemba/v1/#", qos: .atLeastOnce)
        logger.info("subscribed to upstream broker", metadata: ["mqtt.upstream": "\(description)"])
        await withGracefulShutdownHandler {
            for await publish in client.messages {
                if ingest.isSaturated {
                    await withCheckedContinuation { continuation in ingest.whenReady { continuation.resume() } }
                }
                ingest.handle(topic: publish.topic, payload: publish.payload) { _ in }
            }
        } onGracefulShutdown: {
            Task { await self.client.disconnect() }
        }
    }
}
