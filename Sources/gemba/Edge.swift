import ArgumentParser
import Foundation
import GembaConnectors
import GembaSimulator
import Logging
import ServiceLifecycle

/// `gemba edge`: the gateway's commands. Run without one, it is `gemba edge run`.
struct Edge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The edge gateway: a Sparkplug B edge node for the devices beside it, and tools to check them.",
        subcommands: [EdgeRun.self, EdgeCheck.self, EdgeRead.self, EdgeBrowse.self, EdgeCertificate.self], defaultSubcommand: EdgeRun.self)
}

/// `gemba edge run`: a Sparkplug B edge node on any broker, publishing the devices of a
/// configuration file (Modbus TCP, OPC UA), or simulated machines without one.
struct EdgeRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a Sparkplug B edge node publishing the devices of --config (or simulated machines) to an MQTT broker.")

    @Option(name: .customLong("config"), help: "The gateway's configuration file (YAML or JSON): broker, Sparkplug ids, devices and their tags.")
    var gatewayConfig: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Env: GEMBA_LOG_LEVEL.") var logLevel: String?
    @Option(help: "Log format: text or json (one JSON object per line). Env: GEMBA_LOG_FORMAT.") var logFormat: String?
    @Option(help: "Without --config: broker, mqtt://[user:pass@]host[:port].") var broker = "mqtt://127.0.0.1:1883"
    @Option(help: "Without --config: Sparkplug group id.") var group = "plant1"
    @Option(help: "Without --config: Sparkplug edge node id.") var node = "line1"
    @Option(help: "Without --config: simulated machines on this node.") var devices = 4
    @Option(help: "Without --config: primary host id whose STATE online the node waits for before its births (none: birth at once).")
    var primaryHost: String?
    @Option(help: "Seed of the simulated machines.") var seed: UInt64 = 42
    @Option(help: "Seconds between simulated readings.") var interval = 1.0

    func run() async throws {
        // The environment's GEMBA_LOG_* apply; GEMBA_CONFIG is `gemba serve`'s file, not the gateway's.
        var environment = ProcessInfo.processInfo.environment
        environment["GEMBA_CONFIG"] = nil
        let logger = try CommonOptions.bootstrapLogging(try Settings(configFile: nil, environment: environment),
                                                        level: logLevel, format: logFormat)
        let gateway: EdgeGateway
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let gatewayConfig {
            let configuration = try EdgeConfigurationFile.load(gatewayConfig)
            let sources = try configuration.devices.map { try EdgeConfigurationFile.source($0, logger: logger) }
            let (changes, post) = AsyncStream<EdgeGateway.Change>.makeStream()
            let buffer = try configuration.buffer.map { settings in
                do { return try ForwardBuffer(directory: settings.directory, limits: settings.limits) } catch {
                    throw ConfigurationError("\(gatewayConfig): the buffer directory \(settings.directory) cannot be used: \(error)")
                }
            }
            if buffer == nil { logger.warning("No store-and-forward buffer configured: values polled while the broker or host is away are lost") }
            gateway = EdgeGateway(broker: configuration.broker, group: configuration.group, node: configuration.node,
                                  primaryHost: configuration.primaryHost, sources: sources, changes: changes, buffer: buffer,
                                  replayRate: configuration.buffer?.replayRate ?? 50_000, logger: logger)
            services.append(.init(service: EdgeConfigurationWatcher(path: gatewayConfig, loaded: configuration, post: post, logger: logger)))
        } else {
            guard devices > 0, interval > 0 else { throw ConfigurationError("--devices and --interval must be positive") }
            for (id, role) in [(group, "--group"), (node, "--node")] where id.isEmpty || id.contains(where: { "/+#".contains($0) }) {
                throw ConfigurationError("\(role) must be a Sparkplug id: not empty, without '/', '+' or '#'")
            }
            let machines = FactorySimulator(seed: seed, machineCount: devices).machines
            gateway = EdgeGateway(
                broker: try BrokerURL.parse(broker, source: "--broker"), group: group, node: node, primaryHost: primaryHost,
                sources: [SimulatedMachinesSource(machines: machines, interval: .milliseconds(Int64(interval * 1000)), speed: 1)],
                logger: logger)
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: gateway)] + services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// `gemba edge check --config edge.yaml`: validates a gateway configuration and prints what it would poll.
struct EdgeCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a gateway configuration: every problem with its line, or a summary of the devices and the reads they take.")

    @Option(name: .customLong("config"), help: "The gateway's configuration file.") var gatewayConfig: String

    func run() async throws {
        let configuration = try EdgeConfigurationFile.load(gatewayConfig)
        print("\(gatewayConfig): valid. Sparkplug group \(configuration.group), node \(configuration.node), broker \(configuration.broker.host):\(configuration.broker.port)")
        for device in configuration.modbus {
            let map: ModbusDeviceMap
            do { map = try ModbusDeviceMap(device) } catch { throw ConfigurationError("device '\(device.device)': \(error)") }
            let reads = map.poller.groups.map { group in "\(group.reads.count) read(s) every \(group.interval) ms" }
            print("  \(device.device): modbus://\(device.host):\(device.port) unit \(device.unit), \(device.tags.count) tag(s), \(reads.joined(separator: ", "))")
        }
        for server in configuration.opcua {
            let how = server.mode == .subscribe ? "subscribed, published every \(server.publishingInterval) ms" : "read every \(server.pollInterval) ms"
            print("  \(server.device): \(server.endpoint) (\(server.securityPolicy.name)), \(server.tags.count) tag(s), \(how)")
        }
    }
}

