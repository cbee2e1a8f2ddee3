import ArgumentParser
import Foundation
import GembaConnectors
import GembaCore
import GembaSimulator
import Logging
import MQTTClient
import MQTTCodec
import ServiceLifecycle

/// `gemba simulate`: a deterministic factory publishing to any MQTT broker or to Gemba over HTTP.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a simulated factory (seeded) that publishes to an MQTT broker or to Gemba's HTTP ingest.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Seed: the same seed gives the same factory.") var seed: UInt64 = 42
    @Option(help: "Machines (four per line, two lines per area).") var machines = 12
    @Option(help: "Sites the machines are spread over.") var sites = 1
    @Option(help: "Seconds between publishes.") var interval = 1.0
    @Option(help: "Simulated seconds per real second (e.g. 60 runs an hour a minute).") var speed = 1.0
    @Option(help: "Stop after this many seconds (0: run until interrupted).") var duration = 0.0
    @Option(help: "Broker to publish to: mqtt://[user:pass@]host[:port].") var mqtt = "mqtt://127.0.0.1:1883"
    @Option(help: "Publish over HTTP to this Gemba base URL instead (e.g. http://127.0.0.1:8080).") var http: String?
    @Option(help: "API key (engineer or above) for --http. Env: GEMBA_API_KEY.") var apiKey: String?
    @Option(help: "QoS of the publishes (0 or 1).") var qos = 1
    @Option(help: "Inject an anomaly: <machine path>:<vibration-drift|temperature-spike>; repeatable.") var inject: [String] = []
    @Flag(help: "Publish Sparkplug B instead of JSON: one edge node per line (group = site, node = line, devices = machines).")
    var sparkplug = false
    @Option(help: "With --sparkplug: the primary host id whose STATE online the edge nodes wait for.") var primaryHost: String?

    func run() async throws {
        let settings = try common.settings()
        let logger = try common.bootstrapLogging(settings)
        guard machines > 0, interval > 0, speed > 0, duration >= 0 else {
            throw ConfigurationError("--machines, --interval and --speed must be positive")
        }
        guard let qos = QoS(rawValue: UInt8(clamping: qos)), qos != .exactlyOnce else { throw ConfigurationError("--qos must be 0 or 1") }
        var factory = FactorySimulator(seed: seed, machineCount: machines, sites: sites)
        for entry in inject {
            guard let colon = entry.lastIndex(of: ":"), let anomaly = Anomaly(rawValue: String(entry[entry.index(after: colon)...])),
                  let path = try? AssetPath(entry[..<colon]), factory.inject(anomaly, into: path)
            else { throw ConfigurationError("--inject must be <machine path>:<vibration-drift|temperature-spike> naming a simulated machine") }
        }
        if sparkplug {
            guard http == nil else { throw ConfigurationError("--sparkplug publishes over MQTT: drop --http") }
            return try await runSparkplug(factory, logger: logger)
        }
        let target: SimulationPublisher.Target
        if let http {
            guard let url = URL(string: http), url.scheme == "http" || url.scheme == "https" else {
                throw ConfigurationError("--http must be a URL like http://127.0.0.1:8080")
            }
            target = .http(url, apiKey: apiKey ?? ProcessInfo.processInfo.environment["GEMBA_API_KEY"])
        } else {
            var configuration = try BrokerURL.parse(mqtt, source: "--mqtt")
            configuration.clientID = "gemba-simulator-\(seed)"
            target = .mqtt(configuration)
        }
        let publisher = SimulationPublisher(
            factory: factory, target: target, interval: .milliseconds(Int64(interval * 1000)), speed: speed, qos: qos,
            duration: duration > 0 ? .milliseconds(Int64(duration * 1000)) : nil, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: publisher, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// One Sparkplug edge node per line of the factory, each on its own connection.
    private func runSparkplug(_ factory: FactorySimulator, logger: Logger) async throws {
        let broker = try BrokerURL.parse(mqtt, source: "--mqtt")
        let lines = Dictionary(grouping: factory.machines) { "\($0.path.site)/\($0.path.line)" }
        let runners = lines.keys.sorted().map { key in
            let machines = lines[key]!
            return EdgeGateway(
                broker: broker, group: machines[0].path.site, node: machines[0].path.line, primaryHost: primaryHost,
                sources: [SimulatedMachinesSource(machines: machines, interval: .milliseconds(Int64(interval * 1000)), speed: speed)],
                logger: logger)
        }
        var services = runners.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        if duration > 0 {
            services.append(.init(service: Timer(duration: .milliseconds(Int64(duration * 1000))),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        try await group.run()
    }

    /// Ends the run after `--duration` (the edge nodes then send their NDEATH).
    private struct Timer: Service {
        let duration: Duration

        func run() async throws { try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) } }
    }
}
