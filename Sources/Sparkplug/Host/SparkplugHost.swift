public import GembaCore

/// The primary host application's view of every edge node, as a pure state machine (3.0 ch. 5, 7).
///
/// Feed it every Sparkplug message (`receive`) and the passing of time (`expire`); it answers
/// with the points to store, the commands to publish and the events to log. It builds each
/// node's and device's metric catalogue from its births, resolves data through aliases, keeps
/// the node's `seq` (0–255, wrapping) with a reorder window, matches deaths by `bdSeq`, marks the
/// tags of dead nodes and devices stale (quality bad, at the host's time) and asks for a rebirth
/// (NCMD `Node Control/Rebirth`, at most once per ``Configuration/rebirthInterval`` per node)
/// when it cannot trust what it has.
public struct SparkplugHost: Sendable {
    public struct Configuration: Sendable {
        public var mapping = SparkplugAssetMapping.default
        /// How long a seq gap may stay open waiting for the missing message, ms.
        public var reorderTimeout: Int64 = 2_000
        /// Shortest time between two rebirth requests to one edge node, ms.
        public var rebirthInterval: Int64 = 5_000
        /// Messages held per node while a gap is open; more closes the gap at once.
        public var maxPendingPerNode = 256
        /// Edge nodes tracked per host; births of further nodes are refused.
        public var maxNodes = 100_000

        public init() {}
    }

    /// An edge node, per tenant.
    public struct NodeKey: Hashable, Sendable {
        public var tenant: TenantID
        public var group: String
        public var node: String
    }

    struct DeviceSession: Sendable {
        var catalogue = MetricCatalogue()
        /// Where the device's tags land; nil when its ids make no valid path.
        var path: AssetPath?
    }

    struct PendingMessage: Sendable {
        var type: SparkplugMessageType
        var device: String?
        var topic: String
        var payload: SparkplugPayload
    }

    struct NodeSession: Sendable {
        var online = false
        var bdSeq: UInt64?
        var expectedSeq: UInt8 = 0
        var catalogue = MetricCatalogue()
        var path: AssetPath?
        var devices: [String: DeviceSession] = [:]
        var pending: [UInt8: PendingMessage] = [:]
        var gapSince: Int64?
        var lastRebirth: Int64?
        /// The newest stale mark written for the node or its devices: a later birth's values are
        /// stored after it, so that a birth always clears the mark whatever the node's clock says.
        var staleUntil: Int64 = .min
        var connection: Int
    }

    public let configuration: Configuration
    private(set) var nodes: [NodeKey: NodeSession] = [:]
    /// Whether a reorder gap opened since ``takeGapOpened()`` last asked.
    private var gapOpened = false

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    // MARK: Events

    /// Handles one message from a broker connection. STATE, NCMD and DCMD topics are not the host's to read and yield nothing.
    public mutating func receive(topic: String, payload bytes: some Collection<UInt8>, tenant: TenantID, connection: Int,
                                 now: Int64) -> [SparkplugHostAction] {
        var out: [SparkplugHostAction] = []
        let parsed: SparkplugTopic
        do {
            parsed = try SparkplugTopic(parsing: topic)
        } catch {
            out.event(.badTopic, topic, error.reason)
            return out
        }
        guard case .edge(let type, let group, let node, let device) = parsed, type != .ncmd, type != .dcmd else { return out }
        let payload: SparkplugPayload
        do {
            payload = try SparkplugPayload(decoding: bytes)
        } catch {
            out.event(.corruptPayload, topic, error.reason)
            return out
        }
        let key = NodeKey(tenant: tenant, group: group, node: node)
        switch type {
        case .nbirth: nodeBirth(key, payload: payload, topic: topic, connection: connection, now: now, into: &out)
        case .ndeath: nodeDeath(key, payload: payload, topic: topic, now: now, into: &out)
        default:
            sequenced(key, PendingMessage(type: type, device: device, topic: topic, payload: payload),
                      connection: connection, now: now, into: &out)
        }
        return out
    }

