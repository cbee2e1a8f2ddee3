public import Logging
public import MQTTClient
import GembaCore
import MQTTCodec
import NIOCore
public import ServiceLifecycle
public import Sparkplug
import Synchronization

/// Devices of one kind that feed a sink: simulated machines, a Modbus device, an OPC UA server.
public protocol EdgeDeviceSource: Sendable {
    /// Names the source among the gateway's: a source given again under the same id replaces it.
    var id: String { get }
    /// The devices it reports and their metrics, for the births.
    var devices: [(id: String, metrics: [SparkplugEdgeNode.MetricSpec])] { get }
    /// Reads until cancelled, handing readings to the sink.
    func run(_ sink: any EdgeSink) async
    /// A command for one of its devices (the value already in the metric's datatype).
    func write(device: String, metric: String, value: SparkplugValue, sink: any EdgeSink) async
}

/// Where sources hand their readings: the gateway's Sparkplug edge node (``EdgeOutlet``), or, inside
/// `gemba serve`, the ingest pipeline.
public protocol EdgeSink: Sendable {
    /// New readings of a device (nil: the sink's own metrics).
    func update(device: String?, readings: [SparkplugEdgeNode.Reading])
}

/// The edge node shared by the device sources and the broker connection: readings go in under a
/// lock, and what they make the node publish leaves, in order, through the current connection.
/// With a store-and-forward buffer, what the node records goes into it, and the buffer learns
/// when the node goes online and offline.
public final class EdgeOutlet: EdgeSink {
    private struct State {
        var node: SparkplugEdgeNode
        /// The current connection's outbound queue; nil while there is none.
        var outbound: AsyncStream<SparkplugEdgeNode.Action>.Continuation?
        var online = false
    }

    private let state: Mutex<State>
    let buffer: ForwardBuffer?

    init(_ node: SparkplugEdgeNode, buffer: ForwardBuffer? = nil) {
        state = Mutex(State(node: node))
        self.buffer = buffer
    }

    /// New readings of a device (nil: the node itself).
    public func update(device: String?, readings: [SparkplugEdgeNode.Reading]) {
        guard !readings.isEmpty else { return }
        apply { $0.update(device: device, readings: readings, now: EdgeGateway.now()) }
    }

    /// Changes the node under the lock; what it answers is queued for the connection in that order
    /// (so `seq` leaves in the order it was given), writes are returned to the caller.
    @discardableResult
    func apply(_ body: (inout SparkplugEdgeNode) -> [SparkplugEdgeNode.Action]) -> [SparkplugEdgeNode.Action] {
        state.withLock { state in
            var writes: [SparkplugEdgeNode.Action] = []
            let actions = body(&state.node)
            noticePhase(&state)
            for action in actions {
                switch action {
                case .publish: state.outbound?.yield(action)
                case .record(let device, let payload, let live): buffer?.append(device: device, payload: payload, live: live, now: Self.now())
                case .write: writes.append(action)
                }
            }
            return writes
        }
    }

    /// Tells the buffer when the node went online (births out: replay what was not delivered) or offline.
    private func noticePhase(_ state: inout State) {
        guard state.node.isOnline != state.online else { return }
        state.online = state.node.isOnline
        if state.online { buffer?.wentOnline(now: Self.now()) } else { buffer?.wentOffline() }
    }

    static func now() -> Int64 { Timestamp.now().millisecondsSinceEpoch }

    /// A new connection's queue: what the node publishes from now on.
    func attach() -> AsyncStream<SparkplugEdgeNode.Action> {
        let (stream, continuation) = AsyncStream<SparkplugEdgeNode.Action>.makeStream()
        state.withLock { state in
            state.outbound?.finish()
            state.outbound = continuation
        }
        return stream
    }

    func detach() {
        state.withLock { state in
            state.outbound?.finish()
            state.outbound = nil
        }
    }

    /// Reads or changes the node under the lock, queueing nothing.
    func withNode<Result>(_ body: (inout SparkplugEdgeNode) -> Result) -> Result {
        state.withLock { state in
            defer { noticePhase(&state) }
            return body(&state.node)
        }
    }
}

/// `gemba edge`: one Sparkplug B edge node on an MQTT broker, fed by device sources that run
/// whether or not the broker is there.
///
/// Each connection registers the node's NDEATH (with the next bdSeq) as its will, subscribes to
/// the node's commands (and the primary host's STATE), then births; readings are published as
/// they come. Commands go to the source of their device. A lost connection starts over with a new
/// bdSeq after a backoff; shutdown sends NDEATH first.
public struct EdgeGateway: Service {
    /// A change of the gateway's sources while it runs (a configuration reloaded).
    public enum Change: Sendable {
        /// Adds a source, or replaces the one with its id: its devices are born again with their new metrics.
        case set(any EdgeDeviceSource)
        /// Stops a source: its devices die.
        case remove(id: String)
    }

