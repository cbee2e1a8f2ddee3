import ArgumentParser
import Foundation
import GembaServer
import Logging
import MQTTClient
import ServiceLifecycle
import Sparkplug

/// The Sparkplug B primary host: births, data and deaths from edge nodes into the pipeline, on the
/// embedded broker (the MQTT capability carries it there) and on external brokers; writes to
/// machines (`POST /api/v1/commands`) as NCMD/DCMD.
struct SparkplugCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: "Sparkplug host id: STATE is published on spBv1.0/STATE/<id> (default gemba). Env: GEMBA_SPARKPLUG_HOST_ID.")
        var sparkplugHostId: String?

        @Option(help: "Where Sparkplug ids land: a 3- or 4-segment path template over {group}, {node}, {device} (default {group}/{node}/{device}). Env: GEMBA_SPARKPLUG_PATH.")
        var sparkplugPath: String?

        @Option(help: "Machine name that holds an edge node's own metrics, in place of {device} (default _node). Env: GEMBA_SPARKPLUG_NODE_MACHINE.")
        var sparkplugNodeMachine: String?

        @Option(help: "How long a Sparkplug seq gap may wait for the missing message before a rebirth is requested, ms (default 2000). Env: GEMBA_SPARKPLUG_REORDER_TIMEOUT.")
        var sparkplugReorderTimeout: Int?

        @Option(help: "Shortest time between two rebirth requests to one edge node, ms (default 5000). Env: GEMBA_SPARKPLUG_REBIRTH_INTERVAL.")
        var sparkplugRebirthInterval: Int?

        @Option(help: "Also be the Sparkplug primary host on an external broker, mqtt://[user:pass@]host[:port]; repeatable for redundant brokers. Env: GEMBA_SPARKPLUG_UPSTREAM (comma-separated).")
        var sparkplugUpstream: [String] = []
    }

    let host: SparkplugHostService
    let upstreams: [MQTTClientConfiguration]
    /// On PostgreSQL, the node running the singleton jobs is the host on external brokers.
    let singleton: SingletonGate
    let logger: Logger

    /// The validated settings.
    struct Resolved {
        var configuration: SparkplugHostService.Configuration
        var upstreams: [MQTTClientConfiguration]
    }

    static func resolve(_ options: Options, _ settings: Settings) throws -> Resolved {
        var configuration = SparkplugHostService.Configuration()
        if let hostID = settings.string("sparkplug-host-id", flag: options.sparkplugHostId) {
            do {
                _ = try SparkplugTopic(parsing: SparkplugHostState.topic(host: hostID.value))
            } catch {
                throw ConfigurationError("\(hostID.source): \(error.reason)")
            }
            configuration.hostID = hostID.value
        }
        let template = settings.string("sparkplug-path", flag: options.sparkplugPath)
        let nodeMachine = settings.string("sparkplug-node-machine", flag: options.sparkplugNodeMachine)
        do {
            configuration.host.mapping = try SparkplugAssetMapping(template: template?.value ?? "{group}/{node}/{device}",
                                                                   nodeMachine: nodeMachine?.value ?? "_node")
        } catch {
            throw ConfigurationError("\(template?.source ?? nodeMachine?.source ?? "--sparkplug-path"): \(error.message)")
        }
        configuration.host.reorderTimeout = Int64(try settings.int(
            "sparkplug-reorder-timeout", flag: options.sparkplugReorderTimeout, default: 2_000, range: 0...600_000))
        configuration.host.rebirthInterval = Int64(try settings.int(
            "sparkplug-rebirth-interval", flag: options.sparkplugRebirthInterval, default: 5_000, range: 0...3_600_000))
        let fromEnvironment = ProcessInfo.processInfo.environment["GEMBA_SPARKPLUG_UPSTREAM"]?
            .split(separator: ",").map { (String($0), "GEMBA_SPARKPLUG_UPSTREAM") } ?? []
        let upstreams = try (options.sparkplugUpstream.map { ($0, "--sparkplug-upstream") } + fromEnvironment).map {
            try BrokerURL.parse($0.0, source: $0.1)
        }
        return Resolved(configuration: configuration, upstreams: upstreams)
    }

    init(_ resolved: Resolved, telemetry: TelemetryCapability, logger: Logger) {
        var configuration = resolved.configuration
        configuration.validation = telemetry.validation
        host = SparkplugHostService(configuration: configuration, pipeline: telemetry.pipeline, logger: logger)
        singleton = telemetry.singleton
        // One host id for the cluster, but a client id per node: a node taking over must not take
        // the session of one that is still connected (its will would then say offline).
        upstreams = resolved.upstreams.map { upstream in
            guard telemetry.singleton.leadership != nil, upstream.clientID.isEmpty else { return upstream }
            var upstream = upstream
            upstream.clientID = UpstreamClientID.make(dataDirectory: telemetry.dataDirectory, prefix: "gemba-sparkplug-\(configuration.hostID)")
            return upstream
        }
        self.logger = logger
    }

    var services: [any Service] {
        [host] + upstreams.enumerated().map { index, upstream in
            SparkplugUpstream(configuration: upstream, connection: index + 1, service: host,
                              mayRun: { [singleton] in singleton.mayRun }, logger: logger)
        }
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.commands] }

    func configure(_ server: inout ServerContext) { server.sparkplug = host }
}