    /// When the oldest open reorder gap times out (ms, the clock `receive` was given); nil while none is open.
    public var nextGapDeadline: Int64? {
        nodes.values.compactMap(\.gapSince).min().map { $0 + configuration.reorderTimeout }
    }

    /// Whether a reorder gap opened since the last call: whoever calls ``expire(now:)`` at
    /// ``nextGapDeadline`` has a nearer deadline to wait for.
    public mutating func takeGapOpened() -> Bool {
        defer { gapOpened = false }
        return gapOpened
    }

    /// Closes the seq gaps that stayed open past the reorder timeout: what arrived is stored, and a rebirth requested.
    public mutating func expire(now: Int64) -> [SparkplugHostAction] {
        var out: [SparkplugHostAction] = []
        let due = nodes.filter { $0.value.gapSince.map { now - $0 >= configuration.reorderTimeout } == true }.keys
        for key in due {
            guard var session = nodes.removeValue(forKey: key) else { continue }
            closeGap(key, &session, now: now, into: &out)
            nodes[key] = session
        }
        return out
    }

    // MARK: Commands

    /// The NCMD or DCMD that writes `value` to the metric stored as `tag` on `machine`, converted to
    /// the metric's datatype; throws `notFound` when no online node or device has it, `typeMismatch`
    /// when the value does not fit.
    public func command(tenant: TenantID, machine: AssetPath, tag: String, value: SampleValue,
                        now: Int64) throws(ModelError) -> SparkplugCommand {
        for (key, session) in nodes where key.tenant == tenant && session.online {
            let targets = [(nil, session.path, session.catalogue)]
                + session.devices.map { ($0.key as String?, $0.value.path, $0.value.catalogue) }
            for (device, path, catalogue) in targets {
                guard path == machine, let (definition, alias) = catalogue.metric(storedAs: tag)
                else { continue }
                guard let converted = SparkplugValue(value, as: definition.dataType),
                      let metric = try? SparkplugMetric(name: definition.name, alias: alias, timestamp: UInt64(max(0, now)),
                                                        dataType: definition.dataType, value: converted)
                else {
                    throw ModelError(.typeMismatch, "\(tag) is a Sparkplug \(definition.dataType) metric; \(value) does not fit it")
                }
                let topic = SparkplugTopic.edge(device == nil ? .ncmd : .dcmd, group: key.group, node: key.node, device: device)
                return SparkplugCommand(topic: topic.description, connection: session.connection,
                                        payload: SparkplugPayload(timestamp: UInt64(max(0, now)), metrics: [metric]).serialized())
            }
        }
        throw ModelError(.notFound, "no online Sparkplug edge node or device has a metric stored as \(tag) on \(machine)")
    }

    // MARK: Node lifecycle

    private mutating func nodeBirth(_ key: NodeKey, payload: SparkplugPayload, topic: String, connection: Int, now: Int64,
                                    into out: inout [SparkplugHostAction]) {
        guard nodes[key] != nil || nodes.count < configuration.maxNodes else {
            out.event(.tooManyNodes, topic, "already tracking \(configuration.maxNodes) edge nodes")
            return
        }
        var session = NodeSession(connection: connection)
        session.lastRebirth = nodes[key]?.lastRebirth
        session.online = true
        session.bdSeq = Self.bdSeq(in: payload)
        if session.bdSeq == nil { out.event(.invalidMetric, topic, "NBIRTH without a bdSeq metric") }
        if let seq = payload.seq, seq <= 255 {
            session.expectedSeq = UInt8(seq) &+ 1
        } else {
            out.event(.missingSeq, topic, "NBIRTH without a valid seq (\(payload.seq.map(String.init) ?? "none")); counting from 0")
            session.expectedSeq = 1
        }
        session.staleUntil = nodes[key]?.staleUntil ?? .min
        if let old = nodes[key], old.online, old.bdSeq != session.bdSeq {
            // A new session without a death in between: the old one's tags are no longer current.
            session.staleUntil = max(session.staleUntil, markStale(old, tenant: key.tenant, now: now, into: &out))
        }
        for metric in payload.metrics {
            if let problem = session.catalogue.declare(metric) { out.event(.invalidMetric, topic, problem) }
        }
        session.path = path(key, device: nil, topic: topic, into: &out)
        store(payload, path: session.path, tenant: key.tenant, catalogue: &session.catalogue, birth: true,
              notBefore: session.staleUntil, topic: topic, now: now, into: &out)
        out.event(.nodeBirth, topic, "bdSeq \(session.bdSeq.map(String.init) ?? "none"), \(payload.metrics.count) metrics")
        // Messages that overtook this birth (a producer publishing its devices on other connections) follow it now.
        if let old = nodes[key], !old.online, !old.pending.isEmpty {
            let expected = session.expectedSeq
            session.pending = old.pending.filter { seq, _ in seq &- expected < 128 }
            session.gapSince = session.pending.isEmpty ? nil : old.gapSince
            drainPending(key, &session, now: now, into: &out)
        }
        nodes[key] = session
    }

