public import GembaCore

/// A Sparkplug B edge node as a pure state machine (3.0 ch. 5): births, data by exception with
/// aliases, `seq` on every message, `bdSeq` in the will and the NBIRTH, rebirth on request,
/// commands handed to the device side, and (optionally) silence until the primary host's STATE
/// says `online`.
///
/// The shell calls ``will()`` before each connection attempt (its NDEATH is that connection's
/// will), ``connected(now:)`` once the broker accepted it and subscriptions are in place,
/// ``received(topic:payload:now:)`` for each message, ``update(device:values:now:)`` with fresh
/// readings, and ``disconnect(now:)``/``connectionLost()`` at the end; it publishes what comes back.
/// Devices may come and go while it runs (``setDevice(_:metrics:now:)``, ``removeDevice(_:now:)``).
public struct SparkplugEdgeNode: Sendable {
    public struct Configuration: Sendable {
        public var group: String
        public var node: String
        /// A primary host id: births wait for its STATE `online`, and stop when it goes offline.
        public var primaryHost: String?
        /// The bdSeq of the first connection (0–255).
        public var initialBdSeq: UInt64 = 0
        /// Store-and-forward: every reported change is also handed out as a ``Action/record(device:metrics:live:)``,
        /// online or not, and changes are measured against what was recorded while the node is offline.
        public var recordsChanges = false

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
        /// Report by exception with a deadband: a number is published again only once it is more
        /// than this away from the value last published (nil or 0: on any change).
        public var deadband: Double?

        public init(name: String, dataType: SparkplugDataType, unit: String? = nil, deadband: Double? = nil) {
            self.name = name
            self.dataType = dataType
            self.unit = unit
            self.deadband = deadband
        }
    }

    /// A new value of a metric, with the time it was taken at the source and its quality.
    public struct Reading: Sendable, Hashable {
        public var name: String
        public var value: SparkplugValue
        public var quality: Quality
        /// Epoch ms.
        public var timestamp: UInt64

        public init(name: String, value: SparkplugValue, quality: Quality = .good, timestamp: UInt64) {
            self.name = name
            self.value = value
            self.quality = quality
            self.timestamp = timestamp
        }
    }

    /// What the shell does for the edge node.
    public enum Action: Sendable, Equatable {
        case publish(topic: String, payload: [UInt8])
        /// A command for the node (`device` nil) or a device: deliver it to the device side.
        case write(device: String?, metric: String, value: SparkplugValue)
        /// With ``Configuration/recordsChanges``: changes of the node (`device` nil) or a device, as a
        /// payload of metrics with names, datatypes, times and quality, for the store-and-forward
        /// buffer; `live` when they were published now (otherwise they await a replay).
        case record(device: String?, payload: [UInt8], live: Bool)
    }

    struct MetricState: Sendable {
        var spec: MetricSpec
        var alias: UInt64
        var value: SparkplugValue?
        var quality = Quality.good
        var timestamp: UInt64 = 0
        /// The value the host last saw (in a birth or data), against which the deadband is measured.
        var reported: SparkplugValue?

        /// Whether `reading` must be published: its quality changed, or its value moved past the deadband.
        func mustReport(_ reading: Reading) -> Bool {
            guard reading.quality == quality, let reported else { return true }
            guard let band = spec.deadband, band > 0, let new = reading.value.number, let old = reported.number else {
                return reading.value != reported
            }
            return abs(new - old) > band
        }
    }

    /// A device's (or the node's) metrics, in alias order, and where each name sits.
    struct MetricTable: Sendable {
        var states: [MetricState]
        var index: [String: Int]

