public import Logging
public import MQTTCodec
public import NIOCore
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// The embedded MQTT broker as a `Service`: binds its listeners in `run()`, serves until graceful
/// shutdown, then tells v5 clients the server is shutting down and closes every connection.
///
/// All broker state lives on one event loop; connections are served on that loop too, so the core
/// needs no locks and a burst of messages costs one write per subscriber.
public final class MQTTBroker: Service, Sendable {
    private let configuration: BrokerConfiguration
    private let logger: Logger
    private let runtime: BrokerRuntime
    private let listeners = Mutex<[any Channel]>([])
    private let tickTask = Mutex<RepeatedTask?>(nil)

    /// - Parameter eventLoop: the loop that owns all broker state; one of NIO's shared loops by default.
    public init(configuration: BrokerConfiguration, logger: Logger, eventLoop: (any EventLoop)? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.runtime = BrokerRuntime(loop: eventLoop ?? MultiThreadedEventLoopGroup.singleton.next(),
                                     configuration: configuration, logger: logger)
    }

    /// The bound plain-TCP port, once started.
    public var port: Int? { listeners.withLock { $0.first?.localAddress?.port } }
    /// The bound TLS port, once started with TLS.
    public var tlsPort: Int? { listeners.withLock { $0.count > 1 ? $0[1].localAddress?.port : nil } }

    /// Restores the saved state, then binds the listeners; `run()` calls it, tests may call it first to learn the ports.
    public func start() async throws {
        guard listeners.withLock({ $0.isEmpty }) else { return }
        try await restore()
        var bound = [try await bind(port: configuration.port, tls: nil)]
        if let tls = configuration.tls {
            bound.append(try await bind(port: configuration.tlsPort, tls: try NIOSSLContext(configuration: tls)))
        }
        listeners.withLock { $0 = bound }
        let runtime = self.runtime
        let task = runtime.loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            runtime.tick()
        }
        tickTask.withLock { $0 = task }
        logger.info("MQTT broker listening", metadata: [
            "mqtt.host": "\(configuration.host)", "mqtt.port": "\(port ?? 0)",
            "mqtt.tls_port": "\(tlsPort.map(String.init) ?? "off")",
        ])
    }

    private func restore() async throws {
        guard let persistence = configuration.persistence else { return }
        let runtime = self.runtime
        let started = ContinuousClock.now
        let image = try await NIOThreadPool.singleton.runIfActive {
            try persistence.load(clockOffset: BrokerRuntime.clockOffset())
        }
        try await runtime.loop.submit { runtime.restore(image) }.get()
        let elapsed = ContinuousClock.now - started
        logger.info("MQTT broker state restored", metadata: [
            "mqtt.sessions": "\(image.sessions.count)", "mqtt.retained": "\(image.retained.count)",
            "mqtt.session_messages": "\(image.messages.count)", "mqtt.restore_seconds": "\(elapsed)",
        ])
    }

    /// Waits for the save under way, then saves what is left. It runs in a task of its own, so it
    /// completes even when the broker's task is cancelled (another service failed at start-up).
    private func saveLast() async {
        await Task.detached { await self.saveRemaining() }.value
    }

    private func saveRemaining() async {
        guard let persistence = configuration.persistence else { return }
        let runtime = self.runtime
        try? await runtime.loop.submit { runtime.stopSaving() }.get()
        while (try? await runtime.loop.submit({ runtime.isSaving }).get()) == true {
            try? await Task.sleep(for: .milliseconds(10))
        }
        guard let delta = try? await runtime.loop.submit({ runtime.takeChanges() }).get(), !delta.isEmpty else { return }
        do {
            try await NIOThreadPool.singleton.runIfActive { try persistence.save(delta, clockOffset: BrokerRuntime.clockOffset()) }
        } catch {
            logger.error("the MQTT broker could not save its last changes at shutdown", metadata: ["error": "\(error)"])
        }
    }

    private func bind(port: Int, tls: NIOSSLContext?) async throws -> any Channel {
        let runtime = self.runtime
        let maxPacketSize = configuration.limits.maxPacketSize
        return try await ServerBootstrap(group: runtime.loop)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            // Devices send small packets now and then: a connection starts with a small read buffer
            // (grown when reads fill it), so thousands of idle connections hold little memory.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 128, maximum: 65_536))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handlers = channel.pipeline.syncOperations
                    if let tls { try handlers.addHandler(NIOSSLServerHandler(context: tls)) }
                    try handlers.addHandler(BrokerConnectionHandler(runtime: runtime, maximumPacketSize: maxPacketSize))
                }
            }
            .bind(host: configuration.host, port: port)
            .get()
    }

    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await stop()
    }

    /// Closes the listeners and every client connection.
    public func stop() async {
        let channels = listeners.withLock { current -> [any Channel] in
            defer { current = [] }
            return current
        }
        tickTask.withLock { $0?.cancel(); $0 = nil }
        for channel in channels { try? await channel.close() }
        let runtime = self.runtime
        try? await runtime.loop.submit { runtime.shutdown() }.get()
        await saveLast()
        logger.info("MQTT broker stopped")
    }

    /// Publishes a message from inside the process (a host application's commands and STATE): it
    /// goes to the matching subscribers and, if `retain`, becomes the topic's retained message. It
    /// does not pass through the publish receiver.
    public func publish(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false) async throws {
        let runtime = self.runtime
        let message = Message(topic: topic, payload: payload, qos: qos, retain: retain, properties: Properties(),
                              publisherID: "", expiresAt: nil)
        try await runtime.loop.submit { runtime.publishLocal(message) }.get()
    }

    /// Asks the authorizer again about every held subscription, after its rules changed; returns
    /// how many subscriptions it no longer allows (they are removed).
    @discardableResult
    public func reauthorize() async throws -> Int {
        let runtime = self.runtime
        return try await runtime.loop.submit { runtime.reauthorize() }.get()
    }

    /// Live connection count (for tests and health).
    public func connectionCount() async throws -> Int {
        let runtime = self.runtime
        return try await runtime.loop.submit { runtime.connectionCount }.get()
    }

    /// The core's counters (for tests and benchmarks).
    public func statistics() async throws -> BrokerStatistics {
        let runtime = self.runtime
        return try await runtime.loop.submit { runtime.statistics }.get()
    }
}
