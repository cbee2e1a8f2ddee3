public import GembaCore
public import OPCUA
public import Sparkplug

/// Conversions between OPC UA values and a tag's Sparkplug metric, both ways.
public enum OPCUAValueConversion {
    /// The datatypes an OPC UA tag may be published as.
    public static let publishable: [SparkplugDataType] = [.boolean, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64,
                                                          .float, .double, .string, .dateTime]

    /// A node's value as the tag's metric; nil when it cannot be one (a structure, an array, a string for a number…).
    public static func metricValue(_ value: Variant, as type: SparkplugDataType) -> SparkplugValue? {
        switch type {
        case .boolean:
            if case .boolean(let flag) = value { return .boolean(flag) }
            return value.doubleValue.map { .boolean($0 != 0) }
        case .string, .text:
            switch value {
            case .string(let text): return .string(text ?? "")
            case .localizedText(let text): return .string(text.text ?? "")
            case .array: return nil
            default: return value.doubleValue.map { .string(Self.text($0)) }
            }
        case .dateTime:
            if case .dateTime(let time) = value { return .dateTime(time.millisecondsSince1970) }
            return nil
        case .float:
            return value.doubleValue.map { .float(Float($0)) }
        case .double:
            return value.doubleValue.map { .double($0) }
        case .uint64:
            if case .uint64(let number) = value { return .uint64(number) }
            return integer(value).flatMap { $0 >= 0 ? .uint64(UInt64($0)) : nil }
        case .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32:
            guard let number = integer(value), type.range.contains(number) else { return nil }
            return .int(number)
        default:
            return nil
        }
    }

    /// An integral value (a float only when it is whole).
    private static func integer(_ value: Variant) -> Int64? {
        switch value {
        case .uint64(let number): return number <= UInt64(Int64.max) ? Int64(number) : nil
        case .int64(let number): return number
        default:
            guard let number = value.doubleValue, number.rounded() == number, abs(number) < 9.2e18 else { return nil }
            return Int64(number)
        }
    }

    private static func text(_ number: Double) -> String { number.rounded() == number && abs(number) < 1e15 ? "\(Int64(number))" : "\(number)" }

    /// A command's value as the node's built-in type; nil when it does not fit.
    public static func variant(_ value: SparkplugValue, as type: BuiltInType) -> Variant? {
        if case .string(let text) = value { return type == .string ? .string(text) : nil }
        if case .boolean(let flag) = value { return type == .boolean ? .boolean(flag) : nil }
        guard let number = value.number else { return nil }
        func whole<T: FixedWidthInteger>(_: T.Type) -> T? { number.rounded() == number ? T(exactly: number) : nil }
        switch type {
        case .sbyte: return whole(Int8.self).map(Variant.sbyte)
        case .byte: return whole(UInt8.self).map(Variant.byte)
        case .int16: return whole(Int16.self).map(Variant.int16)
        case .uint16: return whole(UInt16.self).map(Variant.uint16)
        case .int32: return whole(Int32.self).map(Variant.int32)
        case .uint32: return whole(UInt32.self).map(Variant.uint32)
        case .int64:
            if case .int(let integer) = value { return .int64(integer) }
            return whole(Int64.self).map(Variant.int64)
        case .uint64:
            if case .uint64(let integer) = value { return .uint64(integer) }
            return whole(UInt64.self).map(Variant.uint64)
        case .float: return number.isFinite && abs(number) <= Double(Float.greatestFiniteMagnitude) ? .float(Float(number)) : nil
        case .double: return .double(number)
        case .dateTime: return .dateTime(UADateTime(millisecondsSince1970: Int64(number)))
        default: return nil
        }
    }

    /// Quality from a status code's severity (Part 4 §7.39).
    public static func quality(_ status: StatusCode) -> Quality {
        switch status.severity {
        case .good: .good
        case .uncertain: .uncertain
        case .bad: .bad
        }
    }
}

extension SparkplugDataType {
    /// The values an integer datatype holds.
    var range: ClosedRange<Int64> {
        switch self {
        case .int8: Int64(Int8.min)...Int64(Int8.max)
        case .int16: Int64(Int16.min)...Int64(Int16.max)
        case .int32: Int64(Int32.min)...Int64(Int32.max)
        case .uint8: 0...Int64(UInt8.max)
        case .uint16: 0...Int64(UInt16.max)
        case .uint32: 0...Int64(UInt32.max)
        case .uint64: 0...Int64.max
        default: Int64.min...Int64.max
        }
    }
}

