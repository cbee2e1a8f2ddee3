import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GembaCore
import GembaSimulator
import Logging
import MQTTBroker
import MQTTClient
import MQTTCodec
import NIOCore
import ServiceLifecycle
import Synchronization

/// Runs a ``FactorySimulator`` in real time (or faster) and publishes every machine's readings:
/// as JSON records on `gemba/v1/<machine path>` over MQTT, or as batches to `POST /api/v1/ingest`.
struct SimulationPublisher: Service {
    enum Target: Sendable {
        /// The broker in this process (`serve --demo`), connected to over loopback once it listens.
        case embedded(MQTTBroker)
        case mqtt(MQTTClientConfiguration)
        /// Gemba's HTTP base URL, with an API key (engineer or above) when the server needs one.
        case http(URL, apiKey: String?)
    }

    let factory: FactorySimulator
    let target: Target
    let interval: Duration
    var speed: Double = 1
    var qos: QoS = .atLeastOnce
    var duration: Duration?
    /// Simulated history to publish first, ending now, in steps of `step` (the demo's first day).
    var history: (span: Duration, step: Duration)?
    /// Changes to the running factory from outside (maintenance on a machine, an injected fault).
    let control = SimulationControl()
    /// Changes made once live publishing has run this long (the demo's failing bearing).
    var script: [(after: Duration, change: SimulationControl.Change)] = []
    /// Run (in its own task) when live publishing starts, after the history: the demo trains a detector on it.
    var onLive: (@Sendable () async -> Void)?
    let logger: Logger

    init(factory: FactorySimulator, target: Target, interval: Duration, speed: Double = 1, qos: QoS,
         duration: Duration? = nil, logger: Logger) {
        self.factory = factory
        self.target = target
        self.interval = interval
        self.speed = speed
        self.qos = qos
        self.duration = duration
        self.logger = logger
    }

    func run() async throws {
        let sender = try await makeSender()
        let dt = interval.inSeconds
        logger.info("simulated factory publishing", metadata: ["simulator.machines": "\(factory.machines.count)"])
        // Graceful shutdown cancels the sleep; that ends the loop normally.
        try? await cancelWhenGracefulShutdown {
            var factory = self.factory
            if let history { try await backfill(&factory, history, sender) }
            if let onLive { Task { await onLive() } }
            let started = ContinuousClock.now
            var next = started
            var script = self.script.sorted { $0.after < $1.after }[...]
            while !Task.isCancelled {
                if let duration, ContinuousClock.now - started >= duration { break }
                while let first = script.first, ContinuousClock.now - started >= first.after {
                    control.send(first.change)
                    script.removeFirst()
                }
                for change in control.take() { apply(change, to: &factory) }
                factory.step(dt: dt * speed)
                try await sender.send(time: Timestamp.now(), readings: factory.readings())
                next += interval
                try await Task.sleep(until: next, clock: .continuous)
            }
        }
        await sender.close()
    }

    private func apply(_ change: SimulationControl.Change, to factory: inout FactorySimulator) {
        let applied = switch change {
        case .inject(let anomaly, let path): factory.inject(anomaly, into: path)
        case .maintain(let path, let starting): factory.maintain(path, starting: starting)
        }
        logger.info("simulated factory changed", metadata: ["simulator.change": "\(change)", "simulator.applied": "\(applied)"])
    }

    /// Publishes `history.span` of simulated time before now, with past timestamps, as fast as the sender goes.
    private func backfill(_ factory: inout FactorySimulator, _ history: (span: Duration, step: Duration),
                          _ sender: any ReadingSender) async throws {
        let step = history.step.components.seconds * 1000
        let now = Timestamp.now().millisecondsSinceEpoch
        var time = now - history.span.components.seconds * 1000
        logger.info("simulating the factory's history", metadata: ["simulator.hours": "\(history.span.components.seconds / 3600)"])
        while time < now, !Task.isCancelled {
            factory.step(dt: Double(step) / 1000)
            try await sender.send(time: Timestamp(millisecondsSinceEpoch: time), readings: factory.readings())
            time += step
        }
        logger.info("simulated history written")
    }

    private func makeSender() async throws -> any ReadingSender {
        switch target {
        case .embedded(let broker):
            while broker.port == nil { try await Task.sleep(for: .milliseconds(20)) }
            var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: broker.port!)
            configuration.clientID = "gemba-demo-factory"
            return try await MQTTReadingSender(configuration: configuration, qos: qos, logger: logger)
        case .mqtt(let configuration):
            return try await MQTTReadingSender(configuration: configuration, qos: qos, logger: logger)
        case .http(let url, let apiKey):
            return HTTPReadingSender(url: url.appendingPathComponent("api/v1/ingest"), apiKey: apiKey)
        }
    }
}

/// Changes other tasks hand the running simulator; it applies them before its next step.
final class SimulationControl: Sendable {
    enum Change: Sendable, CustomStringConvertible {
        case inject(Anomaly, AssetPath)
        /// Maintenance starts (or ends) on a machine.
        case maintain(AssetPath, starting: Bool)

        var description: String {
            switch self {
            case .inject(let anomaly, let path): "\(anomaly.rawValue) into \(path)"
            case .maintain(let path, let starting): "maintenance \(starting ? "starts" : "ends") on \(path)"
            }
        }
    }

    private let pending = Mutex<[Change]>([])

    func send(_ change: Change) { pending.withLock { $0.append(change) } }

    func take() -> [Change] { pending.withLock { changes in defer { changes.removeAll() }; return changes } }
}

/// Delivers one round of readings somewhere.
protocol ReadingSender: Sendable {
    func send(time: Timestamp, readings: [(AssetPath, [(String, SampleValue)])]) async throws
    func close() async
}

struct MQTTReadingSender: ReadingSender {
    let client: MQTTClient
    let qos: QoS

    init(configuration: MQTTClientConfiguration, qos: QoS, logger: Logger) async throws {
        client = MQTTClient(configuration: configuration, logger: logger)
        self.qos = qos
        _ = try await client.connect()
    }

    func send(time: Timestamp, readings: [(AssetPath, [(String, SampleValue)])]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (path, values) in readings {
                let payload = RecordPayload.json(time: time, values: values)
                group.addTask { _ = try await client.publish("gemba/v1/\(path)", payload, qos: qos) }
            }
            try await group.waitForAll()
        }
    }

    func close() async { await client.disconnect() }
}

struct HTTPReadingSender: ReadingSender {
    let url: URL
    let apiKey: String?

    func send(time: Timestamp, readings: [(AssetPath, [(String, SampleValue)])]) async throws {
        let records = readings.map { path, values in
            let record = RecordPayload.json(time: time, values: values)
            return "{\"machine\":\"\(path)\"," + record.dropFirst()
        }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        request.httpBody = Data("{\"records\":[\(records.joined(separator: ","))]}".utf8)
        let (body, response) = try await URLSession.shared.data(for: request)
        guard let status = (response as? HTTPURLResponse)?.statusCode, (200..<300).contains(status) else {
            throw ConfigurationError("POST \(url) failed: \(String(decoding: body, as: UTF8.self))")
        }
    }

    func close() async {}
}
