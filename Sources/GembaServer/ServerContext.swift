public import GembaCore
public import GembaIngest
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

    public init(store: any TelemetryStore, pipeline: IngestPipeline, hub: LiveHub,
                validation: SampleValidation = SampleValidation(), maxIngestBytes: Int = 16 << 20,
                readinessChecks: [String: @Sendable () async -> Bool] = [:], metrics: (@Sendable () -> [UInt8])? = nil,
                logger: Logger) {
        self.store = store
        self.pipeline = pipeline
        self.hub = hub
        self.jsonDecoder = JSONRecordDecoder(validation: validation)
        self.lineDecoder = LineProtocolDecoder(validation: validation)
        self.maxIngestBytes = maxIngestBytes
        self.readinessChecks = readinessChecks
        self.metrics = metrics
        self.logger = logger
    }
}
