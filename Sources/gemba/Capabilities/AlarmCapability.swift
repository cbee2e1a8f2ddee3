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
/// clock (four times a second while delays, missing-data watches or shelves run, else once), its changes written with their
/// journal lines and notifications in one transaction; rules reading shift KPIs get them from the
/// OEE engine every 30 seconds; the notifier works through the outbox. On a store that several
/// nodes may share (PostgreSQL), only the singleton node evaluates, from the store's sample feed
/// (every committed sample of the tags rules read, whichever node took it); the others follow
/// (``AlarmCluster``).
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
    /// The store's sample feed, when only the singleton node evaluates (from it).
    let feed: (any SampleFeedStore)?
    let singleton: SingletonGate
    let store: any TelemetryStore
    let logger: Logger

    /// MQTT channels without a URL publish through `broker`, the server's own.
    init(_ resolved: Resolved, telemetry: TelemetryCapability, oee: OEECapability, broker: MQTTBroker, logger: Logger) async throws {
        let router = NotificationRouter(baseURL: resolved.publicURL)
        let notifier = Notifier(store: telemetry.store, box: try SecretBox.open(directory: telemetry.dataDirectory), router: router,
                                configuration: resolved.configuration, embeddedBroker: EmbeddedBrokerPublisher(broker: broker), logger: logger)
        try await notifier.load()
        self.notifier = notifier
        let feed = telemetry.store as? any SampleFeedStore
        engine = AlarmEngine.attached(to: telemetry.pipeline, store: telemetry.store, router: router, fed: feed != nil, logger: logger)
        try await engine?.start(store: telemetry.store)
        // Fed: following until this node holds the singleton lock (the alarm pass then reads the store anew).
        if feed != nil { engine?.follow() }
        self.feed = feed
        self.oee = oee.engine
        singleton = telemetry.singleton
        store = telemetry.store
        self.logger = logger
        // A following node's alarm pass sleeps until the lead changes (see `feedPass`).
        if feed != nil, let engine { singleton.whenLeadershipChanges(engine.changes.signal) }
    }

    var services: [any Service] {
        guard let engine else { return [] }
        let notifier = self.notifier
        var services: [any Service] = []
        if let feed {
            services.append(PeriodicService("alarm evaluation", every: .zero, lastPass: true, logger: logger) { [singleton, store, logger] in
                if try await Self.feedPass(engine, feed, leading: { singleton.mayRun }, store: store, logger: logger) { notifier?.queued.signal() }
            })
        } else {
            // Four ticks a second while timers run (once a second while none does); changes (and their notifications) are written as soon as they are made.
            services.append(PeriodicService("alarm clock", every: .zero, lastPass: true, logger: logger) {
                if try await engine.clockPass() { notifier?.queued.signal() }
            })
        }
        if let oee {
            services.append(PeriodicService("alarm KPIs", every: .seconds(30), logger: logger) {
                if engine.isEvaluating { try await Self.refreshKPIs(engine, oee) }
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

    /// One pass on a fed engine, four times a second on the leading node (at once when something
    /// changed): the node that took the singleton lock reads the store anew (but for the latest
    /// samples of series still in the feed, which it replays in order) and evaluates from then on;
    /// one that lost it follows. A following node waits for the lead to change (which signals
    /// `changes`), checking every ``followingCheck`` only in case. Answers whether notifications
    /// were written.
    static func feedPass(_ engine: AlarmEngine, _ feed: any SampleFeedStore, leading: () -> Bool, store: any TelemetryStore,
                         logger: Logger) async throws -> Bool {
        await engine.changes.wait(upTo: leading() ? .milliseconds(250) : followingCheck)
        guard leading() else {
            if engine.isEvaluating {
                engine.follow()
                logger.notice("another node evaluates the alarm rules now")
            }
            return false
        }
        if !engine.isEvaluating {
            let pending = try await feed.pendingFeed(limit: 10_000)
            try await engine.start(store: store, unevaluated: Set(pending.flatMap { $0.samples.map(\.key) }))
            engine.lead()
            logger.notice("this node evaluates the alarm rules (from every node's committed samples)")
        }
        return try await engine.feedPass(feed)
    }

    /// How long a following node's alarm pass sleeps when nothing wakes it.
    static let followingCheck = Duration.seconds(5)

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