    /// An NDEATH ends the session whose NBIRTH carried the same bdSeq. pysparkplug's graceful
    /// NDEATH carries the *next* bdSeq (birth + 1): that can only come from the node's current or a
    /// later connection, never from an older one, so it is accepted too; anything else is stale.
    private mutating func nodeDeath(_ key: NodeKey, payload: SparkplugPayload, topic: String, now: Int64,
                                    into out: inout [SparkplugHostAction]) {
        guard let session = nodes[key], session.online else {
            out.event(.staleDeath, topic, "the node is not online")
            return
        }
        guard let bdSeq = Self.bdSeq(in: payload) else {
            out.event(.staleDeath, topic, "NDEATH without a bdSeq metric ignored")
            return
        }
        guard let current = session.bdSeq, bdSeq == current || bdSeq == (current + 1) % 256 else {
            out.event(.staleDeath, topic, "bdSeq \(bdSeq) does not match the birth's \(session.bdSeq.map(String.init) ?? "none")")
            return
        }
        nodes[key]!.staleUntil = max(session.staleUntil, markStale(session, tenant: key.tenant, now: now, into: &out))
        nodes[key]!.online = false
        nodes[key]!.devices = [:]
        nodes[key]!.pending = [:]
        nodes[key]!.gapSince = nil
        out.event(.nodeDeath, topic, "bdSeq \(bdSeq)")
    }

    private static func bdSeq(in payload: SparkplugPayload) -> UInt64? {
        guard let metric = payload.metrics.first(where: { $0.name == "bdSeq" }) else { return nil }
        switch try? metric.value(as: metric.dataType ?? .uint64) {
        case .int(let value)?: return value >= 0 ? UInt64(value) : nil
        case .uint64(let value)?: return value
        default: return nil
        }
    }

    // MARK: Sequenced messages

    /// Sessions are taken out of the table while a message works on them, so their catalogues are
    /// mutated in place rather than copied.
    private mutating func sequenced(_ key: NodeKey, _ message: PendingMessage, connection: Int, now: Int64,
                                    into out: inout [SparkplugHostAction]) {
        guard let existing = nodes[key], existing.online else {
            awaitBirth(key, message, connection: connection, now: now, into: &out)
            return
        }
        var session = nodes.removeValue(forKey: key) ?? existing
        defer { nodes[key] = session }
        guard let seq = message.payload.seq, seq <= 255 else {
            // mqtt-spb-wrapper sends DDEATH without seq; take the message as it is, outside the ordering.
            if message.type != .ddeath {
                out.event(.missingSeq, message.topic, "\(message.type.rawValue) without a valid seq")
            }
            apply(key, message, &session, now: now, into: &out)
            return
        }
        session.connection = connection
        let distance = UInt8(seq) &- session.expectedSeq
        switch distance {
        case 0:
            apply(key, message, &session, now: now, into: &out)
            session.expectedSeq = UInt8(seq) &+ 1
            drainPending(key, &session, now: now, into: &out)
        case 1..<128:
            session.pending[UInt8(seq)] = message
            openGap(&session, now: now)
            if session.pending.count > configuration.maxPendingPerNode { closeGap(key, &session, now: now, into: &out) }
        default:
            out.event(.lateMessage, message.topic, "seq \(seq) arrived after \(session.expectedSeq &- 1)")
            apply(key, message, &session, now: now, into: &out)
        }
    }

