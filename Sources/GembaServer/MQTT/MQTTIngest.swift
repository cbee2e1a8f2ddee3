public import GembaCore
public import GembaIngest
public import Logging
public import MQTTBroker
public import NIOCore
internal import Synchronization

/// Turns MQTT messages under `gemba/v1/` into pipeline submissions, for the embedded broker and
/// for upstream brokers alike. Bad payloads are logged (rate-limited) and counted; they never
/// cost the publisher its connection.
public final class MQTTIngest: PublishReceiver, Sendable {
    private let pipeline: IngestPipeline
    private let decoder: JSONRecordDecoder
    private let tenant: TenantID
    private let logger: Logger
    private let throttle = LogThrottle(perSecond: 10)

    public init(pipeline: IngestPipeline, decoder: JSONRecordDecoder = JSONRecordDecoder(), tenant: TenantID = .default,
                logger: Logger) {
        self.pipeline = pipeline
        self.decoder = decoder
        self.tenant = tenant
        self.logger = logger
    }

    /// Decodes and submits one message; `done` runs after the commit (at once for other topics and bad payloads).
    public func handle(topic: String, payload: ByteBuffer, tenant: TenantID? = nil,
                       done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard topic.hasPrefix(JSONRecordDecoder.topicPrefix) else {
            done(.success(()))
            return
        }
        let decoded = decoder.decodeMQTT(topic: topic, payload: payload.readableBytesView, tenant: tenant ?? self.tenant,
                                         now: Timestamp.now())
        if !decoded.errors.isEmpty {
            pipeline.countRejected(decoded.errors, source: .mqtt)
            if let suppressed = throttle.allow() {
                logger.warning("rejected MQTT telemetry", metadata: [
                    "mqtt.topic": "\(topic)", "ingest.error": "\(decoded.errors[0].message)",
                    "ingest.rejected": "\(decoded.errors.count)", "log.suppressed": "\(suppressed)",
                ])
            }
        }
        guard !decoded.points.isEmpty else {
            done(.success(()))
            return
        }
        pipeline.submit(decoded.points, source: .mqtt, force: true) { result in
            done(result.map { _ in () })
        }
    }

    public func receive(_ message: ReceivedMessage, done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        // Messages of authenticated clients belong to their tenant; anonymous ones to this receiver's.
        let tenant = message.principal.attributes["tenant"].flatMap(TenantID.init)
        handle(topic: message.message.topic, payload: message.message.payload, tenant: tenant, done: done)
    }

    public var isSaturated: Bool { pipeline.isSaturated }

    public func whenReady(_ resume: @escaping @Sendable () -> Void) { pipeline.whenDrained(resume) }
}

/// Lets at most `perSecond` log lines through per second and counts the rest.
final class LogThrottle: Sendable {
    private let perSecond: Int
    private let state = Mutex((second: Int64(0), count: 0, suppressed: 0))

    init(perSecond: Int) { self.perSecond = perSecond }

    /// The number of lines suppressed since the last allowed one, or nil when this one is suppressed too.
    func allow() -> Int? {
        let second = Timestamp.now().millisecondsSinceEpoch / 1000
        return state.withLock { state in
            if state.second != second { state = (second, 0, state.suppressed) }
            guard state.count < perSecond else {
                state.suppressed += 1
                return nil
            }
            state.count += 1
            defer { state.suppressed = 0 }
            return state.suppressed
        }
    }
}
