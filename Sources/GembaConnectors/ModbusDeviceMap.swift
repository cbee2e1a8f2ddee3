internal import GembaCore
public import Modbus
public import Sparkplug

/// A Modbus device's register map compiled for running: the poller's groups (tags of one interval
/// share a group and are read with as few requests as the limits allow), the Sparkplug metrics it
/// births, and the conversions between registers and metric values both ways.
public struct ModbusDeviceMap: Sendable {
    public let device: ModbusDeviceConfiguration
    /// Per poll group, its tags (indexes into `device.tags`) in the order its read plan knows them.
    let groups: [(interval: Int64, tags: [Int], plan: ModbusReadPlan)]
    /// The poller to run for the device.
    public let poller: ModbusPoller.Configuration

    public init(_ device: ModbusDeviceConfiguration) throws(ModbusError) {
        self.device = device
        let intervals = Array(Set(device.tags.map(\.interval))).sorted()
        var groups: [(interval: Int64, tags: [Int], plan: ModbusReadPlan)] = []
        for interval in intervals {
            let tags = device.tags.indices.filter { device.tags[$0].interval == interval }
            groups.append((interval, tags, try ModbusReadPlan(tags.map { device.tags[$0].point }, maximumGap: device.maximumGap)))
        }
        self.groups = groups
        var poller = ModbusPoller.Configuration(unit: device.unit, groups: groups.map { .init(interval: $0.interval, reads: $0.plan.reads.map(\.request)) })
        poller.pacing = device.pacing
        self.poller = poller
    }

    /// The metrics the device births: its tags, then its health.
    public var metrics: [SparkplugEdgeNode.MetricSpec] {
        device.tags.map { tag in
            SparkplugEdgeNode.MetricSpec(name: tag.name, dataType: Self.dataType(tag), unit: tag.unit, deadband: tag.deadband)
        } + DeviceHealth.metrics
    }

    /// The Sparkplug datatype a tag is published as: the register type itself, or Double once scaled.
    static func dataType(_ tag: ModbusTag) -> SparkplugDataType {
        switch tag.point.type {
        case .bool, .bit: .boolean
        case .string: .string
        case _ where !tag.isRaw: .double
        case .int16: .int16
        case .uint16: .uint16
        case .int32: .int32
        case .uint32: .uint32
        case .int64: .int64
        case .uint64: .uint64
        case .float32: .float
        case .float64: .double
        }
    }

    /// Each tag's value from a poll of `group` (tag index, value or why it failed).
    func values(group: Int, answers: [Result<ModbusResponse, ModbusError>]) -> [(tag: Int, value: Result<SparkplugValue, ModbusError>)] {
        let (_, tags, plan) = groups[group]
        let points = tags.map { device.tags[$0].point }
        let values = plan.values(answers, points: points) { index, response in Self.value(of: device.tags[tags[index]], from: response) }
        return zip(tags, values).map { tag, value in (tag, value.flatMap { $0 }) }
    }

    private static func value(of tag: ModbusTag, from response: ModbusResponse) -> Result<SparkplugValue, ModbusError> {
        let decoded: ModbusValue
        switch response {
        case .bits(let bits): decoded = .bool(bits[0])
        case .registers(let registers): decoded = tag.point.type.decode(registers: registers, order: tag.order, scale: tag.scale, offset: tag.offset)
        case .written: return .failure(.malformed("a write's answer to a read"))
        }
        switch (decoded, dataType(tag)) {
        case (.bool(let flag), _): return .success(.boolean(flag))
        case (.string(let text), _): return .success(.string(text))
        case (.int(let number), .uint64): return .success(.uint64(UInt64(number)))
        case (.int(let number), _): return .success(.int(number))
        case (.uint(let number), _): return .success(.uint64(number))
        case (.double(let number), _) where !number.isFinite:
            return .failure(.malformed("\(tag.name): the registers hold \(number), not a number to publish"))
        case (.double(let number), .float): return .success(.float(Float(number)))
        case (.double(let number), _): return .success(.double(number))
        }
    }

    /// The request that writes `value` (in the metric's datatype, scaled as published) to a writable tag.
    public func write(_ metric: String, value: SparkplugValue) -> Result<ModbusRequest, ModbusError> {
        guard let tag = device.tags.first(where: { $0.name == metric }) else { return .failure(.invalidRequest("\(device.device) has no tag \(metric)")) }
        guard tag.writable else { return .failure(.invalidRequest("\(device.device)/\(metric) is not writable (writable: true in the configuration)")) }
        let address = tag.point.address
        switch (tag.point.table, value) {
        case (.coil, .boolean(let flag)):
            return .success(.writeSingleCoil(address: address, value: flag))
        case (.holdingRegister, _):
            let raw: ModbusValue
            switch value {
            case .string(let text): raw = .string(text)
            case _ where value.number != nil && !tag.isRaw: raw = .double((value.number! - tag.offset) / tag.scale)
            case .int(let number): raw = .int(number)
            case .uint64(let number): raw = .uint(number)
            case .float(let number): raw = .double(Double(number))
            case .double(let number): raw = .double(number)
            default: return .failure(.invalidRequest("\(device.device)/\(metric): \(value) cannot be written to \(tag.point.type)"))
            }
            let rounded: ModbusValue = if case .double(let number) = raw, tag.point.type.isInteger { .double(number.rounded()) } else { raw }
            guard let registers = tag.point.type.encode(rounded, order: tag.order) else {
                return .failure(.invalidRequest("\(device.device)/\(metric): \(value) does not fit \(tag.point.type)"))
            }
            return .success(registers.count == 1 ? .writeSingleRegister(address: address, value: registers[0])
                                                 : .writeMultipleRegisters(address: address, values: registers))
        default:
            return .failure(.invalidRequest("\(device.device)/\(metric): \(value) cannot be written to a \(tag.point.table.rawValue)"))
        }
    }
}

extension ModbusValueType {
    var isInteger: Bool {
        switch self {
        case .int16, .uint16, .int32, .uint32, .int64, .uint64: true
        default: false
        }
    }
}