    /// A message of a node without a current NBIRTH waits up to the reorder timeout for one (it may
    /// have overtaken the birth); then, or at once without a seq, a rebirth is requested.
    private mutating func awaitBirth(_ key: NodeKey, _ message: PendingMessage, connection: Int, now: Int64,
                                     into out: inout [SparkplugHostAction]) {
        guard message.type != .ddeath else { return }
        guard nodes[key] != nil || nodes.count < configuration.maxNodes else {
            out.event(.tooManyNodes, message.topic, "already tracking \(configuration.maxNodes) edge nodes")
            return
        }
        var session = nodes.removeValue(forKey: key) ?? NodeSession(connection: connection)
        defer { nodes[key] = session }
        session.connection = connection
        guard let seq = message.payload.seq, seq <= 255, session.pending.count < configuration.maxPendingPerNode else {
            out.event(.dataBeforeBirth, message.topic, "\(message.type.rawValue) from an edge node without a current NBIRTH")
            requestRebirth(key, connection: connection, topic: message.topic, now: now, into: &out, session: &session)
            return
        }
        session.pending[UInt8(seq)] = message
        openGap(&session, now: now)
    }

    private mutating func openGap(_ session: inout NodeSession, now: Int64) {
        guard session.gapSince == nil else { return }
        session.gapSince = now
        gapOpened = true
    }

    private func drainPending(_ key: NodeKey, _ session: inout NodeSession, now: Int64, into out: inout [SparkplugHostAction]) {
        while session.online, let next = session.pending.removeValue(forKey: session.expectedSeq) {
            session.expectedSeq &+= 1
            apply(key, next, &session, now: now, into: &out)
        }
        if session.pending.isEmpty { session.gapSince = nil }
    }

    private func closeGap(_ key: NodeKey, _ session: inout NodeSession, now: Int64, into out: inout [SparkplugHostAction]) {
        guard !session.pending.isEmpty else { return }
        guard session.online else {
            // No birth came: what waited cannot be read without one.
            let topic = session.pending.values.first!.topic
            out.event(.dataBeforeBirth, topic, "\(session.pending.count) messages without an NBIRTH within \(configuration.reorderTimeout) ms")
            session.pending = [:]
            session.gapSince = nil
            requestRebirth(key, connection: session.connection, topic: topic, now: now, into: &out, session: &session)
            return
        }
        let expected = session.expectedSeq
        let first = session.pending.keys.min { ($0 &- expected) < ($1 &- expected) }!
        let topic = session.pending[first]!.topic
        out.event(.seqGap, topic, "seq \(expected)…\(first &- 1) missing after \(configuration.reorderTimeout) ms")
        session.expectedSeq = first
        drainPending(key, &session, now: now, into: &out)
        if !session.pending.isEmpty { closeGap(key, &session, now: now, into: &out) }
        session.gapSince = nil
        requestRebirth(key, connection: session.connection, topic: topic, now: now, into: &out, session: &session)
    }

