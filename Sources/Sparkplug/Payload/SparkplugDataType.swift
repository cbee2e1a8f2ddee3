/// The datatype codes of Sparkplug B (3.0 § 6.4.16), carried by metrics, property values,
/// dataset columns and template parameters.
public enum SparkplugDataType: UInt32, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case unknown = 0
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case float, double, boolean, string, dateTime, text, uuid
    case dataSet, bytes, file, template, propertySet, propertySetList
    case int8Array, int16Array, int32Array, int64Array
    case uint8Array, uint16Array, uint32Array, uint64Array
    case floatArray, doubleArray, booleanArray, stringArray, dateTimeArray

    /// The name the specification uses (`Int32`, `DoubleArray`, …).
    public var description: String {
        switch self {
        case .unknown: "Unknown"
        case .int8: "Int8"
        case .int16: "Int16"
        case .int32: "Int32"
        case .int64: "Int64"
        case .uint8: "UInt8"
        case .uint16: "UInt16"
        case .uint32: "UInt32"
        case .uint64: "UInt64"
        case .float: "Float"
        case .double: "Double"
        case .boolean: "Boolean"
        case .string: "String"
        case .dateTime: "DateTime"
        case .text: "Text"
        case .uuid: "UUID"
        case .dataSet: "DataSet"
        case .bytes: "Bytes"
        case .file: "File"
        case .template: "Template"
        case .propertySet: "PropertySet"
        case .propertySetList: "PropertySetList"
        case .int8Array: "Int8Array"
        case .int16Array: "Int16Array"
        case .int32Array: "Int32Array"
        case .int64Array: "Int64Array"
        case .uint8Array: "UInt8Array"
        case .uint16Array: "UInt16Array"
        case .uint32Array: "UInt32Array"
        case .uint64Array: "UInt64Array"
        case .floatArray: "FloatArray"
        case .doubleArray: "DoubleArray"
        case .booleanArray: "BooleanArray"
        case .stringArray: "StringArray"
        case .dateTimeArray: "DateTimeArray"
        }
    }

    /// Bytes per element of a fixed-width array type, nil for the others.
    var arrayElementWidth: Int? {
        switch self {
        case .int8Array, .uint8Array: 1
        case .int16Array, .uint16Array: 2
        case .int32Array, .uint32Array, .floatArray: 4
        case .int64Array, .uint64Array, .doubleArray, .dateTimeArray: 8
        default: nil
        }
    }
}
