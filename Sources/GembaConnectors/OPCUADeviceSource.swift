import GembaCore
public import Logging
internal import OPCUA
public import Sparkplug
import Synchronization

/// One OPC UA server feeding the edge node as one device. Each session: browse paths resolved,
/// then a subscription with a monitored item per tag (deadband asked of the server, dropped when
/// it refuses it) and several Publish requests outstanding, gaps filled by Republish; or reads
/// every poll interval (poll mode, or a server without subscriptions). A lost session is made
/// again after a backoff and its subscription created anew.
public final class OPCUADeviceSource: EdgeDeviceSource {
    public let device: OPCUADeviceConfiguration
    let logger: Logger
    private let reporter: Mutex<OPCUADeviceReporter>
    /// The current session and the node id and built-in type of each tag (for writes).
    private let session = Mutex<(client: OPCUAClient, nodes: [NodeId?], types: [BuiltInType?])?>(nil)

    /// Publish requests kept outstanding, so a notification never waits for a round trip.
    static let outstandingPublishes = 3

    public init(_ device: OPCUADeviceConfiguration, logger: Logger) {
        self.device = device
        var logger = logger
        logger[metadataKey: "opcua.device"] = "\(device.device)"
        self.logger = logger
        reporter = Mutex(OPCUADeviceReporter(device))
    }

    public var id: String { Self.id(of: device.device) }

    /// The source id of the OPC UA device `device`.
    public static func id(of device: String) -> String { "opcua:" + device }

    public var devices: [(id: String, metrics: [SparkplugEdgeNode.MetricSpec])] { [(device.device, reporter.withLock { $0.metrics })] }

    private static func now() -> Int64 { Timestamp.now().millisecondsSinceEpoch }

    public func run(_ outlet: any EdgeSink) async {
        var attempt = 0
        while !Task.isCancelled {
            do {
                let client = try await connect()
                attempt = 0
                try await serve(client, outlet: outlet)
            } catch {
                let (readings, news) = reporter.withLock { reporter in
                    let news = reporter.health.connected || reporter.health.lastError != "\(error)"
                    return (reporter.disconnected("\(error)", at: Self.now()), news)
                }
                if news, !Task.isCancelled { logger.warning("OPC UA server not connected", metadata: ["error": "\(error)"]) }
                outlet.update(device: device.device, readings: readings)
            }
            if let client = session.withLock({ session in defer { session = nil }; return session?.client }) { await client.close() }
            attempt += 1
            try? await Task.sleep(for: .milliseconds(min(30_000, 500 << min(attempt, 6))))
        }
    }

    private func connect() async throws(OPCUAError) -> OPCUAClient {
        var configuration = OPCUAClient.Configuration(endpoint: device.endpoint, identity: device.identity)
        configuration.securityPolicy = device.securityPolicy
        configuration.securityMode = device.securityMode
        configuration.pki = device.pki.map(CertificateStore.init(directory:))
        configuration.serverThumbprint = device.serverThumbprint
        configuration.channelLifetime = UInt32(device.channelLifetime)
        configuration.requestTimeout = .milliseconds(device.timeout)
        configuration.sessionTimeout = Double(max(60_000, device.publishingInterval * 20))
        return try await OPCUAClient.connect(configuration)
    }

    /// One session: resolve the tags, then subscribe (or poll) until it fails or the source is cancelled.
    private func serve(_ client: OPCUAClient, outlet: any EdgeSink) async throws {
        let nodes = try await resolve(client, outlet: outlet)
        let types = try await dataTypes(client, nodes)
        session.withLock { $0 = (client, nodes, types) }
        logger.info("OPC UA server connected", metadata: ["opcua.endpoint": "\(device.endpoint)", "opcua.limits": "\(client.limits)"])
        outlet.update(device: device.device, readings: reporter.withLock { $0.connected(at: Self.now()) })
        if device.mode == .subscribe {
            do {
                try await subscribe(client, nodes: nodes, outlet: outlet)
                return
            } catch let error as OPCUAError where error.status == .badServiceUnsupported {
                logger.notice("OPC UA server has no subscriptions: polling", metadata: ["opcua.every_ms": "\(device.pollInterval)"])
            }
        }
        try await poll(client, nodes: nodes, outlet: outlet)
    }

    /// Each tag's node id: given, or found from its browse path (nil where it leads nowhere, reported).
    private func resolve(_ client: OPCUAClient, outlet: any EdgeSink) async throws(OPCUAError) -> [NodeId?] {
        var nodes: [NodeId?] = device.tags.map { tag in if case .node(let id) = tag.target { id } else { nil } }
        let paths = device.tags.indices.compactMap { index -> (Int, NodeId, [QualifiedName])? in
            guard case .path(let start, let names) = device.tags[index].target else { return nil }
            return (index, start, names)
        }
        guard !paths.isEmpty else { return nodes }
        let results = try await client.translate(paths.map { ($0.1, $0.2) })
        for ((index, _, _), result) in zip(paths, results) {
            switch result {
            case .success(let node): nodes[index] = node
            case .failure(let error): report(reporter.withLock { $0.unavailable(tag: index, reason: "browse path \(device.tags[index].target): \(error)", at: Self.now()) })
            }
        }
        return nodes
    }

