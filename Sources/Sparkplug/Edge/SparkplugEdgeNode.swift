/// A Sparkplug B edge node as a pure state machine (3.0 ch. 5): births, data by exception with
/// aliases, `seq` on every message, `bdSeq` in the will and the NBIRTH, rebirth on request,
/// commands handed to the device side, and (optionally) silence until the primary host's STATE
/// says `online`.
///
/// The shell calls ``will()`` before each connection attempt (its NDEATH is that connection's
/// will), ``connected(now:)`` once the broker accepted it and subscriptions are in place,
/// ``received(topic:payload:now:)`` for each message, ``update(device:values:now:)`` with fresh
/// readings, and ``disconnect(now:)``/``connectionLost()`` at the end; it publishes what comes back.
public struct SparkplugEdgeNode: Sendable {
    public struct Configuration: Sendable {
        public var group: String
        public var node: String
        /// A primary host id: births wait for its STATE `online`, and stop when it goes offline.
        public var primaryHost: String?
        /// The bdSeq of the first connection (0–255).
        public var initialBdSeq: UInt64 = 0

        public init(group: String, node: String, primaryHost: String? = nil) {
            self.group = group
            self.node = node
            self.primaryHost = primaryHost
        }
    }

    /// A metric the node or a device reports: its name and datatype (fixed by the birth).
    public struct MetricSpec: Sendable, Hashable {
        public var name: String
        public var dataType: SparkplugDataType
        public var unit: String?

        public init(name: String, dataType: SparkplugDataType, unit: String? = nil) {
            self.name = name
            self.dataType = dataType
            self.unit = unit
        }
    }

    /// What the shell does for the edge node.
    public enum Action: Sendable, Equatable {
        case publish(topic: String, payload: [UInt8])
        /// A command for the node (`device` nil) or a device: deliver it to the device side.
        case write(device: String?, metric: String, value: SparkplugValue)
    }

    struct MetricState: Sendable {
        var spec: MetricSpec
        var alias: UInt64
        var value: SparkplugValue?
        var timestamp: UInt64
    }

    enum Phase: Sendable { case disconnected, waitingForHost, online }

    public let configuration: Configuration
    private var metrics: [String: [MetricState]] = [:]
    private let devices: [String]
    private(set) var bdSeq: UInt64
    private var seq: UInt8 = 0
    private(set) var phase = Phase.disconnected
    private var connections = 0

    /// An edge node reporting `nodeMetrics` itself and `devices` (id → metrics); aliases are assigned in order.
    public init(configuration: Configuration, nodeMetrics: [MetricSpec], devices: [(id: String, metrics: [MetricSpec])]) {
        self.configuration = configuration
        self.bdSeq = configuration.initialBdSeq % 256
        self.devices = devices.map(\.id)
        var alias: UInt64 = 0
        func states(_ specs: [MetricSpec]) -> [MetricState] {
            specs.map { spec in
                alias += 1
                return MetricState(spec: spec, alias: alias, value: nil, timestamp: 0)
            }
        }
        metrics[""] = states(nodeMetrics)
        for device in devices { metrics[device.id] = states(device.metrics) }
    }

    /// The topics to subscribe to before ``connected(now:)``: the node's commands and the primary host's STATE.
    public var subscriptions: [String] {
        let group = configuration.group, node = configuration.node
        var filters = ["spBv1.0/\(group)/NCMD/\(node)", "spBv1.0/\(group)/DCMD/\(node)/+"]
        if let host = configuration.primaryHost { filters.append(SparkplugHostState.topic(host: host)) }
        return filters
    }

    /// The NDEATH to register as the next connection's will (QoS 1, not retained), with its bdSeq.
    public mutating func will() -> (topic: String, payload: [UInt8]) {
        if connections > 0 { bdSeq = (bdSeq + 1) % 256 }
        connections += 1
        return (topic(.ndeath), deathPayload(now: nil))
    }

    /// The connection is up: births now, or once the primary host is online.
    public mutating func connected(now: UInt64) -> [Action] {
        guard configuration.primaryHost == nil else {
            phase = .waitingForHost
            return []
        }
        return births(now: now)
    }

    /// The connection is gone without a DISCONNECT: the broker published the will.
    public mutating func connectionLost() { phase = .disconnected }

    /// The graceful NDEATH to publish before DISCONNECT.
    public mutating func disconnect(now: UInt64) -> [Action] {
        defer { phase = .disconnected }
        guard phase != .disconnected else { return [] }
        return [.publish(topic: topic(.ndeath), payload: deathPayload(now: now))]
    }