        init(_ states: [MetricState]) {
            self.states = states
            index = Dictionary(states.enumerated().map { ($1.spec.name, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    enum Phase: Sendable { case disconnected, waitingForHost, online }

    public let configuration: Configuration
    private var metrics: [String: MetricTable] = [:]
    /// The devices, in birth order.
    public private(set) var devices: [String]
    private var nextAlias: UInt64 = 0
    private(set) var bdSeq: UInt64
    private var seq: UInt8 = 0
    private(set) var phase = Phase.disconnected
    private var connections = 0

    /// An edge node reporting `nodeMetrics` itself and `devices` (id → metrics); aliases are assigned in order.
    public init(configuration: Configuration, nodeMetrics: [MetricSpec], devices: [(id: String, metrics: [MetricSpec])]) {
        self.configuration = configuration
        self.bdSeq = configuration.initialBdSeq % 256
        self.devices = devices.map(\.id)
        metrics[""] = table(nodeMetrics)
        for device in devices { metrics[device.id] = table(device.metrics) }
    }

    /// Fresh states for `specs`, with aliases not used before on this node.
    private mutating func table(_ specs: [MetricSpec]) -> MetricTable {
        MetricTable(specs.map { spec in
            nextAlias += 1
            return MetricState(spec: spec, alias: nextAlias)
        })
    }

    /// Adds a device, or replaces one's metrics (their values are forgotten); once online, its DBIRTH.
    public mutating func setDevice(_ id: String, metrics specs: [MetricSpec], now: UInt64) -> [Action] {
        if !devices.contains(id) { devices.append(id) }
        metrics[id] = table(specs)
        guard phase == .online else { return [] }
        return [message(.dbirth, device: id, metrics: birthMetrics(id), now: now)]
    }

    /// Removes a device; once online, its DDEATH.
    public mutating func removeDevice(_ id: String, now: UInt64) -> [Action] {
        guard metrics.removeValue(forKey: id) != nil else { return [] }
        devices.removeAll { $0 == id }
        guard phase == .online else { return [] }
        return [message(.ddeath, device: id, metrics: [], now: now)]
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

    /// New readings of the node (`device` nil) or a device, taken now with good quality.
    public mutating func update(device: String?, values: [(String, SparkplugValue)], now: UInt64) -> [Action] {
        update(device: device, readings: values.map { Reading(name: $0.0, value: $0.1, timestamp: now) }, now: now)
    }

    /// New readings of the node (`device` nil) or a device; once online, publishes those whose
    /// quality changed or whose value moved past the metric's deadband, each at its own time.
    public mutating func update(device: String?, readings: [Reading], now: UInt64) -> [Action] {
        let key = device ?? ""
        guard var table = metrics[key] else { return [] }
        metrics[key] = nil  // updated in place, not copied
        var changed: [SparkplugMetric] = []
        var recorded: [SparkplugMetric] = []
        let recording = configuration.recordsChanges
        for reading in readings {
            guard let index = table.index[reading.name] else { continue }
            let report = table.states[index].mustReport(reading)
            table.states[index].value = reading.value
            table.states[index].quality = reading.quality
            table.states[index].timestamp = reading.timestamp
            guard report, phase == .online || recording, let metric = dataMetric(table.states[index]) else { continue }
            table.states[index].reported = reading.value
            if recording {
                var named = metric
                named.alias = nil
                named.name = table.states[index].spec.name
                recorded.append(named)
            }
            guard phase == .online else { continue }
            var data = metric
            data.dataTypeCode = nil  // data messages resolve the datatype through the birth
            changed.append(data)
        }
        metrics[key] = table
        var actions: [Action] = []
        if !changed.isEmpty { actions.append(message(device == nil ? .ndata : .ddata, device: device, metrics: changed, now: now)) }
        if !recorded.isEmpty {
            actions.append(.record(device: device, payload: SparkplugPayload(metrics: recorded).serialized(), live: phase == .online))
        }
        return actions
    }

    /// Recorded changes replayed after an outage: one data message with `is_historical` set, each
    /// metric at its own time, by the current birth's aliases (metrics no longer born are dropped).
    /// Nothing while the node is not online.
    public mutating func historical(device: String?, metrics recorded: [SparkplugMetric], now: UInt64) -> [Action] {
        guard phase == .online, let table = metrics[device ?? ""] else { return [] }
        let replayed = recorded.compactMap { metric -> SparkplugMetric? in
            guard let name = metric.name, let index = table.index[name] else { return nil }
            var data = metric
            data.name = nil
            data.alias = table.states[index].alias
            data.dataTypeCode = nil
            data.isHistorical = true
            return data
        }
        guard !replayed.isEmpty else { return [] }
        return [message(device == nil ? .ndata : .ddata, device: device, metrics: replayed, now: now)]
    }

    /// Whether births went out and data flows to the host now.
    public var isOnline: Bool { phase == .online }

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
            guard let state = metrics[device ?? ""]?.states.first(where: { $0.spec.name == metric.name || (metric.alias != nil && $0.alias == metric.alias) }),
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
        nodeMetrics += birthMetrics("")
        var actions = [message(.nbirth, device: nil, metrics: nodeMetrics, now: now)]
        for device in devices {
            actions.append(message(.dbirth, device: device, metrics: birthMetrics(device), now: now))
        }
        return actions
    }

    /// A birth's metrics of the node (`key` "") or a device, with names, units and current values;
    /// from now on the deadband is measured from these values.
    private mutating func birthMetrics(_ key: String) -> [SparkplugMetric] {
        guard var table = metrics[key] else { return [] }
        let births = table.states.map { state in
            var properties: [(String, SparkplugPropertyValue)] = []
            if let unit = state.spec.unit { properties.append(("engUnit", SparkplugPropertyValue(type: .string, value: .string(unit)))) }
            if state.value != nil, let quality = Self.qualityProperty(state.quality) { properties.append(quality) }
            // A value that does not fit the datatype is sent as null rather than not at all.
            return (try? SparkplugMetric(name: state.spec.name, alias: state.alias, timestamp: state.timestamp,
                                         dataType: state.spec.dataType, value: state.value,
                                         properties: properties.isEmpty ? nil : SparkplugPropertySet(properties)))
                ?? (try! SparkplugMetric(name: state.spec.name, alias: state.alias, dataType: state.spec.dataType, value: nil))
        }
        for index in table.states.indices { table.states[index].reported = table.states[index].value }
        metrics[key] = table
        return births
    }

    /// A data message's metric for a state: by alias, at the reading's time, with its quality when not good.
    private func dataMetric(_ state: MetricState) -> SparkplugMetric? {
        try? SparkplugMetric(name: nil, alias: state.alias, timestamp: state.timestamp, dataType: state.spec.dataType,
                             value: state.value, properties: Self.qualityProperty(state.quality).map { SparkplugPropertySet([$0]) })
    }

    /// The `Quality` property as Ignition and the specification's examples use it (192 good, 64 uncertain,
    /// 0 bad); nil for good, which a host assumes when the property is missing.
    private static func qualityProperty(_ quality: Quality) -> (String, SparkplugPropertyValue)? {
        switch quality {
        case .good: nil
        case .uncertain: ("Quality", SparkplugPropertyValue(type: .int32, value: .int(64)))
        case .bad: ("Quality", SparkplugPropertyValue(type: .int32, value: .int(0)))
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
