import ArgumentParser
import Foundation
import GembaServer
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// `gemba serve`: runs the platform's services in one ServiceGroup until SIGINT/SIGTERM.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Gemba platform: embedded MQTT broker, storage, ingest, HTTP/WebSocket API.")

    @OptionGroup var common: CommonOptions
    @OptionGroup(title: "Storage and ingest") var telemetry: TelemetryCapability.Options
    @OptionGroup(title: "Access") var access: AccessCapability.Options
    @OptionGroup(title: "MQTT broker") var mqtt: MQTTCapability.Options
    @OptionGroup(title: "Sparkplug host") var sparkplug: SparkplugCapability.Options
    @OptionGroup(title: "Alarms and notifications") var alarms: AlarmCapability.Options
    @OptionGroup(title: "HTTP API") var http: HTTPCapability.Options
    @OptionGroup(title: "Demo") var demo: DemoCapability.Options
    @OptionGroup(title: "Connectors (Modbus, OPC UA)") var connectors: ConnectorCapability.Options
    @OptionGroup(title: "Anomaly detectors") var detection: DetectionCapability.Options
    @OptionGroup(title: "Scheduled backups") var backups: BackupCapability.Options

    /// The composition root: every capability's settings are validated first, then each builds its
    /// part on the ones before it; the services start in this order and stop in reverse (storage last).
    func run() async throws {
        let settings = try common.settings()
        let logger = try common.bootstrapLogging(settings)
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))

        // Every capability's settings first: a bad value stops here, before anything is opened or created.
        let telemetrySettings = try TelemetryCapability.resolve(telemetry, settings)
        let accessSettings = try AccessCapability.resolve(access, settings)
        let sparkplugSettings = try SparkplugCapability.resolve(sparkplug, settings)
        let mqttSettings = try MQTTCapability.resolve(mqtt, settings, dataDirectory: telemetrySettings.dataDirectory)
        let alarmSettings = try AlarmCapability.resolve(alarms, settings)
        let httpSettings = try HTTPCapability.resolve(http, settings)
        let demoSettings = try DemoCapability.resolve(demo, settings)
        let connectorSettings = try ConnectorCapability.resolve(connectors, settings)
        let detectionSettings = try DetectionCapability.resolve(detection, settings, demo: demoSettings.enabled)
        let backupSettings = try BackupCapability.resolve(backups, settings)

        // While the database is waited for and migrated, the HTTP port already answers: alive, not ready.
        let probe = try startupProbe(telemetrySettings, httpSettings, logger: logger)
        let telemetry: TelemetryCapability
        do {
            telemetry = try await TelemetryCapability(telemetrySettings, logger: logger)
        } catch {
            await probe?.stop()
            throw error
        }
        let access = try await AccessCapability(accessSettings, telemetry: telemetry, demo: demoSettings.enabled, logger: logger)
        let sparkplug = SparkplugCapability(sparkplugSettings, telemetry: telemetry, logger: logger)
        let mqtt = try await MQTTCapability(mqttSettings, telemetry: telemetry, access: access, sparkplug: sparkplug, demo: demoSettings.enabled,
                                  logger: logger)
        let oee = try await OEECapability(telemetry: telemetry, logger: logger)
        let alarms = try await AlarmCapability(alarmSettings, telemetry: telemetry, oee: oee, broker: mqtt.broker, logger: logger)
        let cluster = ClusterCapability(telemetry: telemetry, oee: oee, alarms: alarms, logger: logger)
        let maintenance = MaintenanceCapability(telemetry: telemetry, oee: oee, alarms: alarms, logger: logger)
        let detection = try await DetectionCapability(detectionSettings, telemetry: telemetry, maintenance: maintenance, logger: logger)
        let demo = try await DemoCapability(demoSettings, telemetry: telemetry, mqtt: mqtt, oee: oee, alarms: alarms, maintenance: maintenance,
                                            detection: detection, logger: logger)
        let connector = try ConnectorCapability(connectorSettings, telemetry: telemetry, logger: logger)
        let backup = try BackupCapability(backupSettings, telemetry: telemetry, logger: logger)
        let capabilities: [any Capability] = [telemetry, access, sparkplug, mqtt, oee, alarms, cluster, maintenance, demo, connector, detection,
                                             backup]
        let http = try HTTPCapability(httpSettings, capabilities: capabilities, telemetry: telemetry, access: access,
                                      metrics: metrics, started: { url in
            logger.notice("Gemba is running", metadata: [
                "http.url": "\(url)", "mqtt.port": "\(mqtt.broker.port ?? mqtt.configuration.port)", "storage": "\(telemetry.storageDescription)",
            ])
        }, logger: logger)

        await probe?.stop()
        let services = (capabilities + [http]).flatMap(\.services)
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ConfigurationError("MQTT port \(mqtt.ports) or HTTP port \(http.port) is already in use")
        }
    }

    /// The probe answering on the HTTP port while a PostgreSQL database is awaited (SQLite opens at
    /// once, and a port chosen by the system would not be the server's).
    private func startupProbe(_ telemetry: TelemetryCapability.Resolved, _ http: HTTPCapability.Resolved,
                              logger: Logger) throws -> StartupProbe? {
        guard telemetry.postgres != nil, http.port != 0 else { return nil }
        return try StartupProbe(host: http.host, port: http.port, tls: http.tls, waitingFor: "storage", logger: logger)
    }
}
