import GembaCore
import GembaSimulator
import Logging
import MQTTClient
import MQTTCodec
import NIOCore
import ServiceLifecycle
import Sparkplug
import Synchronization

/// One Sparkplug B edge node on an MQTT broker whose devices are simulated machines (until the
/// OPC UA and Modbus gateways feed it real ones): the I/O shell around ``SparkplugEdgeNode``.
///
/// Each connection registers the node's NDEATH (with the next bdSeq) as its will, subscribes to
/// the node's commands (and the primary host's STATE), then births and publishes changed readings
/// every interval. Writes from the host are delivered to the simulated device, which reports the
/// written value back. A lost connection starts over with a new bdSeq; shutdown sends NDEATH first.
struct SparkplugEdgeRunner: Service {
    let broker: MQTTClientConfiguration
    let group: String
    let node: String
    let primaryHost: String?
    let machines: [MachineSimulator]
    let interval: Duration
    let speed: Double
    let logger: Logger

    /// Tag units of the simulated machines, sent as `engUnit` properties in the births.
    static let units = ["spindle_temp": "°C", "vibration": "mm/s", "power": "kW", "speed": "rpm"]

    func run() async throws {
        var probe = machines.first!
        let specs = probe.readings().map { name, value in
            SparkplugEdgeNode.MetricSpec(name: name, dataType: .natural(for: value), unit: Self.units[name])
        }
        let edge = Locked(SparkplugEdgeNode(
            configuration: .init(group: group, node: node, primaryHost: primaryHost), nodeMetrics: [],
            devices: machines.map { (id: $0.path.machine, metrics: specs) }))
        let factory = Locked(machines)
        var attempt = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            var configuration = broker
            configuration.reconnect = nil
            if configuration.clientID.isEmpty { configuration.clientID = "gemba-edge-\(group)-\(node)" }
            let will = edge.withLock { $0.will() }
            configuration.will = Will(topic: will.topic, payload: ByteBuffer(bytes: will.payload), qos: .atLeastOnce)
            let client = MQTTClient(configuration: configuration, logger: logger)
            do {
                try await client.connect()
                let filters = edge.withLock { $0.subscriptions }
                _ = try await client.subscribe(filters.map { Subscription(filter: $0, options: SubscriptionOptions(qos: .atLeastOnce)) })
                try await publish(edge.withLock { $0.connected(now: Self.now()) }, on: client, edge: edge)
                logger.info("Sparkplug edge node connected", metadata: ["sparkplug.group": "\(group)", "sparkplug.node": "\(node)"])
                attempt = 0
                try await serve(client, edge: edge, factory: factory)
            } catch {
                logger.warning("Sparkplug edge node connection failed", metadata: ["error": "\(error)"])
            }
            edge.withLock { $0.connectionLost() }
            attempt += 1
            try? await Task.sleep(for: .nanoseconds(ReconnectPolicy().delay(attempt: attempt).nanoseconds))
        }
    }

    /// Publishes readings and answers commands until the connection drops or the service shuts down.
    private func serve(_ client: MQTTClient, edge: Locked<SparkplugEdgeNode>, factory: Locked<[MachineSimulator]>) async throws {
        let dt = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in client.messages {
                    let actions = edge.withLock {
                        $0.received(topic: message.topic, payload: Array(message.payload.readableBytesView), now: Self.now())
                    }
                    try await publish(actions, on: client, edge: edge)
                }
            }
            group.addTask {
                try? await cancelWhenGracefulShutdown {  // shutdown ends the loop (a CancellationError), then NDEATH goes out
                    while !Task.isCancelled {
                        let readings = factory.withLock { machines in
                            machines.indices.map { index in
                                machines[index].step(dt: dt * speed)
                                return (machines[index].path.machine, machines[index].readings())
                            }
                        }
                        let now = Self.now()
                        let actions = edge.withLock { edge in
                            readings.flatMap { device, values in
                                edge.update(device: device, values: values.map { ($0.0, SparkplugValue($0.1)) }, now: now)
                            }
                        }
                        try await publish(actions, on: client, edge: edge)
                        try await Task.sleep(for: interval)
                    }
                }
                try await publish(edge.withLock { $0.disconnect(now: Self.now()) }, on: client, edge: edge)
                await client.disconnect()
            }
            // Either the connection dropped (messages ended) or shutdown finished: stop the other task.
            try await group.next()
            group.cancelAll()
        }
    }

    private func publish(_ actions: [SparkplugEdgeNode.Action], on client: MQTTClient, edge: Locked<SparkplugEdgeNode>) async throws {
        for action in actions {
            switch action {
            case .publish(let topic, let payload):
                _ = try await client.publish(topic, payload: ByteBuffer(bytes: payload), qos: .atMostOnce)
            case .write(let device, let metric, let value):
                logger.notice("Sparkplug write delivered to the device", metadata: [
                    "sparkplug.device": "\(device ?? node)", "sparkplug.metric": "\(metric)", "sparkplug.value": "\(value)",
                ])
                // The simulated device takes the value and reports it back.
                let echo = edge.withLock { $0.update(device: device, values: [(metric, value)], now: Self.now()) }
                try await publish(echo, on: client, edge: edge)
            }
        }
    }

    static func now() -> UInt64 { UInt64(Timestamp.now().millisecondsSinceEpoch) }
}

/// A value behind a lock, shareable between the tasks of one connection.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    func withLock<Result: Sendable>(_ body: (inout sending Value) -> sending Result) -> sending Result {
        mutex.withLock { body(&$0) }
    }
}
