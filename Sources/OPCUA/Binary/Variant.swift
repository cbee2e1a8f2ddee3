/// The built-in types a ``Variant`` may hold, by their type id (Part 6 §5.1.2).
public enum BuiltInType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case boolean = 1, sbyte, byte, int16, uint16, int32, uint32, int64, uint64, float, double, string, dateTime, guid,
         byteString, xmlElement, nodeId, expandedNodeId, statusCode, qualifiedName, localizedText, extensionObject,
         dataValue, variant, diagnosticInfo

    public var description: String {
        switch self {
        case .boolean: "Boolean"
        case .sbyte: "SByte"
        case .byte: "Byte"
        case .int16: "Int16"
        case .uint16: "UInt16"
        case .int32: "Int32"
        case .uint32: "UInt32"
        case .int64: "Int64"
        case .uint64: "UInt64"
        case .float: "Float"
        case .double: "Double"
        case .string: "String"
        case .dateTime: "DateTime"
        case .guid: "Guid"
        case .byteString: "ByteString"
        case .xmlElement: "XmlElement"
        case .nodeId: "NodeId"
        case .expandedNodeId: "ExpandedNodeId"
        case .statusCode: "StatusCode"
        case .qualifiedName: "QualifiedName"
        case .localizedText: "LocalizedText"
        case .extensionObject: "ExtensionObject"
        case .dataValue: "DataValue"
        case .variant: "Variant"
        case .diagnosticInfo: "DiagnosticInfo"
        }
    }

    /// The DataType node of the type (`i=1` … `i=25`): a node's DataType attribute names these for built-in types.
    public var dataTypeId: NodeId { NodeId(UInt32(rawValue)) }
}

