import Foundation
import GembaAnalytics
import GembaCore
import GembaMaintenance
import GembaNotifications
import GembaRules
import GembaServer
import GembaSimulator
import Logging

/// What `gemba serve --demo` sets up besides the simulated machines, so OEE has real figures
/// from the first minutes: a three-shift calendar for the demo site, each machine's ideal
/// cycle time, and alarm rules that fire on the simulated factory. Settings and rules an
/// engineer has changed since are left alone.
enum DemoSetup {
    /// Three 8-hour shifts round the clock, every day, with a 30-minute break in each, in Berlin
    /// (in UTC on a machine without the time zone database).
    static func calendar() throws -> ShiftCalendar {
        let everyDay = Set(1...7)
        let zone = TimeZone(identifier: "Europe/Berlin") == nil ? "UTC" : "Europe/Berlin"
        return try ShiftCalendar(timeZone: zone, patterns: [
            .init(name: "Early", weekdays: everyDay, start: 6 * 60, end: 14 * 60, breaks: [(10 * 60)...(10 * 60 + 30)]),
            .init(name: "Late", weekdays: everyDay, start: 14 * 60, end: 22 * 60, breaks: [(18 * 60)...(18 * 60 + 30)]),
            .init(name: "Night", weekdays: everyDay, start: 22 * 60, end: 6 * 60, breaks: [(2 * 60)...(2 * 60 + 30)]),
        ])
    }

    static func configure(_ engine: OEEEngine, factory: FactorySimulator) async throws {
        for site in Set(factory.machines.map(\.path.site)) where try await engine.calendar(tenant: .default, site: site) == nil {
            try await engine.setCalendar(try calendar(), tenant: .default, site: site)
        }
        for machine in factory.machines
        where try await engine.store.setting(tenant: .default, kind: "machine", key: machine.path.description) == nil {
            var settings = MachineProductionSettings()
            settings.idealCycleTime = Int64((machine.idealCycleTime * 1000).rounded())
            try await engine.setSettings(settings, tenant: .default, machine: machine.path)
        }
    }

    /// Rules that fire on the simulated factory: worn spindles overheat, breakdowns last, OEE sags, sensors fall silent.
    static let rules: [String] = [
        #"{"id": "spindle-overheat", "name": "Spindle overheating", "condition": "spindle_temp > 70 for 1m clear < 66", "severity": "high", "required_tag": "spindle_temp", "escalation": [{"after": "10m", "severity": "critical"}]}"#,
        #"{"id": "long-breakdown", "name": "Breakdown longer than 5 minutes", "condition": "state in [breakdown] for 5m", "severity": "high", "escalation": [{"after": "15m", "severity": "critical"}]}"#,
        #"{"id": "line-oee-below-target", "name": "Line OEE below 60 % this shift", "condition": "line.oee < 0.6 for 10m clear >= 0.65", "severity": "medium"}"#,
        #"{"id": "sensor-silent", "name": "Spindle temperature not reported for 2 minutes", "condition": "no_data(spindle_temp, 2m)", "severity": "low", "required_tag": "spindle_temp", "suppress_when": []}"#,
    ]

    /// A log channel everyone can read (the dashboard's notification list, and a log line) and a
    /// policy sending it every alarm, unless an admin has made channels of their own.
    static func configure(_ notifier: Notifier) async throws {
        guard notifier.channels(tenant: .default).isEmpty else { return }
        _ = try await notifier.save(NotificationChannel(id: "floor-log", name: "Floor log", kind: .log, url: nil), tenant: .default)
        var policy = NotificationPolicy(id: "every-alarm", name: "Every alarm to the floor log", channels: ["floor-log"])
        policy.events += ["cleared"]
        _ = try await notifier.save(policy, tenant: .default)
    }

    /// The demo's detector: vibration while producing, on every machine, with its trend to the
    /// 7 mm/s a bearing fails at; a remaining life under 30 minutes proposes work.
    static let detectors = [
        DetectionEngine.Detector(id: "vibration", kind: .robust, tag: "vibration", threshold: 0.6, suppression: 3_600_000, propose: true,
                                 warmUp: 300, gate: .init(tag: "state", values: ["producing"]),
                                 failure: .init(threshold: 7, horizon: 1_800_000, window: 600_000, output: "")),
    ]

    /// The demo's multivariate detector: vibration, spindle temperature, power and speed of every
    /// machine together while it produces, its events explained by each signal's share.
    static let multivariate = DetectionEngine.Detector(id: "drive", signals: ["vibration", "spindle_temp", "power", "speed"], threshold: 0.8,
                                                       suppression: 3_600_000, gate: .init(tag: "state", values: ["producing"]))

    /// Once the simulated history is published, makes the multivariate detector's first version,
    /// trains it on that history (each machine's normal operation) and promotes it, as an engineer
    /// would in the registry.
    static func trainMultivariate(_ registry: DetectorRegistry, on span: Int64, logger: Logger) async {
        do {
            // The history's last samples are committed within moments of being published.
            try await Task.sleep(for: .seconds(3))
            guard try await registry.list(tenant: .default, detector: multivariate.id).isEmpty else { return }
            let version = try await registry.create(multivariate, note: "the demo's machines together, trained on the simulated history", by: "demo")
            let now = Timestamp.now().millisecondsSinceEpoch
            _ = try await registry.train(tenant: .default, detector: multivariate.id, version: version.version, range: (now - span)..<now, by: "demo")
            _ = try await registry.act(.promote, tenant: .default, detector: multivariate.id, version: version.version)
            logger.info("demo multivariate detector trained and promoted", metadata: ["detector": "\(multivariate.id)"])
        } catch {
            logger.warning("the demo's multivariate detector was not trained", metadata: ["error": "\(error)"])
        }
    }

    /// The machine whose bearing starts failing half a minute into the live demo: its vibration
    /// drifts up until it breaks down some 20 minutes later, unless maintenance comes first.
    static func failingBearing(_ factory: FactorySimulator) -> AssetPath { factory.machines[min(1, factory.machines.count - 1)].path }

    /// The simulated machines stop for maintenance while their work orders are in progress, and
    /// come back as good as new when the work is done.
    static func stopForWork(_ service: MaintenanceService, control: SimulationControl, machines: Set<AssetPath>) {
        service.onChange { tenant, order in
            guard tenant == .default, machines.contains(order.machine) else { return }
            switch order.status {
            case .inProgress: control.send(.maintain(order.machine, starting: true))
            case .done, .cancelled: control.send(.maintain(order.machine, starting: false))
            default: break
            }
        }
    }

    static func configure(_ engine: AlarmEngine) async throws {
        let existing = Set(engine.rules(tenant: .default).map(\.id))
        for document in rules {
            let rule = try RuleDocument.decode(Data(document.utf8))
            guard !existing.contains(rule.id) else { continue }
            _ = try await engine.save(rule, tenant: .default, by: "demo")
        }
    }
}