/// What an OPC UA device publishes, as a pure state machine: each tag's value at its source time
/// (the server's time when the source gave none, the gateway's when neither did), with quality
/// from its status code; bad quality with the last value while the server is away or a node
/// cannot be read; and the device's health (``DeviceHealth``).
public struct OPCUADeviceReporter: Sendable {
    /// A tag that started failing: log it once, not at every notification.
    public struct Failure: Sendable, Hashable {
        public var tag: String
        public var reason: String
    }

    public let device: OPCUADeviceConfiguration
    private var last: [SparkplugValue?]
    private var failing: [Bool]
    public private(set) var health = DeviceHealth()

    public init(_ device: OPCUADeviceConfiguration) {
        self.device = device
        last = device.tags.map { _ in nil }
        failing = device.tags.map { _ in false }
    }

    /// The metrics the device births: its tags, then its health.
    public var metrics: [SparkplugEdgeNode.MetricSpec] {
        device.tags.map { tag in
            let absolute: Double? = if case .absolute(let band) = tag.deadband { band } else { nil }
            return SparkplugEdgeNode.MetricSpec(name: tag.name, dataType: tag.dataType, unit: tag.unit, deadband: absolute)
        } + DeviceHealth.metrics
    }

    /// New values of tags (by index), from a notification or a read.
    public mutating func values(_ values: [(tag: Int, value: DataValue)], at now: Int64) -> (readings: [SparkplugEdgeNode.Reading], failures: [Failure]) {
        var readings: [SparkplugEdgeNode.Reading] = []
        var failures: [Failure] = []
        var anyGood = false
        for (index, value) in values where device.tags.indices.contains(index) {
            let tag = device.tags[index]
            let time = [value.sourceTimestamp, value.serverTimestamp].compactMap { $0 }.first { !$0.isUnset }?.millisecondsSince1970 ?? now
            let stamp = UInt64(max(0, time))
            let converted = value.value.flatMap { OPCUAValueConversion.metricValue($0, as: tag.dataType) }
            let quality = OPCUAValueConversion.quality(value.statusCode)
            if let converted {
                anyGood = anyGood || quality == .good
                last[index] = converted
                failing[index] = false
                readings.append(.init(name: tag.name, value: converted, quality: quality, timestamp: stamp))
                continue
            }
            let reason = value.statusCode.isBad ? "\(value.statusCode)" : "the value \(value.value.map { "\($0)" } ?? "null") is not a \(tag.dataType)"
            if !failing[index] { failures.append(Failure(tag: tag.name, reason: reason)) }
            failing[index] = true
            health.readErrors += 1
            health.lastError = "\(tag.name): \(reason)"
            if let previous = last[index] { readings.append(.init(name: tag.name, value: previous, quality: .bad, timestamp: stamp)) }
        }
        health.polls += 1
        if anyGood { health.lastGoodRead = now }
        return (readings + health.readings(at: now), failures)
    }

    /// A tag that cannot be monitored or read at all (an unknown node, a browse path leading nowhere).
    public mutating func unavailable(tag index: Int, reason: String, at now: Int64) -> Failure? {
        guard device.tags.indices.contains(index) else { return nil }
        health.lastError = "\(device.tags[index].name): \(reason)"
        defer { failing[index] = true }
        return failing[index] ? nil : Failure(tag: device.tags[index].name, reason: reason)
    }

    /// The session is up.
    public mutating func connected(at now: Int64) -> [SparkplugEdgeNode.Reading] {
        health.connected = true
        return health.readings(at: now)
    }

    /// The session failed or was lost: every tag read so far goes bad, keeping its last value.
    public mutating func disconnected(_ reason: String, at now: Int64) -> [SparkplugEdgeNode.Reading] {
        let wasConnected = health.connected
        health.connected = false
        health.lastError = reason
        guard wasConnected else { return health.readings(at: now) }
        let stamp = UInt64(max(0, now))
        var readings: [SparkplugEdgeNode.Reading] = []
        for (index, tag) in device.tags.enumerated() {
            failing[index] = true
            if let value = last[index] { readings.append(.init(name: tag.name, value: value, quality: .bad, timestamp: stamp)) }
        }
        return readings + health.readings(at: now)
    }
}
