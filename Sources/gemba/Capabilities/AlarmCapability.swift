import ArgumentParser
import GembaAnalytics
import GembaCore
import GembaIngest
import GembaNotifications
import GembaRules
import GembaServer
import GembaStorage
import Logging
import MQTTBroker
import MQTTCodec
import NIOCore
import ServiceLifecycle

/// Rules, alarms and notifications: every rule instance is evaluated on the live samples and on a
/// clock (four times a second: delays, missing data, shelves), its changes written with their
/// journal lines and notifications in one transaction; rules reading shift KPIs get them from the
/// OEE engine every 30 seconds; the notifier works through the outbox.
struct AlarmCapability: Capability {
    struct Options: ParsableArguments {
        @Flag(help: "Let webhooks call loopback and private addresses (refused by default: SSRF). Env: GEMBA_NOTIFY_ALLOW_PRIVATE_NETWORKS=true.")
        var notifyAllowPrivateNetworks = false

        @Option(help: "Delays between delivery attempts, comma-separated (default 5s,5m,30m,2h,5h,10h,10h, Standard Webhooks'). Env: GEMBA_NOTIFY_RETRY_SCHEDULE.")
        var notifyRetrySchedule: String?

        @Option(help: "How long one delivery attempt may take (default 10s). Env: GEMBA_NOTIFY_TIMEOUT.")
        var notifyTimeout: String?

        @Option(help: "Where people open the dashboard, for links in notifications (default http://localhost:8080). Env: GEMBA_PUBLIC_URL.")
        var publicURL: String?
    }

    struct Resolved {
        var configuration: Notifier.Configuration
        var publicURL: String
    }

    static func resolve(_ options: Options, _ settings: Settings) throws -> Resolved {
        var configuration = Notifier.Configuration()
        let allow = settings.string("notify-allow-private-networks", flag: options.notifyAllowPrivateNetworks ? "true" : nil)
        guard allow == nil || ["true", "false", "1", "0"].contains(allow!.value) else {
            throw ConfigurationError("\(allow!.source) must be true or false, got '\(allow!.value)'")
        }
        configuration.network = NetworkGuard(allowPrivateNetworks: allow.map { $0.value == "true" || $0.value == "1" } ?? false)
        if let (raw, source) = settings.string("notify-retry-schedule", flag: options.notifyRetrySchedule) {
            let delays = raw.split(separator: ",").map { RuleText.parseDuration($0.trimmingCharacters(in: .whitespaces)) }
            guard !delays.isEmpty, delays.count <= 20, delays.allSatisfy({ $0 != nil }) else {
                throw ConfigurationError("\(source) must be up to 20 durations separated by commas (5s,5m,30m), got '\(raw)'")
            }
            configuration.schedule = RetrySchedule(delays: delays.map { $0! })
        }
        if let (raw, source) = settings.string("notify-timeout", flag: options.notifyTimeout) {
            guard let timeout = RuleText.parseDuration(raw), timeout >= 1000, timeout <= 300_000 else {
                throw ConfigurationError("\(source) must be a duration from 1s to 5m, got '\(raw)'")
            }
            configuration.timeout = .milliseconds(timeout)
        }
        let url = settings.string("public-url", flag: options.publicURL)
        guard url.map({ $0.value.hasPrefix("http://") || $0.value.hasPrefix("https://") }) ?? true else {
            throw ConfigurationError("\(url!.source) must be an http or https URL, got '\(url!.value)'")
        }
        return Resolved(configuration: configuration, publicURL: url.map { String($0.value.trimmingSuffix("/")) } ?? "http://localhost:8080")
    }

    /// Nil when the store keeps no alarms (the alarm routes then answer 503).
    let engine: AlarmEngine?
    let notifier: Notifier?
    let oee: OEEEngine?
    let logger: Logger

    /// MQTT channels without a URL publish through `broker`, the server's own.
    init(_ resolved: Resolved, telemetry: TelemetryCapability, oee: OEECapability, broker: MQTTBroker, logger: Logger) async throws {
        let router = NotificationRouter(baseURL: resolved.publicURL)
        let notifier = Notifier(store: telemetry.store, box: try SecretBox.open(directory: telemetry.dataDirectory), router: router,
                                configuration: resolved.configuration, embeddedBroker: EmbeddedBrokerPublisher(broker: broker), logger: logger)
        try await notifier.load()
        self.notifier = notifier
        engine = AlarmEngine.attached(to: telemetry.pipeline, store: telemetry.store, router: router, logger: logger)
        try await engine?.start(store: telemetry.store)
        self.oee = oee.engine
        self.logger = logger
    }

    var services: [any Service] {
        guard let engine else { return [] }
        let notifier = self.notifier
        var services: [any Service] = [
            // Four ticks a second for timers; changes (and their notifications) are written as soon as they are made.
            PeriodicService("alarm clock", every: .zero, lastPass: true, logger: logger) {
                if try await engine.clockPass() { notifier?.queued.signal() }
            },
        ]
        if let oee {
            services.append(PeriodicService("alarm KPIs", every: .seconds(30), logger: logger) {
                try await Self.refreshKPIs(engine, oee)
            })
        }
        if let notifier { services.append(notifier) }
        return services
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.alarms] }

    func configure(_ server: inout ServerContext) {
        server.alarms = engine
        server.notifications = notifier
    }

    /// Gives the rules that read shift KPIs their current-shift figures: each machine's own, and each
    /// watched line's and site's over its machines.
    static func refreshKPIs(_ engine: AlarmEngine, _ oee: OEEEngine) async throws {
        for entry in engine.assetsReadingKPIs() {
            let values = try await oee.ruleKPIs(tenant: entry.tenant, machines: entry.machines)
            engine.setKPIs(values, tenant: entry.tenant, asset: entry.asset, level: entry.level)
        }
        try await refreshShifts(engine, oee)
    }

    /// Gives the rules that apply during shifts only the shifts of each machine's site calendar, from
    /// an hour ago to a day ahead (the engine then acts at each shift's start and end by itself).
    static func refreshShifts(_ engine: AlarmEngine, _ oee: OEEEngine) async throws {
        let now = Timestamp.now().millisecondsSinceEpoch
        let window = (now - 3_600_000)..<(now + 26 * 3_600_000)
        for (site, machines) in Dictionary(grouping: engine.machinesOnShiftRules(), by: { SiteKey(tenant: $0.tenant, site: $0.machine.site) }) {
            let calendar = try await oee.calendar(tenant: site.tenant, site: site.site) ?? .roundTheClock
            let shifts = calendar.shifts(overlapping: window).map(\.interval)
            for entry in machines { engine.setShifts(shifts, tenant: entry.tenant, machine: entry.machine) }
        }
    }

    private struct SiteKey: Hashable {
        var tenant: TenantID
        var site: String
    }
}

/// Notifications published into the embedded broker, to its subscribers (andon lights, PLCs).
private struct EmbeddedBrokerPublisher: MQTTPublishing {
    let broker: MQTTBroker

    func publish(topic: String, payload: String, qos: Int, retain: Bool) async throws {
        try await broker.publish(topic: topic, payload: ByteBuffer(string: payload), qos: qos == 1 ? .atLeastOnce : .atMostOnce, retain: retain)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> Substring {
        hasSuffix(suffix) ? dropLast(suffix.count) : Substring(self)
    }
}
