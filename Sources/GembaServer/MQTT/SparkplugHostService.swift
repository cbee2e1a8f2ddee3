public import GembaCore
public import GembaIngest
public import Logging
internal import Metrics
public import NIOCore
public import ServiceLifecycle
public import Sparkplug
internal import Synchronization

/// Where the host publishes on one broker connection: commands to edge nodes and its STATE.
public protocol SparkplugBrokerLink: Sendable {
    func publish(topic: String, payload: [UInt8], qos: Int, retain: Bool) async throws
}

/// Gemba's Sparkplug B primary host application: the I/O shell around ``SparkplugHost``.
///
/// Every broker connection (the embedded broker is connection 0, upstream brokers 1…) hands its
/// `spBv1.0/` messages to ``handle(topic:payload:tenant:connection:done:)``; the service stores
/// the points the core yields through the ingest pipeline, publishes its commands on the
/// connection the node was last seen on, logs and counts its events, and closes reorder gaps
/// as time passes. Writes from the API become NCMD/DCMD messages (``write(tenant:machine:tag:value:)``).
public final class SparkplugHostService: Service, Sendable {
    public struct Configuration: Sendable {
        /// The Sparkplug host id: STATE goes to `spBv1.0/STATE/<hostID>`.
        public var hostID = "gemba"
        public var host = SparkplugHost.Configuration()
        public var validation = SampleValidation()

        public init() {}
    }

    public let configuration: Configuration
    private let core: Mutex<SparkplugHost>
    private struct Link: Sendable {
        let link: any SparkplugBrokerLink
        let birth: UInt64
    }

    private let links = Mutex<[Int: Link]>([:])
    /// Signalled when a reorder gap opens, so ``run()`` waits for the nearer deadline.
    private let gapDeadlineChanged = Wakeup()
    private let pipeline: IngestPipeline
    private let logger: Logger
    private let throttle = LogThrottle(perSecond: 10)
    private let messages = Counter(label: "gemba_sparkplug_messages_total")
    private let events: [SparkplugEvent.Kind: Counter]

    public init(configuration: Configuration, pipeline: IngestPipeline, logger: Logger) {
        self.configuration = configuration
        self.core = Mutex(SparkplugHost(configuration: configuration.host))
        self.stateTopic = SparkplugHostState.topic(host: configuration.hostID)
        self.pipeline = pipeline
        self.logger = logger
        self.events = Dictionary(uniqueKeysWithValues: SparkplugEvent.Kind.allCases.map {
            ($0, Counter(label: "gemba_sparkplug_events_total", dimensions: [("kind", $0.rawValue)]))
        })
    }

    /// The STATE topic of this host (compared with every message's topic, so worked out once).
    public let stateTopic: String

    /// Makes a broker connection available for commands and publishes the host's STATE `online` on
    /// it, with `birth` as the timestamp (the one its will carries, for an upstream connection).
    public func attach(_ link: any SparkplugBrokerLink, connection: Int,
                       birth: UInt64 = UInt64(Timestamp.now().millisecondsSinceEpoch)) async {
        links.withLock { $0[connection] = Link(link: link, birth: birth) }
        await announce(on: connection, online: true)
    }

    /// Publishes STATE `offline` (same timestamp as the birth) on a connection and forgets it.
    public func retire(connection: Int) async {
        await announce(on: connection, online: false)
        detach(connection: connection)
    }

    /// Forgets a connection that is gone.
    public func detach(connection: Int) { _ = links.withLock { $0.removeValue(forKey: connection) } }

    private func announce(on connection: Int, online: Bool) async {
        guard let link = links.withLock({ $0[connection] }) else { return }
        let state = SparkplugHostState(online: online, timestamp: link.birth)
        do {
            try await link.link.publish(topic: stateTopic, payload: state.json, qos: 1, retain: true)
        } catch {
            logger.warning("cannot publish Sparkplug STATE", metadata: ["sparkplug.state_topic": "\(stateTopic)", "error": "\(error)"])
        }
    }

    /// Handles one message of a broker connection; `done` runs once its points are committed.
    /// Seeing its own STATE `offline` (a stale will, another process), the host republishes `online`.
    public func handle(topic: String, payload: ByteBuffer, tenant: TenantID, connection: Int,
                       done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        messages.increment()
        if topic == stateTopic {
            if SparkplugHostState(json: payload.readableBytesView)?.online == false {
                logger.notice("Sparkplug STATE offline seen on our own topic: republishing online")
                Task { await announce(on: connection, online: true) }
            }
            return done(.success(()))
        }
        let now = Timestamp.now().millisecondsSinceEpoch
        let (actions, gapOpened) = core.withLock { host in
            (host.receive(topic: topic, payload: payload.readableBytesView, tenant: tenant, connection: connection, now: now),
             host.takeGapOpened())
        }
        if gapOpened { gapDeadlineChanged.signal() }
        execute(actions, now: now, done: done)
    }

