internal import GembaCore
public import Modbus
public import Sparkplug

/// A device's health, published next to its tags as metrics under `device/` (in Gemba the tags
/// `device.connected`, `device.last_good_read`, `device.read_errors`, `device.late_polls`, `device.last_error`).
public struct DeviceHealth: Sendable, Hashable {
    public var connected = false
    /// Epoch ms of the last poll with at least one good value.
    public var lastGoodRead: Int64?
    /// Reads that failed (timeouts, exceptions, lost connections), since the gateway started.
    public var readErrors: UInt64 = 0
    /// Polls that could not start on time and were skipped.
    public var latePolls: UInt64 = 0
    /// Polls done (not published: it grows each poll).
    public var polls: UInt64 = 0
    public var lastError = ""

    static let prefix = "device/"

    static let metrics: [SparkplugEdgeNode.MetricSpec] = [
        .init(name: prefix + "connected", dataType: .boolean),
        // A healthy device reads every poll: its time is published again once 10 s have passed, not each time.
        .init(name: prefix + "last_good_read", dataType: .dateTime, deadband: 10_000),
        .init(name: prefix + "read_errors", dataType: .uint64),
        .init(name: prefix + "late_polls", dataType: .uint64),
        .init(name: prefix + "last_error", dataType: .string),
    ]

    func readings(at time: Int64) -> [SparkplugEdgeNode.Reading] {
        let stamp = UInt64(max(0, time))
        var values: [(String, SparkplugValue)] = [
            ("connected", .boolean(connected)), ("read_errors", .uint64(readErrors)), ("late_polls", .uint64(latePolls)),
            ("last_error", .string(lastError)),
        ]
        if let lastGoodRead { values.append(("last_good_read", .dateTime(lastGoodRead))) }
        return values.map { SparkplugEdgeNode.Reading(name: Self.prefix + $0.0, value: $0.1, timestamp: stamp) }
    }
}

/// What a Modbus device's polls publish, as a pure state machine: each tag's value at the time it
/// was read, with quality bad (and the last good value) while its read fails or the device is
/// away, and the device's health. Report by exception and deadbands are the edge node's.
public struct ModbusDeviceReporter: Sendable {
    /// A tag that started failing: log it once, not at every poll.
    public struct Failure: Sendable, Hashable {
        public var tag: String
        public var error: ModbusError
    }

    public let map: ModbusDeviceMap
    private var last: [SparkplugValue?]
    private var failing: [Bool]
    public private(set) var health = DeviceHealth()

    public init(map: ModbusDeviceMap) {
        self.map = map
        last = map.device.tags.map { _ in nil }
        failing = map.device.tags.map { _ in false }
    }

    /// A complete poll of a group: its tags' readings and health, and the tags that just started failing.
    public mutating func polled(group: Int, answers: [Result<ModbusResponse, ModbusError>], at time: Int64,
                                latePolls: Int) -> (readings: [SparkplugEdgeNode.Reading], failures: [Failure]) {
        let stamp = UInt64(max(0, time))
        var readings: [SparkplugEdgeNode.Reading] = []
        var failures: [Failure] = []
        var anyGood = false
        for (index, value) in map.values(group: group, answers: answers) {
            let name = map.device.tags[index].name
            switch value {
            case .success(let value):
                anyGood = true
                last[index] = value
                failing[index] = false
                readings.append(.init(name: name, value: value, timestamp: stamp))
            case .failure(let error):
                if !failing[index] { failures.append(Failure(tag: name, error: error)) }
                failing[index] = true
                health.lastError = "\(name): \(error)"
                if let value = last[index] { readings.append(.init(name: name, value: value, quality: .bad, timestamp: stamp)) }
            }
        }
        health.readErrors += UInt64(answers.count { if case .failure = $0 { true } else { false } })
        health.latePolls = UInt64(latePolls)
        health.polls += 1
        if anyGood { health.lastGoodRead = time }
        return (readings + health.readings(at: time), failures)
    }

    /// The device answered a connection.
    public mutating func connected(at time: Int64) -> [SparkplugEdgeNode.Reading] {
        health.connected = true
        return health.readings(at: time)
    }

    /// The connection failed or was lost: every tag read so far goes bad, keeping its last value.
    public mutating func disconnected(_ error: ModbusError, at time: Int64) -> [SparkplugEdgeNode.Reading] {
        let wasConnected = health.connected
        health.connected = false
        health.lastError = "\(error)"
        guard wasConnected else { return health.readings(at: time) }  // its tags went bad when it was lost
        let stamp = UInt64(max(0, time))
        var readings: [SparkplugEdgeNode.Reading] = []
        for (index, tag) in map.device.tags.enumerated() {
            failing[index] = true
            if let value = last[index] { readings.append(.init(name: tag.name, value: value, quality: .bad, timestamp: stamp)) }
        }
        return readings + health.readings(at: time)
    }
}
