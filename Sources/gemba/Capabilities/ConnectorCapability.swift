import ArgumentParser
import Foundation
import GembaConnectors
import GembaCore
import GembaIngest
import Logging
import ServiceLifecycle
import Sparkplug
import Synchronization

/// `--edge-config`: the gateway's Modbus and OPC UA devices read by `gemba serve` itself, their
/// values going straight into the ingest pipeline (a small plant needs no separate gateway). The
/// file is the gateway's (`gemba edge check` checks it); the Sparkplug group and node name the site
/// and line of the machines, as they would through a gateway; no broker or buffer is used.
struct ConnectorCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: "Read the Modbus and OPC UA devices of this gateway configuration file into the pipeline. Env: GEMBA_EDGE_CONFIG.")
        var edgeConfig: String?
    }

    let service: ConnectorService?

    static func resolve(_ options: Options, _ settings: Settings) throws -> EdgeConfiguration? {
        guard let path = settings.string("edge-config", flag: options.edgeConfig) else { return nil }
        guard let text = try? String(contentsOfFile: path.value, encoding: .utf8) else {
            throw ConfigurationError("\(path.source): cannot read \(path.value)")
        }
        do {
            let configuration = try EdgeConfiguration.parse(text, file: path.value, environment: ProcessInfo.processInfo.environment,
                                                            forServe: true) { try? String(contentsOfFile: $0, encoding: .utf8) }
            guard configuration.devices.count > 0 else { throw ConfigurationError("\(path.value): no devices") }
            return configuration
        } catch let error as ConfigurationErrors {
            throw ConfigurationError(error.description)
        }
    }

    init(_ configuration: EdgeConfiguration?, telemetry: TelemetryCapability, logger: Logger) throws {
        guard let configuration else {
            service = nil
            return
        }
        let sources = try configuration.devices.map { try EdgeConfigurationFile.source($0, logger: logger) }
        let sink = try PipelineSink(pipeline: telemetry.pipeline, group: configuration.group, node: configuration.node, sources: sources,
                                    logger: logger)
        service = ConnectorService(sources: sources, sink: sink, logger: logger)
    }

    var services: [any Service] { service.map { [$0] } ?? [] }
}

/// Runs the connector sources into the pipeline until shutdown.
struct ConnectorService: Service {
    let sources: [any EdgeDeviceSource]
    let sink: PipelineSink
    let logger: Logger

    func run() async throws {
        let registry = SourceRegistry()
        for source in sources { registry.start(source, outlet: sink) }
        logger.info("Connectors reading devices", metadata: ["edge.devices": "\(sources.flatMap(\.devices).map(\.id))"])
        try? await gracefulShutdown()
        await registry.stopAll()
    }
}

/// Readings of the connectors' devices as points of the default tenant, submitted to the pipeline:
/// each device is the machine `<group>/<node>/<device>` (the Sparkplug host's mapping), each
/// reading a sample of its tag with its time, quality and unit. A full queue drops the readings
/// (counted by the pipeline as overloaded) and is logged once a minute: the devices keep being read.
final class PipelineSink: EdgeSink {
    private let pipeline: IngestPipeline
    private let machines: [String: AssetPath]
    private let units: [String: [String: String]]
    private let logger: Logger
    private let lastWarning = Mutex<Int64>(0)

    init(pipeline: IngestPipeline, group: String, node: String, sources: [any EdgeDeviceSource], logger: Logger) throws {
        self.pipeline = pipeline
        self.logger = logger
        var machines: [String: AssetPath] = [:]
        var units: [String: [String: String]] = [:]
        for (device, metrics) in sources.flatMap(\.devices) {
            do { machines[device] = try SparkplugAssetMapping.default.path(group: group, node: node, device: device) } catch {
                throw ConfigurationError("device '\(device)': \(error.message)")
            }
            units[device] = Dictionary(metrics.compactMap { metric in metric.unit.map { (metric.name, $0) } }, uniquingKeysWith: { first, _ in first })
        }
        self.machines = machines
        self.units = units
    }

    func update(device: String?, readings: [SparkplugEdgeNode.Reading]) {
        guard let device, let machine = machines[device] else { return }
        let units = units[device] ?? [:]
        let points = readings.compactMap { reading -> Point? in
            guard let tag = SparkplugAssetMapping.tagName(reading.name), let value = reading.value.sampleValue else { return nil }
            return Point(series: SeriesKey(tenant: .default, machine: machine, tag: tag),
                         sample: Sample(time: Timestamp(millisecondsSinceEpoch: Int64(clamping: reading.timestamp)), value: value,
                                        quality: reading.quality),
                         unit: units[reading.name])
        }
        guard !points.isEmpty else { return }
        let logger = logger
        let queued = pipeline.submit(points, source: .connector) { result in
            if case .failure(let error) = result { logger.warning("Connector values not stored", metadata: ["error": "\(error)"]) }
        }
        if !queued { warnOverloaded(points.count) }
    }

    private func warnOverloaded(_ count: Int) {
        let now = Timestamp.now().millisecondsSinceEpoch
        let due = lastWarning.withLock { last in
            guard now - last >= 60_000 else { return false }
            last = now
            return true
        }
        if due { logger.warning("Ingest queue full: connector values dropped", metadata: ["edge.dropped": "\(count)"]) }
    }
}
