import ArgumentParser
import GembaSimulator
import Logging
import ServiceLifecycle

/// `gemba edge`: the gateway's commands. Run without one, it is `gemba edge run`.
struct Edge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The edge gateway: a Sparkplug B edge node, and tools for the devices beside it.",
        subcommands: [EdgeRun.self, EdgeRead.self], defaultSubcommand: EdgeRun.self)
}

/// `gemba edge run`: a Sparkplug B edge node on any broker. Its devices are simulated machines for now;
/// the OPC UA, Modbus and MTConnect gateways will feed it real ones.
struct EdgeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a Sparkplug B edge node (devices: simulated machines) publishing to an MQTT broker.")

    @OptionGroup var common: CommonOptions
    @Option(help: "Broker: mqtt://[user:pass@]host[:port].") var broker = "mqtt://127.0.0.1:1883"
    @Option(help: "Sparkplug group id.") var group = "plant1"
    @Option(help: "Sparkplug edge node id.") var node = "line1"
    @Option(help: "Devices (simulated machines) on this node.") var devices = 4
    @Option(help: "Primary host id whose STATE online the node waits for before its births (none: birth at once).")
    var primaryHost: String?
    @Option(help: "Seed of the simulated machines.") var seed: UInt64 = 42
    @Option(help: "Seconds between readings.") var interval = 1.0

    func run() async throws {
        let settings = try common.settings()
        let logger = try common.bootstrapLogging(settings)
        guard devices > 0, interval > 0 else { throw ConfigurationError("--devices and --interval must be positive") }
        for (id, role) in [(group, "--group"), (node, "--node")] where id.isEmpty || id.contains(where: { "/+#".contains($0) }) {
            throw ConfigurationError("\(role) must be a Sparkplug id: not empty, without '/', '+' or '#'")
        }
        let runner = SparkplugEdgeRunner(
            broker: try BrokerURL.parse(broker, source: "--broker"), group: group, node: node, primaryHost: primaryHost,
            machines: FactorySimulator(seed: seed, machineCount: devices).machines,
            interval: .milliseconds(Int64(interval * 1000)), speed: 1, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: runner)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