    public let broker: MQTTClientConfiguration
    public let logger: Logger
    let outlet: EdgeOutlet
    private let initial: [any EdgeDeviceSource]
    private let changes: AsyncStream<Change>?
    private let registry = SourceRegistry()
    /// Values a second replayed at most from the store-and-forward buffer.
    private let replayRate: Int

    /// A gateway; with a `buffer`, what cannot reach the host is kept on disk and replayed as
    /// historical data once the node is online again, at most `replayRate` values a second.
    public init(broker: MQTTClientConfiguration, group: String, node: String, primaryHost: String?,
                sources: [any EdgeDeviceSource], changes: AsyncStream<Change>? = nil, buffer: ForwardBuffer? = nil,
                replayRate: Int = 50_000, logger: Logger) {
        var configuration = broker
        configuration.reconnect = nil
        if configuration.clientID.isEmpty { configuration.clientID = "gemba-edge-\(group)-\(node)" }
        self.broker = configuration
        self.logger = logger
        initial = sources
        self.changes = changes
        self.replayRate = max(1, replayRate)
        var node = SparkplugEdgeNode.Configuration(group: group, node: node, primaryHost: primaryHost)
        node.recordsChanges = buffer != nil
        outlet = EdgeOutlet(SparkplugEdgeNode(configuration: node, nodeMetrics: buffer == nil ? [] : BufferHealth.metrics,
                                              devices: sources.flatMap(\.devices)), buffer: buffer)
    }

    public func run() async throws {
        for source in initial { registry.start(source, outlet: outlet) }
        await withTaskGroup(of: Void.self) { group in
            if let changes {
                group.addTask {
                    for await change in changes { apply(change) }
                }
            }
            if let buffer = outlet.buffer {
                group.addTask { await keep(buffer) }
                group.addTask { await replay(buffer) }
            }
            await connectionLoop()
            group.cancelAll()
        }
        await registry.stopAll()
        outlet.buffer?.close()
    }

    /// Writes the buffer to disk four times a second, moves its cursor, and publishes its health.
    private func keep(_ buffer: ForwardBuffer) async {
        var failing = false
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            do {
                try buffer.tick(now: EdgeOutlet.now())
                failing = false
            } catch {
                if !failing { logger.error("Store-and-forward buffer cannot be written", metadata: ["error": "\(error)"]) }
                failing = true
            }
            outlet.update(device: nil, readings: BufferHealth.readings(buffer.status, at: Self.now()))
        }
    }

    /// Replays what the buffer holds whenever the node is online, as historical data at a bounded
    /// rate, between the live messages.
    private func replay(_ buffer: ForwardBuffer) async {
        while !Task.isCancelled {
            guard let records = buffer.nextReplay(now: EdgeOutlet.now()) else {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            let started = ContinuousClock.now
            var values = 0
            for (device, payload) in records {
                guard let metrics = try? SparkplugPayload(decoding: payload).metrics else { continue }
                values += metrics.count
                outlet.apply { $0.historical(device: device, metrics: metrics, now: Self.now()) }
            }
            let due = Duration.seconds(Double(values) / Double(replayRate)) - (ContinuousClock.now - started)
            if due > .zero { try? await Task.sleep(for: due) }
        }
    }

    private func apply(_ change: Change) {
        let now = Self.now()
        switch change {
        case .set(let source):
            for device in registry.stop(source.id) where !source.devices.contains(where: { $0.id == device }) {
                outlet.apply { $0.removeDevice(device, now: now) }
            }
            for device in source.devices { outlet.apply { $0.setDevice(device.id, metrics: device.metrics, now: now) } }
            registry.start(source, outlet: outlet)
            logger.notice("Edge source (re)started", metadata: ["edge.source": "\(source.id)"])
        case .remove(let id):
            for device in registry.stop(id) { outlet.apply { $0.removeDevice(device, now: now) } }
            logger.notice("Edge source removed", metadata: ["edge.source": "\(id)"])
        }
    }

    private func connectionLoop() async {
        let (group, node) = outlet.withNode { ($0.configuration.group, $0.configuration.node) }
        let metadata: Logger.Metadata = ["sparkplug.group": "\(group)", "sparkplug.node": "\(node)"]
        var attempt = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            var configuration = broker
            let will = outlet.withNode { $0.will() }
            configuration.will = Will(topic: will.topic, payload: ByteBuffer(bytes: will.payload), qos: .atLeastOnce)
            let client = MQTTClient(configuration: configuration, logger: logger)
            do {
                try await client.connect()
                let filters = outlet.withNode { $0.subscriptions }
                _ = try await client.subscribe(filters.map { Subscription(filter: $0, options: SubscriptionOptions(qos: .atLeastOnce)) })
                logger.info("Sparkplug edge node connected", metadata: metadata)
                attempt = 0
                try await serve(client)
            } catch {
                logger.warning("Sparkplug edge node connection failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
            outlet.detach()
            outlet.withNode { $0.connectionLost() }
            attempt += 1
            try? await Task.sleep(for: .nanoseconds(ReconnectPolicy().delay(attempt: attempt).nanoseconds))
        }
    }

    /// Publishes what the node queues and answers commands until the connection drops or the service shuts down.
    private func serve(_ client: MQTTClient) async throws {
        let outbound = outlet.attach()
        let writes = outlet.apply { $0.connected(now: Self.now()) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in client.messages {
                    let payload = Array(message.payload.readableBytesView)
                    let writes = outlet.apply { $0.received(topic: message.topic, payload: payload, now: Self.now()) }
                    await deliver(writes)
                }
            }
            group.addTask {
                try? await cancelWhenGracefulShutdown {  // shutdown ends the loop, then NDEATH goes out
                    for await case .publish(let topic, let payload) in outbound {
                        _ = try await client.publish(topic, payload: ByteBuffer(bytes: payload), qos: .atMostOnce)
                    }
                }
                guard Task.isShuttingDownGracefully else { return }  // the connection dropped: the broker sends the will
                outlet.detach()
                for case .publish(let topic, let payload) in outlet.withNode({ $0.disconnect(now: Self.now()) }) {
                    _ = try? await client.publish(topic, payload: ByteBuffer(bytes: payload), qos: .atMostOnce)
                }
                await client.disconnect()
            }
            await deliver(writes)
            // Either the connection dropped (messages ended) or shutdown finished: stop the other task.
            try await group.next()
            group.cancelAll()
        }
    }

    /// Hands commands to the sources of their devices.
    private func deliver(_ writes: [SparkplugEdgeNode.Action]) async {
        for case .write(let device, let metric, let value) in writes {
            guard let device, let source = registry.source(of: device) else {
                logger.notice("Sparkplug command for the node itself ignored", metadata: ["sparkplug.metric": "\(metric)"])
                continue
            }
            logger.notice("Sparkplug write", metadata: [
                "sparkplug.device": "\(device)", "sparkplug.metric": "\(metric)", "sparkplug.value": "\(value)",
            ])
            await source.write(device: device, metric: metric, value: value, sink: outlet)
        }
    }

    static func now() -> UInt64 { UInt64(max(0, Timestamp.now().millisecondsSinceEpoch)) }
}

