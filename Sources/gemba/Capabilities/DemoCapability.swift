import ArgumentParser
import GembaCore
import GembaSimulator
import Logging
import ServiceLifecycle

/// `--demo`: a simulated factory publishing into the embedded broker, with a shift calendar and
/// ideal cycle times so OEE has figures from the first minutes, and (fresh) a day of history.
/// Half a minute into live publishing one machine's bearing starts failing (the golden path of
/// predictive maintenance), and machines stop for their work orders while the work runs.
struct DemoCapability: Capability {
    struct Options: ParsableArguments {
        @Flag(help: "Also run a simulated factory that publishes into the embedded broker.")
        var demo = false

        @Option(help: "Machines in the demo factory (default 12). Env: GEMBA_DEMO_MACHINES.")
        var demoMachines: Int?

        @Option(help: "Hours of simulated history a fresh demo starts with (default 24, 0 for none). Env: GEMBA_DEMO_HISTORY_HOURS.")
        var demoHistoryHours: Int?
    }

    let publisher: SimulationPublisher?

    /// The validated settings.
    struct Resolved {
        var enabled: Bool
        var machines: Int
        var historyHours: Int
    }

    static func resolve(_ options: Options, _ settings: Settings) throws -> Resolved {
        Resolved(enabled: options.demo,
                 machines: try settings.int("demo-machines", flag: options.demoMachines, default: 12, range: 1...100_000),
                 historyHours: try settings.int("demo-history-hours", flag: options.demoHistoryHours, default: 24, range: 0...168))
    }

    init(_ resolved: Resolved, telemetry: TelemetryCapability, mqtt: MQTTCapability, oee: OEECapability, alarms: AlarmCapability,
         maintenance: MaintenanceCapability, detection: DetectionCapability, logger: Logger) async throws {
        let history = resolved.historyHours
        guard resolved.enabled else {
            publisher = nil
            return
        }
        let factory = FactorySimulator(seed: 42, machineCount: resolved.machines)
        if let engine = oee.engine { try await DemoSetup.configure(engine, factory: factory) }
        if let engine = alarms.engine { try await DemoSetup.configure(engine) }
        if let notifier = alarms.notifier { try await DemoSetup.configure(notifier) }
        var publisher = SimulationPublisher(factory: factory, target: .embedded(mqtt.broker), interval: .seconds(1), qos: .atLeastOnce,
                                            logger: logger)
        // A fresh demo starts with a simulated day behind it, so every OEE view has shifts to show at once.
        if history > 0, try await telemetry.store.machines(tenant: .default).isEmpty {
            publisher.history = (.seconds(3600 * history), .seconds(15))
            if let registry = detection.registry {
                let span = Int64(history) * 3_600_000
                publisher.onLive = { await DemoSetup.trainMultivariate(registry, on: span, logger: logger) }
            }
        }
        publisher.script = [(.seconds(30), .inject(.vibrationDrift, DemoSetup.failingBearing(factory)))]
        if let service = maintenance.service {
            DemoSetup.stopForWork(service, control: publisher.control, machines: Set(factory.machines.map(\.path)))
        }
        self.publisher = publisher
    }

    var services: [any Service] { publisher.map { [$0] } ?? [] }
}