/// Reloads the gateway's configuration when its file changes (checked every two seconds): devices
/// added, changed or removed are started, restarted or stopped; the others keep running. A file
/// with problems is reported and ignored, so the gateway goes on with the last good one.
struct EdgeConfigurationWatcher: Service {
    let path: String
    let loaded: EdgeConfiguration
    let post: AsyncStream<EdgeGateway.Change>.Continuation
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var current = loaded
            var seen = try? String(contentsOfFile: path, encoding: .utf8)
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(2))
                let text = try? String(contentsOfFile: path, encoding: .utf8)
                guard text != seen else { continue }
                seen = text
                do {
                    let next = try EdgeConfigurationFile.load(path)
                    let change = current.change(to: next)
                    for device in change.removed { post.yield(.remove(id: device.sourceId)) }
                    for device in change.changed { post.yield(.set(try EdgeConfigurationFile.source(device, logger: logger))) }
                    if !change.needsRestart.isEmpty {
                        logger.warning("Gateway configuration: these settings take effect at the next restart",
                                       metadata: ["edge.settings": "\(change.needsRestart.joined(separator: ", "))"])
                    }
                    logger.notice("Gateway configuration reloaded", metadata: [
                        "edge.config": "\(path)", "edge.changed": "\(change.changed.map(\.device))", "edge.removed": "\(change.removed.map(\.device))",
                    ])
                    current = next
                } catch {
                    logger.error("Gateway configuration not reloaded: the running one stays", metadata: ["error": "\(error)"])
                }
            }
        }
        post.finish()
    }
}

/// Reads a gateway configuration file, with secrets from the environment and files.
enum EdgeConfigurationFile {
    /// The source that reads a device of the file.
    static func source(_ device: EdgeDeviceConfiguration, logger: Logger) throws -> any EdgeDeviceSource {
        switch device {
        case .modbus(let modbus):
            do { return try ModbusDeviceSource(modbus, logger: logger) } catch {
                throw ConfigurationError("device '\(modbus.device)': \(error)")
            }
        case .opcua(let server): return OPCUADeviceSource(server, logger: logger)
        }
    }

    static func load(_ path: String) throws -> EdgeConfiguration {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ConfigurationError("cannot read \(path)") }
        do {
            return try EdgeConfiguration.parse(text, file: path, environment: ProcessInfo.processInfo.environment) {
                try? String(contentsOfFile: $0, encoding: .utf8)
            }
        } catch {
            throw ConfigurationError(error.description)
        }
    }
}