    /// Closes each reorder gap when its timeout passes, until shutdown. While no gap is open it
    /// sleeps: an idle host wakes nobody.
    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let deadline = core.withLock { $0.nextGapDeadline }
            let wait = deadline.map { Duration.milliseconds(max(0, $0 - Timestamp.now().millisecondsSinceEpoch)) }
            await cancelWhenGracefulShutdown { [gapDeadlineChanged] in await gapDeadlineChanged.wait(upTo: wait ?? .seconds(3600)) }
            let now = Timestamp.now().millisecondsSinceEpoch
            let actions = core.withLock { $0.expire(now: now) }
            if !actions.isEmpty { execute(actions, now: now) { _ in } }
        }
    }

    /// Sends a write to the device (DCMD) or edge node (NCMD) whose metric is stored as `tag` on `machine`.
    public func write(tenant: TenantID, machine: AssetPath, tag: String, value: SampleValue) async throws(ModelError) {
        let now = Timestamp.now().millisecondsSinceEpoch
        let command = try core.withLock { host throws(ModelError) in
            try host.command(tenant: tenant, machine: machine, tag: tag, value: value, now: now)
        }
        guard let link = links.withLock({ $0[command.connection]?.link }) else {
            throw ModelError(.unavailable, "the broker connection of that edge node is down")
        }
        do {
            try await link.publish(topic: command.topic, payload: command.payload, qos: 0, retain: false)
        } catch {
            throw ModelError(.unavailable, "cannot publish the command: \(error)")
        }
        logger.info("Sparkplug write sent", metadata: ["sparkplug.topic": "\(command.topic)", "sparkplug.tag": "\(tag)"])
    }

    // MARK: Executing actions

    private func execute(_ actions: [SparkplugHostAction], now: Int64, done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        var points: [Point] = []
        for action in actions {
            switch action {
            case .store(let stored): if points.isEmpty { points = stored } else { points += stored }
            case .publish(let topic, let payload, let connection): send(topic: topic, payload: payload, connection: connection)
            case .event(let event): report(event)
            }
        }
        guard !points.isEmpty else { return done(.success(())) }
        let valid = validated(points, now: now)
        guard !valid.isEmpty else { return done(.success(())) }
        pipeline.submit(valid, source: .sparkplug, force: true) { result in done(result.map { _ in () }) }
    }

    /// The points inside the accepted time window with storable values; the rest are counted and logged.
    private func validated(_ points: [Point], now: Int64) -> [Point] {
        let clock = Timestamp(millisecondsSinceEpoch: now)
        func problem(_ point: Point) -> ModelError? {
            do throws(ModelError) {
                try configuration.validation.check(time: point.sample.time, now: clock)
                try configuration.validation.check(value: point.sample.value)
                return nil
            } catch {
                return error
            }
        }
        // The common case, every point valid, keeps the array as it is.
        guard let first = points.firstIndex(where: { problem($0) != nil }) else { return points }
        var valid = Array(points[..<first])
        var errors: [PointError] = []
        for point in points[first...] {
            if let error = problem(point) {
                errors.append(PointError(location: point.series.description, code: error.code, message: error.message))
            } else {
                valid.append(point)
            }
        }
        pipeline.countRejected(errors, source: .sparkplug)
        if let suppressed = throttle.allow() {
            logger.warning("rejected Sparkplug metrics", metadata: [
                "sparkplug.series": "\(errors[0].location)", "ingest.error": "\(errors[0].message)",
                "ingest.rejected": "\(errors.count)", "log.suppressed": "\(suppressed)",
            ])
        }
        return valid
    }

    private func send(topic: String, payload: [UInt8], connection: Int) {
        guard let link = links.withLock({ $0[connection]?.link }) else { return }
        let logger = self.logger
        Task {
            do {
                try await link.publish(topic: topic, payload: payload, qos: 0, retain: false)
            } catch {
                logger.warning("cannot publish Sparkplug command", metadata: ["sparkplug.topic": "\(topic)", "error": "\(error)"])
            }
        }
    }

    private func report(_ event: SparkplugEvent) {
        events[event.kind]?.increment()
        let metadata: Logger.Metadata = ["sparkplug.event": "\(event.kind.rawValue)", "mqtt.topic": "\(event.topic)",
                                         "sparkplug.detail": "\(event.detail)"]
        if !event.kind.isProblem {
            logger.info("Sparkplug \(event.kind.rawValue)", metadata: metadata)
        } else if let suppressed = throttle.allow() {
            logger.warning("Sparkplug \(event.kind.rawValue)", metadata: metadata.merging(["log.suppressed": "\(suppressed)"]) { $1 })
        }
    }
}
