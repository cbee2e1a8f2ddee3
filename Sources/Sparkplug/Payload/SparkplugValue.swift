#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A value as Sparkplug types it, read from the wire field its datatype selects (3.0 § 6.4.16).
///
/// Integers up to 32 bits travel in `int_value` (two's complement for the signed ones), 64-bit
/// ones and DateTime in `long_value`; arrays in `bytes_value`, little-endian and packed, except
/// BooleanArray (a 4-byte little-endian count, then the bits, most significant first) and
/// StringArray (UTF-8 strings, each ended by a NUL byte).
public indirect enum SparkplugValue: Sendable, Hashable {
    /// Int8, Int16, Int32, Int64, UInt8, UInt16 and UInt32.
    case int(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case boolean(Bool)
    /// String, Text and UUID.
    case string(String)
    /// Milliseconds since the Unix epoch, UTC.
    case dateTime(Int64)
    /// Bytes and File.
    case bytes([UInt8])
    case dataSet(SparkplugDataSet)
    case template(SparkplugTemplate)
    case propertySet(SparkplugPropertySet)
    case propertySetList([SparkplugPropertySet])
    /// Int8Array … Int64Array, UInt8Array … UInt32Array.
    case intArray([Int64])
    case uint64Array([UInt64])
    case floatArray([Float])
    case doubleArray([Double])
    case booleanArray([Bool])
    case stringArray([String])
    case dateTimeArray([Int64])
}

/// A value that does not fit the datatype it is declared with.
public struct SparkplugValueError: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String

    init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// The `value` oneof of metrics, property values, dataset values and template parameters, before
/// the datatype says what it means.
enum SparkplugWireValue {
    case int(UInt32)
    case long(UInt64)
    case float(Float)
    case double(Double)
    case boolean(Bool)
    case string(String)
    case bytes(Data)
    // Boxed: rare and large, they would otherwise widen every metric.
    indirect case dataSet(Org_Eclipse_Tahu_Protobuf_Payload.DataSet)
    indirect case template(Org_Eclipse_Tahu_Protobuf_Payload.Template)
    indirect case propertySet(Org_Eclipse_Tahu_Protobuf_Payload.PropertySet)
    indirect case propertySetList(Org_Eclipse_Tahu_Protobuf_Payload.PropertySetList)
    case `extension`

    var fieldName: String {
        switch self {
        case .int: "int_value"
        case .long: "long_value"
        case .float: "float_value"
        case .double: "double_value"
        case .boolean: "boolean_value"
        case .string: "string_value"
        case .bytes: "bytes_value"
        case .dataSet: "dataset_value"
        case .template: "template_value"
        case .propertySet: "propertyset_value"
        case .propertySetList: "propertysets_value"
        case .extension: "extension_value"
        }
    }
}

/// The `value` oneofs of the generated messages (metric, property value, dataset value, template
/// parameter) share their scalar cases; ``SparkplugWireValue/scalar(as:)`` fills any of them.
protocol ScalarOneOf {
    static func intValue(_ value: UInt32) -> Self
    static func longValue(_ value: UInt64) -> Self
    static func floatValue(_ value: Float) -> Self
    static func doubleValue(_ value: Double) -> Self
    static func booleanValue(_ value: Bool) -> Self
    static func stringValue(_ value: String) -> Self
}

extension Org_Eclipse_Tahu_Protobuf_Payload.Metric.OneOf_Value: ScalarOneOf {}
extension Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue.OneOf_Value: ScalarOneOf {}
extension Org_Eclipse_Tahu_Protobuf_Payload.DataSet.DataSetValue.OneOf_Value: ScalarOneOf {}
extension Org_Eclipse_Tahu_Protobuf_Payload.Template.Parameter.OneOf_Value: ScalarOneOf {}

extension SparkplugWireValue {
    /// This value as the scalar case of a generated oneof; nil for bytes and nested messages.
    func scalar<Field: ScalarOneOf>(as _: Field.Type = Field.self) -> Field? {
        switch self {
        case .int(let value): .intValue(value)
        case .long(let value): .longValue(value)
        case .float(let value): .floatValue(value)
        case .double(let value): .doubleValue(value)
        case .boolean(let value): .booleanValue(value)
        case .string(let value): .stringValue(value)
        case .bytes, .dataSet, .template, .propertySet, .propertySetList, .extension: nil
        }
    }
}

extension SparkplugValue {
    /// A scalar number as a Double (integers, floats, date-times); nil for anything else.
    public var number: Double? {
        switch self {
        case .int(let value), .dateTime(let value): Double(value)
        case .uint64(let value): Double(value)
        case .float(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// Reads a wire value as `type`; throws when the field does not carry that type or the value is out of its range.
    static func decode(_ wire: SparkplugWireValue, as type: SparkplugDataType) throws(SparkplugValueError) -> SparkplugValue {
        func mismatch() -> SparkplugValueError {
            SparkplugValueError("a \(type) value cannot travel in \(wire.fieldName)")
        }
        switch (type, wire) {
        case (.int8, .int(let raw)), (.int16, .int(let raw)), (.int32, .int(let raw)):
            return .int(try signed(raw, as: type))
        case (.int8, .long(let raw)), (.int16, .long(let raw)), (.int32, .long(let raw)):
            return .int(try signed(UInt32(truncatingIfNeeded: raw), as: type))
        case (.int64, .long(let raw)): return .int(Int64(bitPattern: raw))
        case (.int64, .int(let raw)): return .int(Int64(Int32(bitPattern: raw)))
        case (.uint8, .int(let raw)), (.uint16, .int(let raw)), (.uint32, .int(let raw)):
            return .int(try unsigned(UInt64(raw), as: type))
        case (.uint8, .long(let raw)), (.uint16, .long(let raw)), (.uint32, .long(let raw)):
            return .int(try unsigned(raw, as: type))
        case (.uint64, .long(let raw)): return .uint64(raw)
        case (.uint64, .int(let raw)): return .uint64(UInt64(raw))
        case (.float, .float(let value)): return .float(value)
        case (.double, .double(let value)): return .double(value)
        case (.double, .float(let value)): return .double(Double(value))
        case (.boolean, .boolean(let value)): return .boolean(value)
        case (.string, .string(let value)), (.text, .string(let value)), (.uuid, .string(let value)):
            return .string(value)
        case (.dateTime, .long(let raw)): return .dateTime(Int64(bitPattern: raw))
        case (.bytes, .bytes(let data)), (.file, .bytes(let data)): return .bytes([UInt8](data))
        case (.dataSet, .dataSet(let dataSet)): return .dataSet(try SparkplugDataSet(dataSet))
        case (.template, .template(let template)): return .template(try SparkplugTemplate(template))
        case (.propertySet, .propertySet(let set)): return .propertySet(try SparkplugPropertySet(set))
        case (.propertySetList, .propertySetList(let list)):
            var sets: [SparkplugPropertySet] = []
            for set in list.propertyset { sets.append(try SparkplugPropertySet(set)) }
            return .propertySetList(sets)
        case (_, .bytes(let data)) where type.arrayElementWidth != nil || type == .booleanArray || type == .stringArray:
            return try array([UInt8](data), as: type)
        case (.unknown, _): throw SparkplugValueError("datatype Unknown (0) carries no value")
        default: throw mismatch()
        }
    }

    private static func signed(_ raw: UInt32, as type: SparkplugDataType) throws(SparkplugValueError) -> Int64 {
        // Producers write narrow negatives either sign-extended to 32 bits or in their own width only.
        switch type {
        case .int8:
            guard raw <= 0xFF || raw >= 0xFFFF_FF80 else { throw SparkplugValueError("\(raw) is out of range for Int8") }
            return Int64(Int8(truncatingIfNeeded: raw))
        case .int16:
            guard raw <= 0xFFFF || raw >= 0xFFFF_8000 else { throw SparkplugValueError("\(raw) is out of range for Int16") }
            return Int64(Int16(truncatingIfNeeded: raw))
        default:
            return Int64(Int32(bitPattern: raw))
        }
    }

    private static func unsigned(_ raw: UInt64, as type: SparkplugDataType) throws(SparkplugValueError) -> Int64 {
        let limit: UInt64 = switch type {
        case .uint8: 0xFF
        case .uint16: 0xFFFF
        default: 0xFFFF_FFFF
        }
        guard raw <= limit else { throw SparkplugValueError("\(raw) is out of range for \(type)") }
        return Int64(raw)
    }

    private static func array(_ bytes: [UInt8], as type: SparkplugDataType) throws(SparkplugValueError) -> SparkplugValue {
        switch type {
        case .booleanArray:
            guard bytes.count >= 4 else { throw SparkplugValueError("a BooleanArray starts with a 4-byte count") }
            let count = Int(littleEndian(bytes, at: 0, width: 4))
            guard bytes.count - 4 == (count + 7) / 8 else {
                throw SparkplugValueError("a BooleanArray of \(count) values needs \((count + 7) / 8) bytes after its count, got \(bytes.count - 4)")
            }
            return .booleanArray((0..<count).map { index in bytes[4 + index / 8] & (0x80 >> (index % 8)) != 0 })
        case .stringArray:
            guard bytes.isEmpty || bytes.last == 0 else { throw SparkplugValueError("a StringArray's strings each end with a NUL byte") }
            return .stringArray(bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
                String(decoding: $0, as: UTF8.self)
            })
        default:
            let width = type.arrayElementWidth!
            guard bytes.count % width == 0 else {
                throw SparkplugValueError("\(bytes.count) bytes is not a whole number of \(width)-byte \(type) elements")
            }
            let raw = stride(from: 0, to: bytes.count, by: width).map { littleEndian(bytes, at: $0, width: width) }
            switch type {
            case .int8Array: return .intArray(raw.map { Int64(Int8(truncatingIfNeeded: $0)) })
            case .int16Array: return .intArray(raw.map { Int64(Int16(truncatingIfNeeded: $0)) })
            case .int32Array: return .intArray(raw.map { Int64(Int32(truncatingIfNeeded: $0)) })
            case .int64Array: return .intArray(raw.map { Int64(bitPattern: $0) })
            case .uint8Array, .uint16Array, .uint32Array: return .intArray(raw.map { Int64($0) })
            case .uint64Array: return .uint64Array(raw)
            case .floatArray: return .floatArray(raw.map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) })
            case .doubleArray: return .doubleArray(raw.map { Double(bitPattern: $0) })
            default: return .dateTimeArray(raw.map { Int64(bitPattern: $0) })
            }
        }
    }

    private static func littleEndian(_ bytes: [UInt8], at offset: Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in (0..<width).reversed() { value = value << 8 | UInt64(bytes[offset + index]) }
        return value
    }

    /// The wire field that carries this value as `type`; throws when the value is not of that type.
    func wire(as type: SparkplugDataType) throws(SparkplugValueError) -> SparkplugWireValue {
        func mismatch() -> SparkplugValueError { SparkplugValueError("\(self) is not a \(type) value") }
        switch (type, self) {
        case (.int8, .int(let value)), (.int16, .int(let value)), (.int32, .int(let value)):
            guard let narrow = Int32(exactly: value) else { throw mismatch() }
            return .int(UInt32(bitPattern: narrow))
        case (.uint8, .int(let value)), (.uint16, .int(let value)), (.uint32, .int(let value)):
            guard let narrow = UInt32(exactly: value) else { throw mismatch() }
            return .int(narrow)
        case (.int64, .int(let value)), (.dateTime, .dateTime(let value)): return .long(UInt64(bitPattern: value))
        case (.uint64, .uint64(let value)): return .long(value)
        case (.uint64, .int(let value)) where value >= 0: return .long(UInt64(value))
        case (.float, .float(let value)): return .float(value)
        case (.float, .double(let value)): return .float(Float(value))
        case (.double, .double(let value)): return .double(value)
        case (.double, .float(let value)): return .double(Double(value))
        case (.boolean, .boolean(let value)): return .boolean(value)
        case (.string, .string(let value)), (.text, .string(let value)), (.uuid, .string(let value)): return .string(value)
        case (.bytes, .bytes(let value)), (.file, .bytes(let value)): return .bytes(Data(value))
        case (.dataSet, .dataSet(let value)): return .dataSet(value.proto)
        case (.template, .template(let value)): return .template(value.proto)
        case (.propertySet, .propertySet(let value)): return .propertySet(value.proto)
        case (.propertySetList, .propertySetList(let sets)):
            var list = Org_Eclipse_Tahu_Protobuf_Payload.PropertySetList()
            list.propertyset = sets.map(\.proto)
            return .propertySetList(list)
        default:
            return .bytes(Data(try arrayBytes(as: type)))
        }
    }

    private func arrayBytes(as type: SparkplugDataType) throws(SparkplugValueError) -> [UInt8] {
        func packed(_ values: [UInt64], width: Int) -> [UInt8] {
            values.flatMap { value in (0..<width).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        }
        switch (type, self) {
        case (.int8Array, .intArray(let values)), (.uint8Array, .intArray(let values)),
             (.int16Array, .intArray(let values)), (.uint16Array, .intArray(let values)),
             (.int32Array, .intArray(let values)), (.uint32Array, .intArray(let values)),
             (.int64Array, .intArray(let values)), (.dateTimeArray, .dateTimeArray(let values)):
            return packed(values.map { UInt64(bitPattern: $0) }, width: type.arrayElementWidth!)
        case (.uint64Array, .uint64Array(let values)): return packed(values, width: 8)
        case (.floatArray, .floatArray(let values)): return packed(values.map { UInt64($0.bitPattern) }, width: 4)
        case (.doubleArray, .doubleArray(let values)): return packed(values.map(\.bitPattern), width: 8)
        case (.booleanArray, .booleanArray(let values)):
            var bytes = packed([UInt64(values.count)], width: 4) + [UInt8](repeating: 0, count: (values.count + 7) / 8)
            for (index, value) in values.enumerated() where value { bytes[4 + index / 8] |= 0x80 >> (index % 8) }
            return bytes
        case (.stringArray, .stringArray(let values)): return values.flatMap { Array($0.utf8) + [0] }
        default: throw SparkplugValueError("\(self) is not a \(type) value")
        }
    }
}