/// Running sources: each with the task that runs it, and which source owns each device.
public final class SourceRegistry: Sendable {
    private struct Running {
        var source: any EdgeDeviceSource
        var task: Task<Void, Never>
    }

    private let running = Mutex<[String: Running]>([:])

    public init() {}

    /// Runs `source` into `outlet` until it is stopped.
    public func start(_ source: any EdgeDeviceSource, outlet: any EdgeSink) {
        let task = Task { await source.run(outlet) }
        running.withLock { $0[source.id] = Running(source: source, task: task) }
    }

    /// Cancels a source (its task ends on its own); answers the devices it had.
    @discardableResult
    public func stop(_ id: String) -> [String] {
        guard let entry = running.withLock({ $0.removeValue(forKey: id) }) else { return [] }
        entry.task.cancel()
        return entry.source.devices.map(\.id)
    }

    public func source(of device: String) -> (any EdgeDeviceSource)? {
        running.withLock { running in running.values.first { $0.source.devices.contains { $0.id == device } }?.source }
    }

    /// Cancels every source and waits for their tasks.
    public func stopAll() async {
        let tasks = running.withLock { running in defer { running = [:] }; return running.values.map(\.task) }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }
}

/// The store-and-forward buffer's health, published as the node's own metrics under `buffer/`.
enum BufferHealth {
    static let metrics: [SparkplugEdgeNode.MetricSpec] = [
        .init(name: "buffer/pending_bytes", dataType: .uint64, unit: "B", deadband: 65_535),
        .init(name: "buffer/bytes", dataType: .uint64, unit: "B", deadband: 1_048_576),
        .init(name: "buffer/dropped", dataType: .uint64),
        .init(name: "buffer/replaying", dataType: .boolean),
    ]

    static func readings(_ status: ForwardBuffer.Status, at time: UInt64) -> [SparkplugEdgeNode.Reading] {
        [("buffer/pending_bytes", SparkplugValue.uint64(status.pendingBytes)), ("buffer/bytes", .uint64(status.bytes)),
         ("buffer/dropped", .uint64(status.dropped)), ("buffer/replaying", .boolean(status.replaying))]
            .map { SparkplugEdgeNode.Reading(name: $0.0, value: $0.1, timestamp: time) }
    }
}