    /// New readings of the node (`device` nil) or a device; publishes those that changed once online.
    public mutating func update(device: String?, values: [(String, SparkplugValue)], now: UInt64) -> [Action] {
        let key = device ?? ""
        guard var states = metrics[key] else { return [] }
        var changed: [SparkplugMetric] = []
        for (name, value) in values {
            guard let index = states.firstIndex(where: { $0.spec.name == name }), states[index].value != value else { continue }
            states[index].value = value
            states[index].timestamp = now
            if phase == .online, let metric = try? SparkplugMetric(name: nil, alias: states[index].alias, timestamp: now,
                                                                   dataType: states[index].spec.dataType, value: value) {
                var metric = metric
                metric.dataTypeCode = nil  // data messages resolve the datatype through the birth
                changed.append(metric)
            }
        }
        metrics[key] = states
        guard !changed.isEmpty else { return [] }
        return [message(device == nil ? .ndata : .ddata, device: device, metrics: changed, now: now)]
    }

    /// A message from the broker: commands, rebirth requests, the primary host's STATE.
    public mutating func received(topic text: String, payload: [UInt8], now: UInt64) -> [Action] {
        guard let topic = try? SparkplugTopic(parsing: text) else { return [] }
        switch topic {
        case .state(let host) where host == configuration.primaryHost:
            let online = SparkplugHostState(json: payload)?.online ?? (String(decoding: payload, as: UTF8.self) == "ONLINE")
            if online, phase == .waitingForHost { return births(now: now) }
            if !online, phase == .online { phase = .waitingForHost }
            return []
        case .edge(let type, _, _, let device) where type == .ncmd || type == .dcmd:
            guard phase != .disconnected, let command = try? SparkplugPayload(decoding: payload) else { return [] }
            return commands(command, device: type == .dcmd ? device : nil, now: now)
        default:
            return []
        }
    }

    private mutating func commands(_ payload: SparkplugPayload, device: String?, now: UInt64) -> [Action] {
        var actions: [Action] = []
        for metric in payload.metrics {
            if device == nil, metric.name == "Node Control/Rebirth", (try? metric.value(as: .boolean)) == .boolean(true) {
                if phase == .online { actions += births(now: now) }
                continue
            }
            guard let state = metrics[device ?? ""]?.first(where: { $0.spec.name == metric.name || (metric.alias != nil && $0.alias == metric.alias) }),
                  let value = try? metric.value(as: state.spec.dataType)
            else { continue }
            actions.append(.write(device: device, metric: state.spec.name, value: value))
        }
        return actions
    }

    // MARK: Messages

    private mutating func births(now: UInt64) -> [Action] {
        phase = .online
        seq = 0
        var nodeMetrics = [
            try! SparkplugMetric(name: "bdSeq", timestamp: now, dataType: .int64, value: .int(Int64(bdSeq))),
            try! SparkplugMetric(name: "Node Control/Rebirth", timestamp: now, dataType: .boolean, value: .boolean(false)),
        ]
        nodeMetrics += birthMetrics(metrics[""] ?? [])
        var actions = [message(.nbirth, device: nil, metrics: nodeMetrics, now: now)]
        for device in devices {
            actions.append(message(.dbirth, device: device, metrics: birthMetrics(metrics[device] ?? []), now: now))
        }
        return actions
    }

    private func birthMetrics(_ states: [MetricState]) -> [SparkplugMetric] {
        states.map { state in
            let unit = state.spec.unit.map {
                SparkplugPropertySet([("engUnit", SparkplugPropertyValue(type: .string, value: .string($0)))])
            }
            // A value that does not fit the datatype is sent as null rather than not at all.
            return (try? SparkplugMetric(name: state.spec.name, alias: state.alias, timestamp: state.timestamp,
                                         dataType: state.spec.dataType, value: state.value, properties: unit))
                ?? (try! SparkplugMetric(name: state.spec.name, alias: state.alias, dataType: state.spec.dataType, value: nil))
        }
    }

    private mutating func message(_ type: SparkplugMessageType, device: String?, metrics: [SparkplugMetric], now: UInt64) -> Action {
        let payload = SparkplugPayload(timestamp: now, seq: UInt64(seq), metrics: metrics)
        seq &+= 1
        return .publish(topic: topic(type, device: device), payload: payload.serialized())
    }

    private func deathPayload(now: UInt64?) -> [UInt8] {
        SparkplugPayload(timestamp: now, metrics: [
            try! SparkplugMetric(name: "bdSeq", timestamp: now, dataType: .int64, value: .int(Int64(bdSeq))),
        ]).serialized()
    }

    private func topic(_ type: SparkplugMessageType, device: String? = nil) -> String {
        SparkplugTopic.edge(type, group: configuration.group, node: configuration.node, device: device).description
    }
}