/// A value of any built-in type, or an array of one type (Part 6 §5.2.2.16).
public indirect enum Variant: Hashable, Sendable {
    case null
    case boolean(Bool)
    case sbyte(Int8)
    case byte(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case string(String?)
    case dateTime(UADateTime)
    case guid(UAGuid)
    case byteString([UInt8]?)
    case xmlElement(String?)
    case nodeId(NodeId)
    case expandedNodeId(ExpandedNodeId)
    case statusCode(StatusCode)
    case qualifiedName(QualifiedName)
    case localizedText(LocalizedText)
    case extensionObject(ExtensionObject)
    case dataValue(DataValue)
    case variant(Variant)
    case diagnosticInfo(DiagnosticInfo)
    /// Elements all of `type`; `dimensions` for a matrix (row-major), nil for one dimension.
    case array(type: BuiltInType, elements: [Variant], dimensions: [Int32]? = nil)

    /// The built-in type held (an array's element type); nil for null.
    public var type: BuiltInType? {
        switch self {
        case .null: nil
        case .boolean: .boolean
        case .sbyte: .sbyte
        case .byte: .byte
        case .int16: .int16
        case .uint16: .uint16
        case .int32: .int32
        case .uint32: .uint32
        case .int64: .int64
        case .uint64: .uint64
        case .float: .float
        case .double: .double
        case .string: .string
        case .dateTime: .dateTime
        case .guid: .guid
        case .byteString: .byteString
        case .xmlElement: .xmlElement
        case .nodeId: .nodeId
        case .expandedNodeId: .expandedNodeId
        case .statusCode: .statusCode
        case .qualifiedName: .qualifiedName
        case .localizedText: .localizedText
        case .extensionObject: .extensionObject
        case .dataValue: .dataValue
        case .variant: .variant
        case .diagnosticInfo: .diagnosticInfo
        case .array(let type, _, _): type
        }
    }

    /// The value as a Double when it is a number or a Boolean.
    public var doubleValue: Double? {
        switch self {
        case .boolean(let value): value ? 1 : 0
        case .sbyte(let value): Double(value)
        case .byte(let value): Double(value)
        case .int16(let value): Double(value)
        case .uint16(let value): Double(value)
        case .int32(let value): Double(value)
        case .uint32(let value): Double(value)
        case .int64(let value): Double(value)
        case .uint64(let value): Double(value)
        case .float(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }
}

extension Variant: UACodable {
    public init(from reader: inout UAReader) throws(UADecodingError) {
        self = try reader.nested { (reader: inout UAReader) throws(UADecodingError) -> Variant in
            let mask = try reader.byte()
            guard mask & 0x3F != 0 else { return .null }
            guard let type = BuiltInType(rawValue: mask & 0x3F) else { throw reader.error("unknown Variant type \(mask & 0x3F)") }
            guard mask & 0x80 != 0 else {
                guard mask & 0x40 == 0 else { throw reader.error("a scalar Variant with array dimensions") }
                return try Self.scalar(type, from: &reader)
            }
            let elements = try reader.array { (reader: inout UAReader) throws(UADecodingError) in try Self.scalar(type, from: &reader) }
            let dimensions = mask & 0x40 != 0 ? try reader.array { (reader: inout UAReader) throws(UADecodingError) in try reader.int32() } : nil
            if let dimensions {
                let product = dimensions.reduce(1) { $0 * max(0, Int($1)) }
                guard product == elements.count else { throw reader.error("array dimensions \(dimensions) for \(elements.count) elements") }
            }
            return .array(type: type, elements: elements, dimensions: dimensions)
        }
    }

    static func scalar(_ type: BuiltInType, from reader: inout UAReader) throws(UADecodingError) -> Variant {
        switch type {
        case .boolean: .boolean(try reader.boolean())
        case .sbyte: .sbyte(try reader.sbyte())
        case .byte: .byte(try reader.byte())
        case .int16: .int16(try reader.int16())
        case .uint16: .uint16(try reader.uint16())
        case .int32: .int32(try reader.int32())
        case .uint32: .uint32(try reader.uint32())
        case .int64: .int64(try reader.int64())
        case .uint64: .uint64(try reader.uint64())
        case .float: .float(try reader.float())
        case .double: .double(try reader.double())
        case .string: .string(try reader.string())
        case .dateTime: .dateTime(try UADateTime(from: &reader))
        case .guid: .guid(try UAGuid(from: &reader))
        case .byteString: .byteString(try reader.byteString())
        case .xmlElement: .xmlElement(try reader.string())
        case .nodeId: .nodeId(try NodeId(from: &reader))
        case .expandedNodeId: .expandedNodeId(try ExpandedNodeId(from: &reader))
        case .statusCode: .statusCode(try StatusCode(from: &reader))
        case .qualifiedName: .qualifiedName(try QualifiedName(from: &reader))
        case .localizedText: .localizedText(try LocalizedText(from: &reader))
        case .extensionObject: .extensionObject(try ExtensionObject(from: &reader))
        case .dataValue: .dataValue(try DataValue(from: &reader))
        case .variant: .variant(try Variant(from: &reader))
        case .diagnosticInfo: .diagnosticInfo(try DiagnosticInfo(from: &reader))
        }
    }

    public func encode(to writer: inout UAWriter) {
        switch self {
        case .null: writer.byte(0)
        case .array(let type, let elements, let dimensions):
            writer.byte(type.rawValue | 0x80 | (dimensions == nil ? 0 : 0x40))
            writer.int32(Int32(elements.count))
            for element in elements { element.encodeScalar(to: &writer) }
            if let dimensions { writer.array(dimensions) { $0.int32($1) } }
        default:
            writer.byte(type!.rawValue)
            encodeScalar(to: &writer)
        }
    }

    private func encodeScalar(to writer: inout UAWriter) {
        switch self {
        case .null, .array: return
        case .boolean(let value): writer.boolean(value)
        case .sbyte(let value): writer.sbyte(value)
        case .byte(let value): writer.byte(value)
        case .int16(let value): writer.int16(value)
        case .uint16(let value): writer.uint16(value)
        case .int32(let value): writer.int32(value)
        case .uint32(let value): writer.uint32(value)
        case .int64(let value): writer.int64(value)
        case .uint64(let value): writer.uint64(value)
        case .float(let value): writer.float(value)
        case .double(let value): writer.double(value)
        case .string(let value), .xmlElement(let value): writer.string(value)
        case .dateTime(let value): value.encode(to: &writer)
        case .guid(let value): value.encode(to: &writer)
        case .byteString(let value): writer.byteString(value)
        case .nodeId(let value): value.encode(to: &writer)
        case .expandedNodeId(let value): value.encode(to: &writer)
        case .statusCode(let value): value.encode(to: &writer)
        case .qualifiedName(let value): value.encode(to: &writer)
        case .localizedText(let value): value.encode(to: &writer)
        case .extensionObject(let value): value.encode(to: &writer)
        case .dataValue(let value): value.encode(to: &writer)
        case .variant(let value): value.encode(to: &writer)
        case .diagnosticInfo(let value): value.encode(to: &writer)
        }
    }
}

/// A value with its status and times (Part 6 §5.2.2.17); absent fields are nil.
public struct DataValue: Hashable, Sendable, UACodable {
    public var value: Variant?
    public var status: StatusCode?
    public var sourceTimestamp: UADateTime?
    public var sourcePicoseconds: UInt16?
    public var serverTimestamp: UADateTime?
    public var serverPicoseconds: UInt16?

    public init(value: Variant? = nil, status: StatusCode? = nil, sourceTimestamp: UADateTime? = nil, serverTimestamp: UADateTime? = nil) {
        self.value = value
        self.status = status
        self.sourceTimestamp = sourceTimestamp
        self.serverTimestamp = serverTimestamp
    }

    /// The status, Good when absent (§5.2.2.17).
    public var statusCode: StatusCode { status ?? .good }

    public init(from reader: inout UAReader) throws(UADecodingError) {
        let (value, status, source, sourcePico, server, serverPico) = try reader.nested {
            (reader: inout UAReader) throws(UADecodingError) -> (Variant?, StatusCode?, UADateTime?, UInt16?, UADateTime?, UInt16?) in
            let mask = try reader.byte()
            return (mask & 0x01 != 0 ? try Variant(from: &reader) : nil,
                    mask & 0x02 != 0 ? try StatusCode(from: &reader) : nil,
                    mask & 0x04 != 0 ? try UADateTime(from: &reader) : nil,
                    mask & 0x10 != 0 ? try reader.uint16() : nil,
                    mask & 0x08 != 0 ? try UADateTime(from: &reader) : nil,
                    mask & 0x20 != 0 ? try reader.uint16() : nil)
        }
        self.value = value
        self.status = status
        sourceTimestamp = source
        sourcePicoseconds = sourcePico
        serverTimestamp = server
        serverPicoseconds = serverPico
    }

    public func encode(to writer: inout UAWriter) {
        var mask: UInt8 = 0
        if value != nil { mask |= 0x01 }
        if status != nil { mask |= 0x02 }
        if sourceTimestamp != nil { mask |= 0x04 }
        if serverTimestamp != nil { mask |= 0x08 }
        if sourcePicoseconds != nil { mask |= 0x10 }
        if serverPicoseconds != nil { mask |= 0x20 }
        writer.byte(mask)
        if let value { value.encode(to: &writer) }
        if let status { status.encode(to: &writer) }
        if let sourceTimestamp { sourceTimestamp.encode(to: &writer) }
        if let sourcePicoseconds { writer.uint16(sourcePicoseconds) }
        if let serverTimestamp { serverTimestamp.encode(to: &writer) }
        if let serverPicoseconds { writer.uint16(serverPicoseconds) }
    }
}
