public import GembaAccess
public import GembaAnalytics
internal import GembaCore
public import GembaIngest
public import GembaRules
public import GembaNotifications
public import GembaMaintenance
public import GembaStorage
public import Logging

/// Everything the HTTP routes work with, shared by all requests.
public struct ServerContext: Sendable {
    public var store: any TelemetryStore
    public var pipeline: IngestPipeline
    public var hub: LiveHub
    public var jsonDecoder: JSONRecordDecoder
    public var lineDecoder: LineProtocolDecoder
    /// Largest ingest body accepted, after decompression, in bytes.
    public var maxIngestBytes: Int
    /// Extra readiness checks (e.g. the MQTT broker listening), by name.
    public var readinessChecks: [String: @Sendable () async -> Bool]
    /// Renders `/metrics`; nil disables the route.
    public var metrics: (@Sendable () -> [UInt8])?
    public var logger: Logger
    /// Authentication, sessions, keys, devices and the audit log.
    public var access: AccessService
    /// Whether `/metrics` answers without credentials (for a Prometheus scraper on a trusted network).
    public var publicMetrics = true
    /// The Sparkplug host, which carries writes to edge nodes (`POST …/tags/{tag}/write`); none: writes answer 503.
    public var sparkplug: SparkplugHostService?
    /// Origins allowed to call the API from a browser (CORS); none by default.
    public var allowedOrigins: Set<String> = []
    /// Whether the server speaks HTTPS (then HSTS is sent).
    public var tls = false
    /// States, downtime and OEE (``OEEEngine/attached(to:store:logger:)``); nil: those routes answer 503.
    public var oee: OEEEngine?

    /// The OEE engine, or 503 when this store keeps no OEE data (for routes that need it).
    func requireOEE() throws -> OEEEngine {
        guard let oee else { throw Problem(.serviceUnavailable, "this store keeps no OEE data") }
        return oee
    }

    /// Rules and alarms (``AlarmEngine/attached(to:store:logger:)``); nil: those routes answer 503.
    public var alarms: AlarmEngine?
    /// Notification channels, policies and deliveries; nil: those routes answer 503.
    public var notifications: Notifier?
    /// Maintenance work orders and their decisions; nil: those routes answer 503.
    public var maintenance: MaintenanceService?
    /// Preventive plans; nil: those routes answer 503.
    public var plans: PlanScheduler?
    /// Escalation of work orders waiting for a decision; nil (no notifier): those routes answer 503.
    public var escalator: ProposalEscalator?
    /// The anomaly detectors on the live stream; nil when none is configured.
    public var detection: DetectionEngine?
    /// The detectors' versions (train, evaluate, shadow, promote, roll back); nil: those routes answer 503.
    public var detectorRegistry: DetectorRegistry?
    /// The embedded broker's topic rules; nil (no broker): those routes answer 503.
    public var topicRules: BrokerTopicRules?
    /// Tells the other nodes of the same database about a machine retired, moved or deleted
    /// through this one; nil on a single node.
    public var announceAssetChange: (@Sendable (AssetChange) async -> Void)?

    public init(store: any TelemetryStore, pipeline: IngestPipeline, hub: LiveHub, access: AccessService,
                validation: SampleValidation = SampleValidation(), maxIngestBytes: Int = 16 << 20,
                readinessChecks: [String: @Sendable () async -> Bool] = [:], metrics: (@Sendable () -> [UInt8])? = nil,
                logger: Logger) {
        self.store = store
        self.pipeline = pipeline
        self.hub = hub
        self.access = access
        self.jsonDecoder = JSONRecordDecoder(validation: validation)
        self.lineDecoder = LineProtocolDecoder(validation: validation)
        self.maxIngestBytes = maxIngestBytes
        self.readinessChecks = readinessChecks
        self.metrics = metrics
        self.logger = logger
    }
}

extension ServerContext {
    /// Records what a request changed, beside the request itself (the audit middleware logs the call and its status).
    func audit(_ context: GembaRequestContext, _ action: String, target: String, detail: String) async {
        let caller = context.caller
        await access.record(AuditEvent(
            tenant: context.tenant, time: Timestamp.now(), actorKind: caller?.kind.rawValue ?? "anonymous", actorID: caller?.id ?? "",
            actorName: caller?.name ?? "", action: action, target: target, outcome: "ok", sourceIP: context.clientIP,
            requestID: context.requestID, detail: detail))
    }
}