    private func apply(_ key: NodeKey, _ message: PendingMessage, _ session: inout NodeSession, now: Int64,
                       into out: inout [SparkplugHostAction]) {
        switch message.type {
        case .dbirth:
            var device = DeviceSession()
            for metric in message.payload.metrics {
                if let problem = device.catalogue.declare(metric) { out.event(.invalidMetric, message.topic, problem) }
            }
            device.path = path(key, device: message.device, topic: message.topic, into: &out)
            store(message.payload, path: device.path, tenant: key.tenant, catalogue: &device.catalogue, birth: true,
                  notBefore: session.staleUntil, topic: message.topic, now: now, into: &out)
            session.devices[message.device!] = device
            out.event(.deviceBirth, message.topic, "\(message.payload.metrics.count) metrics")
        case .ddeath:
            guard let device = session.devices.removeValue(forKey: message.device!) else {
                out.event(.staleDeath, message.topic, "the device is not online")
                return
            }
            let stale = stalePoints(device.catalogue, path: device.path, tenant: key.tenant, now: now)
            session.staleUntil = stale.reduce(session.staleUntil) { max($0, $1.sample.time.millisecondsSinceEpoch) }
            out.append(.store(stale))
            out.event(.deviceDeath, message.topic, "tags marked stale")
        case .ndata:
            let unknown = store(message.payload, path: session.path, tenant: key.tenant, catalogue: &session.catalogue,
                                birth: false, topic: message.topic, now: now, into: &out)
            if unknown { requestRebirth(key, connection: session.connection, topic: message.topic, now: now, into: &out, session: &session) }
        case .ddata:
            guard var device = session.devices.removeValue(forKey: message.device!) else {
                out.event(.dataBeforeBirth, message.topic, "DDATA from a device without a current DBIRTH")
                requestRebirth(key, connection: session.connection, topic: message.topic, now: now, into: &out, session: &session)
                return
            }
            let unknown = store(message.payload, path: device.path, tenant: key.tenant, catalogue: &device.catalogue,
                                birth: false, topic: message.topic, now: now, into: &out)
            session.devices[message.device!] = device
            if unknown { requestRebirth(key, connection: session.connection, topic: message.topic, now: now, into: &out, session: &session) }
        case .nbirth, .ndeath, .ncmd, .dcmd:
            break
        }
    }

    /// The machine of a node (`device` nil) or device, or nil (reported) when the ids make no valid path.
    private func path(_ key: NodeKey, device: String?, topic: String, into out: inout [SparkplugHostAction]) -> AssetPath? {
        do {
            return try configuration.mapping.path(group: key.group, node: key.node, device: device)
        } catch {
            out.event(.unstorable, topic, error.message)
            return nil
        }
    }

    // MARK: Rebirth

    private func requestRebirth(_ key: NodeKey, connection: Int, topic: String, now: Int64,
                                into out: inout [SparkplugHostAction], session: inout NodeSession) {
        if let last = session.lastRebirth, now - last < configuration.rebirthInterval {
            out.event(.rebirthSuppressed, topic, "a rebirth was requested \(now - last) ms ago")
            return
        }
        session.lastRebirth = now
        let command = try! SparkplugMetric(name: "Node Control/Rebirth", timestamp: UInt64(max(0, now)), dataType: .boolean,
                                           value: .boolean(true))
        let ncmd = SparkplugTopic.edge(.ncmd, group: key.group, node: key.node, device: nil)
        out.append(.publish(topic: ncmd.description,
                            payload: SparkplugPayload(timestamp: UInt64(max(0, now)), metrics: [command]).serialized(),
                            connection: connection))
        out.event(.rebirthRequested, ncmd.description, "after \(topic)")
    }

    // MARK: Storing