    /// Each node's built-in DataType (for writes); nil where it is not a built-in one.
    private func dataTypes(_ client: OPCUAClient, _ nodes: [NodeId?]) async throws(OPCUAError) -> [BuiltInType?] {
        let known = nodes.indices.filter { nodes[$0] != nil }
        let values = try await client.read(known.map { ReadValueId(nodes[$0]!, .dataType) })
        var types = [BuiltInType?](repeating: nil, count: nodes.count)
        for (index, value) in zip(known, values) {
            guard case .nodeId(let type)? = value.value, type.namespace == 0, case .numeric(let number) = type.identifier, number <= 25 else { continue }
            types[index] = BuiltInType(rawValue: UInt8(number))
        }
        return types
    }

    private func report(_ failure: OPCUADeviceReporter.Failure?) {
        guard let failure else { return }
        logger.warning("OPC UA tag unavailable", metadata: ["opcua.tag": "\(failure.tag)", "error": "\(failure.reason)"])
    }

    private func publish(_ values: [(tag: Int, value: DataValue)], outlet: any EdgeSink) {
        let (readings, failures) = reporter.withLock { $0.values(values, at: Self.now()) }
        for failure in failures { report(failure) }
        outlet.update(device: device.device, readings: readings)
    }

    /// Monitors every resolved tag, in as many subscriptions as the server's limit per subscription
    /// needs, then keeps Publish requests outstanding for all of them.
    private func subscribe(_ client: OPCUAClient, nodes: [NodeId?], outlet: any EdgeSink) async throws {
        var pending = nodes.indices.filter { nodes[$0] != nil }
        var trackers: [UInt32: SubscriptionTracker] = [:]
        while !pending.isEmpty {
            let created = try await client.call(CreateSubscriptionRequest(
                publishingInterval: Double(device.publishingInterval), lifetimeCount: 30,
                maxKeepAliveCount: UInt32(max(3, 10_000 / max(1, device.publishingInterval)))))
            trackers[created.subscriptionId] = SubscriptionTracker(subscriptionId: created.subscriptionId)
            let results = try await client.createMonitoredItems(subscription: created.subscriptionId, pending.map(monitoredItem(nodes)))
            var overflow: [Int] = []
            for (index, result) in zip(pending, results) {
                if result.status == .badTooManyMonitoredItems {
                    overflow.append(index)
                } else if result.status.isBad {
                    report(reporter.withLock { $0.unavailable(tag: index, reason: "\(nodes[index]!) cannot be monitored: \(result.status)", at: Self.now()) })
                } else if result.deadbandDropped {
                    logger.notice("OPC UA server refused the deadband: every change is reported", metadata: ["opcua.tag": "\(device.tags[index].name)"])
                }
            }
            if overflow.count == pending.count {  // not one item fits in a new subscription: the server's limit is per session
                for index in overflow {
                    report(reporter.withLock { $0.unavailable(tag: index, reason: "\(nodes[index]!): the server monitors no more items", at: Self.now()) })
                }
                break
            }
            pending = overflow
        }
        let shared = SharedTrackers(trackers)
        logger.info("OPC UA subscriptions created", metadata: ["opcua.subscriptions": "\(trackers.count)"])
        // Several Publish requests at once: the server answers each as notifications of any subscription are due.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<(Self.outstandingPublishes + trackers.count - 1) {
                group.addTask { try await self.publishLoop(client, trackers: shared, outlet: outlet) }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private func monitoredItem(_ nodes: [NodeId?]) -> (Int) -> MonitoredItemRequest {
        let tags = device.tags
        return { index in
            let tag = tags[index]
            return MonitoredItemRequest(node: nodes[index]!, clientHandle: UInt32(index), samplingInterval: tag.samplingInterval.map(Double.init) ?? -1,
                                        queueSize: tag.queueSize, deadband: tag.deadband)
        }
    }

    private func publishLoop(_ client: OPCUAClient, trackers: SharedTrackers, outlet: any EdgeSink) async throws(OPCUAError) {
        while !Task.isCancelled {
            let response: PublishRequest.Response
            switch await client.result(of: PublishRequest(acknowledgements: trackers.takeAcknowledgements())) {
            case .success(let answer): response = answer
            case .failure(let error) where error.status == .badTooManyPublishRequests:
                try? await Task.sleep(for: .milliseconds(device.publishingInterval))
                continue
            case .failure(let error) where error.kind == .timeout:
                continue  // keep-alives should have come: the connection's own failure ends the loop
            case .failure(let error): throw error
            }
            if let status = response.notification.statusChange, status.isBad {
                throw OPCUAError(.service, "the server ended subscription \(response.subscriptionId)", status: status)
            }
            try await take(response.notification, subscription: response.subscriptionId, client: client, trackers: trackers, outlet: outlet)
        }
    }

    /// Delivers notifications once and in order, asking again for what went missing.
    private func take(_ message: NotificationMessage, subscription: UInt32, client: OPCUAClient, trackers: SharedTrackers,
                      outlet: any EdgeSink) async throws(OPCUAError) {
        guard let (due, missing) = trackers.withTracker(subscription, { ($0.received(message), $0.takeMissing()) }) else { return }
        deliver(due, outlet: outlet)
        for number in missing {
            switch await client.result(of: RepublishRequest(subscriptionId: subscription, sequenceNumber: number)) {
            case .success(let answer):
                deliver(trackers.withTracker(subscription) { $0.received(answer.notification) } ?? [], outlet: outlet)
            case .failure(let error) where error.status == .badMessageNotAvailable:
                deliver(trackers.withTracker(subscription) { $0.gaveUp(on: number) } ?? [], outlet: outlet)
                logger.warning("OPC UA notification lost: the server no longer had it", metadata: ["opcua.sequence": "\(number)"])
            case .failure(let error): throw error
            }
        }
    }

    private func deliver(_ messages: [NotificationMessage], outlet: any EdgeSink) {
        for message in messages { publish(message.dataChanges.map { (Int($0.clientHandle), $0.value) }, outlet: outlet) }
    }

    private func poll(_ client: OPCUAClient, nodes: [NodeId?], outlet: any EdgeSink) async throws(OPCUAError) {
        let readable = nodes.indices.filter { nodes[$0] != nil }
        var next = ContinuousClock.now
        while !Task.isCancelled {
            let values = try await client.read(readable.map { ReadValueId(nodes[$0]!) })
            publish(Array(zip(readable, values)), outlet: outlet)
            next += .milliseconds(device.pollInterval)
            if next < .now { next = .now }  // late: the next read starts now, not in a burst
            try? await Task.sleep(until: next)
        }
    }

    public func write(device: String, metric: String, value: SparkplugValue, sink outlet: any EdgeSink) async {
        let result = await write(metric: metric, value: value)
        switch result {
        case .success: logger.notice("OPC UA write done", metadata: ["opcua.tag": "\(metric)", "value": "\(value)"])
        case .failure(let error): logger.warning("OPC UA write failed", metadata: ["opcua.tag": "\(metric)", "value": "\(value)", "error": "\(error)"])
        }
    }

    /// Writes a command's value to its tag's node, in the node's own datatype.
    func write(metric: String, value: SparkplugValue) async -> Result<Void, OPCUAError> {
        guard let index = device.tags.firstIndex(where: { $0.name == metric }) else {
            return .failure(OPCUAError(.invalidRequest, "\(device.device) has no tag \(metric)"))
        }
        guard device.tags[index].writable else {
            return .failure(OPCUAError(.invalidRequest, "\(device.device)/\(metric) is not writable (writable: true in the configuration)"))
        }
        guard let (client, nodes, types) = session.withLock({ $0 }) else { return .failure(OPCUAError(.connection, "the server is not connected")) }
        guard let node = nodes[index], let type = types[index] else {
            return .failure(OPCUAError(.invalidRequest, "\(device.device)/\(metric): the node or its datatype is not known"))
        }
        guard let variant = OPCUAValueConversion.variant(value, as: type) else {
            return .failure(OPCUAError(.invalidRequest, "\(device.device)/\(metric): \(value) does not fit the node's \(type)"))
        }
        do {
            let status = try await client.write([(node, DataValue(value: variant))]).first ?? .good
            return status.isBad ? .failure(OPCUAError(.service, "the server refused the write", status: status)) : .success(())
        } catch {
            return .failure(error)
        }
    }
}

/// The session's subscriptions' trackers, shared by the Publish loops.
final class SharedTrackers: Sendable {
    private let state: Mutex<[UInt32: SubscriptionTracker]>

    init(_ trackers: [UInt32: SubscriptionTracker]) { state = Mutex(trackers) }

    /// Runs `body` on one subscription's tracker; nil for a subscription this session did not make.
    func withTracker<T>(_ subscription: UInt32, _ body: (inout SubscriptionTracker) -> T) -> T? {
        state.withLock { trackers in
            guard var tracker = trackers[subscription] else { return nil }
            defer { trackers[subscription] = tracker }
            return body(&tracker)
        }
    }

    /// Every subscription's acknowledgements, for the next Publish.
    func takeAcknowledgements() -> [(subscriptionId: UInt32, sequenceNumber: UInt32)] {
        state.withLock { trackers in
            trackers.keys.sorted().flatMap { id in trackers[id]!.takeAcknowledgements().map { (id, $0) } }
        }
    }
}
