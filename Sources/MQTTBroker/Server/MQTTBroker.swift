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
/// All broker state lives on one thread, the broker's own ``BrokerLoop``, and its plain-TCP
/// connections are served there too: the core needs no locks, and a burst of messages costs one
/// write per subscriber. TLS connections are relayed to the loop (``TLSRelay``).
public final class MQTTBroker: Service, Sendable {
    private let configuration: BrokerConfiguration
    private let logger: Logger
    private let runtime: BrokerRuntime
    private let listeners = Mutex<Listeners?>(nil)
    private let tickTask = Mutex<RepeatedTask?>(nil)

    /// What ``start()`` bound: the plain-TCP listener (confined to the loop) and the TLS one.
    private struct Listeners: @unchecked Sendable {
        let plain: BrokerListener
        let tls: (any Channel)?
        let tlsPort: Int?
    }

    public init(configuration: BrokerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.runtime = BrokerRuntime(loop: BrokerLoop(), configuration: configuration, logger: logger)
    }

    /// Ends the loop's thread; ``stop()`` has closed the connections.
    deinit {
        runtime.loop.stop()
    }

    /// The bound plain-TCP port, once started.
    public var port: Int? { listeners.withLock { $0?.plain.port } }
    /// The bound TLS port, once started with TLS.
    public var tlsPort: Int? { listeners.withLock { $0?.tlsPort } }

    /// Restores the saved state, then binds the listeners; `run()` calls it, tests may call it first to learn the ports.
    public func start() async throws {
        guard listeners.withLock({ $0 == nil }) else { return }
        try await restore()
        let runtime = self.runtime
        let plain = try BrokerListener(host: configuration.host, port: configuration.port, runtime: runtime)
        var tls: (any Channel)?
        do {
            if let settings = configuration.tls {
                tls = try await TLSRelay.bind(host: configuration.host, port: configuration.tlsPort,
                                              context: try NIOSSLContext(configuration: settings), runtime: runtime)
            }
        } catch {
            // The listener's socket is the loop's to close, even before the loop watches it.
            let unused = Listeners(plain: plain, tls: nil, tlsPort: nil)
            try? await runtime.loop.submit { unused.plain.stop() }.get()
            throw error
        }
        let bound = Listeners(plain: plain, tls: tls, tlsPort: tls?.localAddress?.port)
        listeners.withLock { $0 = bound }
        try await runtime.loop.submit { bound.plain.start() }.get()
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

    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        await stop()
    }

    /// Closes the listeners and every client connection.
    public func stop() async {
        let bound = listeners.withLock { current -> Listeners? in
            defer { current = nil }
            return current
        }
        tickTask.withLock { $0?.cancel(); $0 = nil }
        let runtime = self.runtime
        if let bound {
            try? await runtime.loop.submit { bound.plain.stop() }.get()
            try? await bound.tls?.close()
        }
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