    /// Turns a payload's metrics into points; returns whether a metric was not in the birth (a rebirth is due).
    @discardableResult
    private func store(_ payload: SparkplugPayload, path: AssetPath?, tenant: TenantID, catalogue: inout MetricCatalogue,
                       birth: Bool, notBefore staleUntil: Int64 = .min, topic: String, now: Int64,
                       into out: inout [SparkplugHostAction]) -> Bool {
        guard let path else { return false }
        var points: [Point] = []
        points.reserveCapacity(payload.metrics.count)
        var unknown = false
        for metric in payload.metrics {
            guard let index = catalogue.definition(of: metric) else {
                if !birth {
                    unknown = true
                    out.event(.unknownMetric, topic, metric.alias.map { "alias \($0) not in the birth" }
                              ?? "metric \"\(metric.name ?? "")\" not in the birth")
                }
                continue
            }
            let definition = catalogue.definitions[index]
            if definition.isControl { continue }
            if let declared = metric.dataTypeCode, declared != definition.dataType.rawValue {
                out.event(.invalidMetric, topic, "\(definition.name): datatype \(declared) differs from the birth's \(definition.dataType)")
                continue
            }
            let value: SparkplugValue?
            do {
                value = try metric.value(as: definition.dataType)
            } catch {
                out.event(.invalidMetric, topic, "\(definition.name): \(error.reason)")
                continue
            }
            guard let value else { continue }
            var time = Int64(clamping: metric.timestamp ?? payload.timestamp ?? UInt64(max(0, now)))
            if birth, !metric.isHistorical, time <= staleUntil { time = staleUntil + 1 }  // a birth clears the stale mark
            let quality = Self.quality(of: metric)
            func add(_ tag: String?, _ name: String, _ member: SparkplugValue, isMember: Bool) {
                guard let tag, let sample = member.sampleValue else {
                    out.event(.unstorable, topic, "\(name): not storable as a tag (\(member.kind))")
                    return
                }
                points.append(Point(series: SeriesKey(tenant: tenant, machine: path, tag: tag),
                                    sample: Sample(time: Timestamp(millisecondsSinceEpoch: time), value: sample, quality: quality),
                                    unit: definition.unit))
                // Store-and-forward replays keep their own times and never become the current value.
                if !metric.isHistorical {
                    catalogue.record(LastValue(value: sample, time: time, unit: definition.unit), definition: index,
                                     memberTag: isMember ? tag : nil)
                }
            }
            if case .template = value {
                for (name, member) in Self.flatten(definition.name, value) {
                    add(SparkplugAssetMapping.tagName(name), name, member, isMember: true)
                }
            } else {
                add(definition.tag, definition.name, value, isMember: false)
            }
        }
        if !points.isEmpty { out.append(.store(points)) }
        return unknown
    }

    /// Template instances become one tag per member (`motor/rpm`); definitions hold no data.
    private static func flatten(_ name: String, _ value: SparkplugValue) -> [(String, SparkplugValue)] {
        guard case .template(let template) = value else { return [(name, value)] }
        guard !template.isDefinition else { return [] }
        return template.metrics.flatMap { member -> [(String, SparkplugValue)] in
            guard let memberName = member.name, let memberValue = try? member.value() else { return [] }
            return flatten(name + "/" + memberName, memberValue)
        }
    }

    /// The `Quality` property as Ignition and the specification's examples use it: 192 good, 500 stale, 0 bad.
    private static func quality(of metric: SparkplugMetric) -> Quality {
        guard let property = metric.properties?["Quality"], case .int(let code)? = property.value else { return .good }
        switch code {
        case 192: return .good
        case 0, 500: return .bad
        default: return .uncertain
        }
    }

    /// Marks every tag of a session stale; returns the newest mark's time.
    private func markStale(_ session: NodeSession, tenant: TenantID, now: Int64, into out: inout [SparkplugHostAction]) -> Int64 {
        var points = stalePoints(session.catalogue, path: session.path, tenant: tenant, now: now)
        for device in session.devices.values { points += stalePoints(device.catalogue, path: device.path, tenant: tenant, now: now) }
        if !points.isEmpty { out.append(.store(points)) }
        return points.reduce(Int64.min) { max($0, $1.sample.time.millisecondsSinceEpoch) }
    }

    /// Each tag's last value again, with quality bad, at the host's time; just after the last
    /// sample instead when the edge node's clock runs ahead, so the stale mark is always the newest.
    private func stalePoints(_ catalogue: MetricCatalogue, path: AssetPath?, tenant: TenantID, now: Int64) -> [Point] {
        guard let path else { return [] }
        return catalogue.last.map { tag, last in
            Point(series: SeriesKey(tenant: tenant, machine: path, tag: tag),
                  sample: Sample(time: Timestamp(millisecondsSinceEpoch: max(now, last.time + 1)), value: last.value, quality: .bad),
                  unit: last.unit)
        }
    }
}

extension [SparkplugHostAction] {
    mutating func event(_ kind: SparkplugEvent.Kind, _ topic: String, _ detail: String) {
        append(.event(SparkplugEvent(kind: kind, topic: topic, detail: detail)))
    }
}

extension SparkplugValue {
    /// The name of the value's case, for messages.
    var kind: String {
        switch self {
        case .bytes: "bytes"
        case .template: "template"
        case .propertySet, .propertySetList: "property set"
        case .float, .double: "non-finite number"
        default: "value"
        }
    }
}
