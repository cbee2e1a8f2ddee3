#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Properties of a metric (3.0 § 6.4.8): keys and typed values, such as `engUnit` or `Quality`.
public struct SparkplugPropertySet: Sendable, Hashable {
    public var keys: [String]
    public var values: [SparkplugPropertyValue]

    public init(_ entries: [(String, SparkplugPropertyValue)] = []) {
        keys = entries.map(\.0)
        values = entries.map(\.1)
    }

    /// The value under `key`, compared without regard to case.
    public subscript(key: String) -> SparkplugPropertyValue? {
        keys.firstIndex { $0.caseInsensitiveCompare(key) == .orderedSame }.map { values[$0] }
    }

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload.PropertySet) throws(SparkplugValueError) {
        guard proto.keys.count == proto.values.count else {
            throw SparkplugValueError("a property set has \(proto.keys.count) keys but \(proto.values.count) values")
        }
        keys = proto.keys
        values = []
        for (key, value) in zip(proto.keys, proto.values) {
            do throws(SparkplugValueError) {
                values.append(try SparkplugPropertyValue(value))
            } catch {
                throw SparkplugValueError("property \"\(key)\": \(error.reason)")
            }
        }
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload.PropertySet {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload.PropertySet()
        proto.keys = keys
        proto.values = values.map(\.proto)
        return proto
    }
}

/// One typed property value (3.0 § 6.4.9).
public struct SparkplugPropertyValue: Sendable, Hashable {
    public var type: SparkplugDataType
    /// nil when the property is null.
    public var value: SparkplugValue?

    public init(type: SparkplugDataType, value: SparkplugValue?) {
        self.type = type
        self.value = value
    }

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue) throws(SparkplugValueError) {
        guard let type = SparkplugDataType(rawValue: proto.type) else {
            throw SparkplugValueError("unknown datatype \(proto.type)")
        }
        self.type = type
        let wire: SparkplugWireValue? = switch proto.value {
        case .intValue(let value)?: .int(value)
        case .longValue(let value)?: .long(value)
        case .floatValue(let value)?: .float(value)
        case .doubleValue(let value)?: .double(value)
        case .booleanValue(let value)?: .boolean(value)
        case .stringValue(let value)?: .string(value)
        case .propertysetValue(let value)?: .propertySet(value)
        case .propertysetsValue(let value)?: .propertySetList(value)
        case .extensionValue?: .extension
        case nil: nil
        }
        if proto.isNull || wire == nil {
            value = nil
        } else {
            value = try SparkplugValue.decode(wire!, as: type)
        }
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload.PropertyValue()
        proto.type = type.rawValue
        guard let wire = try? value?.wire(as: type) else {
            proto.isNull = true
            return proto
        }
        switch wire {
        case .propertySet(let value): proto.propertysetValue = value
        case .propertySetList(let value): proto.propertysetsValue = value
        case .bytes, .dataSet, .template, .extension: proto.isNull = true
        case .int, .long, .float, .double, .boolean, .string: proto.value = wire.scalar()
        }
        return proto
    }
}
