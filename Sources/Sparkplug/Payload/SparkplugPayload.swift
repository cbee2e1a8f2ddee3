#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
internal import SwiftProtobuf

/// One Sparkplug B message body (3.0 § 6.4): a timestamp, a sequence number and metrics.
///
/// Decoding is strict about the protobuf framing (a corrupt payload throws) and lenient per
/// metric: a metric whose value does not fit its datatype stays in `metrics` (its alias and name
/// still count) and reports the problem when its value is read.
public struct SparkplugPayload: Sendable {
    public var timestamp: UInt64?
    public var seq: UInt64?
    public var uuid: String?
    public var body: [UInt8]?
    public var metrics: [SparkplugMetric]

    public init(timestamp: UInt64? = nil, seq: UInt64? = nil, metrics: [SparkplugMetric] = [], uuid: String? = nil,
                body: [UInt8]? = nil) {
        self.timestamp = timestamp
        self.seq = seq
        self.metrics = metrics
        self.uuid = uuid
        self.body = body
    }

    /// Decodes a payload; throws ``SparkplugPayloadError`` when the bytes are not a Sparkplug B protobuf message.
    public init(decoding bytes: some Collection<UInt8>) throws(SparkplugPayloadError) {
        var decoder = PayloadDecoder(Array(bytes))
        do {
            self = try decoder.payload()
        } catch {
            throw SparkplugPayloadError("not a Sparkplug B payload (\(bytes.count) bytes): \(error)")
        }
    }

    /// Decodes a payload with the generated code (the reference the fast decoder is checked against).
    init(generatedDecoding bytes: [UInt8]) throws {
        self.init(try Org_Eclipse_Tahu_Protobuf_Payload(serializedBytes: bytes))
    }

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload) {
        timestamp = proto.hasTimestamp ? proto.timestamp : nil
        seq = proto.hasSeq ? proto.seq : nil
        uuid = proto.hasUuid ? proto.uuid : nil
        body = proto.hasBody ? [UInt8](proto.body) : nil
        metrics = proto.metrics.map(SparkplugMetric.init)
    }

    /// The protobuf encoding of this payload.
    public func serialized() -> [UInt8] {
        // Encoding a message built from these fields cannot fail: there are no required fields.
        (try? proto.serializedBytes()) ?? []
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload()
        if let timestamp { proto.timestamp = timestamp }
        if let seq { proto.seq = seq }
        if let uuid { proto.uuid = uuid }
        if let body { proto.body = Data(body) }
        proto.metrics = metrics.map(\.proto)
        return proto
    }
}

/// Bytes that are not a Sparkplug B payload.
public struct SparkplugPayloadError: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String

    init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}

/// One metric of a payload (3.0 § 6.4.4). Births carry name, alias and datatype; data messages
/// usually only the alias (or name) and the value, whose datatype then comes from the birth.
public struct SparkplugMetric: Sendable {
    public var name: String?
    public var alias: UInt64?
    public var timestamp: UInt64?
    /// The datatype code as sent; see ``dataType``.
    public var dataTypeCode: UInt32?
    public var isHistorical = false
    public var isTransient = false
    public var isNull = false
    /// What describes a Bytes or File metric.
    public var metadata: SparkplugMetaData? {
        get { metadataBox?.value }
        set { metadataBox = newValue.map(MetaDataBox.init) }
    }
    public var properties: SparkplugPropertySet?
    /// Why the properties, if sent, could not be read.
    public var propertiesError: SparkplugValueError?
    var wire: SparkplugWireValue?
    /// Metadata is rare and large: boxed so that it does not widen every metric.
    private var metadataBox: MetaDataBox?

    /// An empty metric, filled in by the decoder.
    init() {}

    /// A metric carrying `value` as `dataType` (nil value: a null metric).
    public init(name: String?, alias: UInt64? = nil, timestamp: UInt64? = nil, dataType: SparkplugDataType,
                value: SparkplugValue?, properties: SparkplugPropertySet? = nil,
                isHistorical: Bool = false) throws(SparkplugValueError) {
        self.name = name
        self.alias = alias
        self.timestamp = timestamp
        self.dataTypeCode = dataType.rawValue
        self.properties = properties
        self.isHistorical = isHistorical
        if let value { wire = try value.wire(as: dataType) } else { isNull = true }
    }

    /// The datatype sent with the metric, nil when absent (or an unknown code).
    public var dataType: SparkplugDataType? { dataTypeCode.flatMap(SparkplugDataType.init(rawValue:)) }

    /// The value read as `type` (default: the metric's own datatype); nil for a null metric.
    public func value(as type: SparkplugDataType? = nil) throws(SparkplugValueError) -> SparkplugValue? {
        if isNull { return nil }
        guard let type = type ?? dataType else {
            throw SparkplugValueError(dataTypeCode.map { "unknown datatype \($0)" } ?? "no datatype for the value")
        }
        guard let wire else { throw SparkplugValueError("no value and not marked is_null") }
        return try SparkplugValue.decode(wire, as: type)
    }

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload.Metric) {
        name = proto.hasName ? proto.name : nil
        alias = proto.hasAlias ? proto.alias : nil
        timestamp = proto.hasTimestamp ? proto.timestamp : nil
        dataTypeCode = proto.hasDatatype ? proto.datatype : nil
        isHistorical = proto.isHistorical
        isTransient = proto.isTransient
        isNull = proto.isNull
        metadata = proto.hasMetadata ? SparkplugMetaData(proto.metadata) : nil
        if proto.hasProperties {
            do throws(SparkplugValueError) {
                properties = try SparkplugPropertySet(proto.properties)
            } catch {
                propertiesError = error
            }
        }
        wire = switch proto.value {
        case .intValue(let value)?: .int(value)
        case .longValue(let value)?: .long(value)
        case .floatValue(let value)?: .float(value)
        case .doubleValue(let value)?: .double(value)
        case .booleanValue(let value)?: .boolean(value)
        case .stringValue(let value)?: .string(value)
        case .bytesValue(let value)?: .bytes(value)
        case .datasetValue(let value)?: .dataSet(value)
        case .templateValue(let value)?: .template(value)
        case .extensionValue?: .extension
        case nil: nil
        }
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload.Metric {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload.Metric()
        if let name { proto.name = name }
        if let alias { proto.alias = alias }
        if let timestamp { proto.timestamp = timestamp }
        if let dataTypeCode { proto.datatype = dataTypeCode }
        if isHistorical { proto.isHistorical = true }
        if isTransient { proto.isTransient = true }
        if isNull { proto.isNull = true }
        if let metadata { proto.metadata = metadata.proto }
        if let properties { proto.properties = properties.proto }
        switch wire {
        case .int(let value)?: proto.intValue = value
        case .long(let value)?: proto.longValue = value
        case .float(let value)?: proto.floatValue = value
        case .double(let value)?: proto.doubleValue = value
        case .boolean(let value)?: proto.booleanValue = value
        case .string(let value)?: proto.stringValue = value
        case .bytes(let value)?: proto.bytesValue = value
        case .dataSet(let value)?: proto.datasetValue = value
        case .template(let value)?: proto.templateValue = value
        case .propertySet?, .propertySetList?, .extension?, nil: break
        }
        return proto
    }
}

/// Holds a metric's metadata out of line.
final class MetaDataBox: Sendable {
    let value: SparkplugMetaData

    init(_ value: SparkplugMetaData) { self.value = value }
}

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
        case .int(let value): proto.intValue = value
        case .long(let value): proto.longValue = value
        case .float(let value): proto.floatValue = value
        case .double(let value): proto.doubleValue = value
        case .boolean(let value): proto.booleanValue = value
        case .string(let value): proto.stringValue = value
        case .propertySet(let value): proto.propertysetValue = value
        case .propertySetList(let value): proto.propertysetsValue = value
        case .bytes, .dataSet, .template, .extension: proto.isNull = true
        }
        return proto
    }
}

/// A table value (3.0 § 6.4.10): typed columns and rows; a nil cell is a null element.
public struct SparkplugDataSet: Sendable, Hashable {
    public var columns: [String]
    public var types: [SparkplugDataType]
    public var rows: [[SparkplugValue?]]

    public init(columns: [String], types: [SparkplugDataType], rows: [[SparkplugValue?]]) {
        self.columns = columns
        self.types = types
        self.rows = rows
    }

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload.DataSet) throws(SparkplugValueError) {
        let width = proto.columns.count
        guard proto.types.count == width, !proto.hasNumOfColumns || proto.numOfColumns == UInt64(width) else {
            throw SparkplugValueError("a DataSet declares \(proto.numOfColumns) columns, names \(width) and types \(proto.types.count)")
        }
        columns = proto.columns
        types = []
        for code in proto.types {
            guard let type = SparkplugDataType(rawValue: code) else { throw SparkplugValueError("unknown DataSet column type \(code)") }
            types.append(type)
        }
        rows = []
        for (index, row) in proto.rows.enumerated() {
            guard row.elements.count == width else {
                throw SparkplugValueError("DataSet row \(index) has \(row.elements.count) values for \(width) columns")
            }
            var values: [SparkplugValue?] = []
            for (element, type) in zip(row.elements, types) {
                let wire: SparkplugWireValue? = switch element.value {
                case .intValue(let value)?: .int(value)
                case .longValue(let value)?: .long(value)
                case .floatValue(let value)?: .float(value)
                case .doubleValue(let value)?: .double(value)
                case .booleanValue(let value)?: .boolean(value)
                case .stringValue(let value)?: .string(value)
                case .extensionValue?: .extension
                case nil: nil
                }
                values.append(try wire.map { wire throws(SparkplugValueError) in try SparkplugValue.decode(wire, as: type) })
            }
            rows.append(values)
        }
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload.DataSet {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload.DataSet()
        proto.numOfColumns = UInt64(columns.count)
        proto.columns = columns
        proto.types = types.map(\.rawValue)
        proto.rows = rows.map { row in
            var protoRow = Org_Eclipse_Tahu_Protobuf_Payload.DataSet.Row()
            protoRow.elements = zip(row, types).map { value, type in
                var element = Org_Eclipse_Tahu_Protobuf_Payload.DataSet.DataSetValue()
                switch try? value?.wire(as: type) {
                case .int(let value)?: element.intValue = value
                case .long(let value)?: element.longValue = value
                case .float(let value)?: element.floatValue = value
                case .double(let value)?: element.doubleValue = value
                case .boolean(let value)?: element.booleanValue = value
                case .string(let value)?: element.stringValue = value
                default: break
                }
                return element
            }
            return protoRow
        }
        return proto
    }
}

/// A user-defined type (3.0 § 6.4.11): a definition (in an NBIRTH) or an instance of one.
public struct SparkplugTemplate: Sendable {
    public var version: String?
    public var templateRef: String?
    public var isDefinition: Bool
    public var metrics: [SparkplugMetric]
    public var parameters: [SparkplugTemplateParameter]

    public init(version: String? = nil, templateRef: String?, isDefinition: Bool, metrics: [SparkplugMetric],
                parameters: [SparkplugTemplateParameter] = []) {
        self.version = version
        self.templateRef = templateRef
        self.isDefinition = isDefinition
        self.metrics = metrics
        self.parameters = parameters
    }

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload.Template) throws(SparkplugValueError) {
        version = proto.hasVersion ? proto.version : nil
        templateRef = proto.hasTemplateRef ? proto.templateRef : nil
        isDefinition = proto.isDefinition
        metrics = proto.metrics.map(SparkplugMetric.init)
        parameters = []
        for parameter in proto.parameters {
            guard let type = SparkplugDataType(rawValue: parameter.type) else {
                throw SparkplugValueError("template parameter \"\(parameter.name)\" has unknown type \(parameter.type)")
            }
            let wire: SparkplugWireValue? = switch parameter.value {
            case .intValue(let value)?: .int(value)
            case .longValue(let value)?: .long(value)
            case .floatValue(let value)?: .float(value)
            case .doubleValue(let value)?: .double(value)
            case .booleanValue(let value)?: .boolean(value)
            case .stringValue(let value)?: .string(value)
            case .extensionValue?: .extension
            case nil: nil
            }
            let value = try wire.map { wire throws(SparkplugValueError) in try SparkplugValue.decode(wire, as: type) }
            parameters.append(SparkplugTemplateParameter(name: parameter.name, type: type, value: value))
        }
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload.Template {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload.Template()
        if let version { proto.version = version }
        if let templateRef { proto.templateRef = templateRef }
        proto.isDefinition = isDefinition
        proto.metrics = metrics.map(\.proto)
        proto.parameters = parameters.map { parameter in
            var protoParameter = Org_Eclipse_Tahu_Protobuf_Payload.Template.Parameter()
            protoParameter.name = parameter.name
            protoParameter.type = parameter.type.rawValue
            switch try? parameter.value?.wire(as: parameter.type) {
            case .int(let value)?: protoParameter.intValue = value
            case .long(let value)?: protoParameter.longValue = value
            case .float(let value)?: protoParameter.floatValue = value
            case .double(let value)?: protoParameter.doubleValue = value
            case .boolean(let value)?: protoParameter.booleanValue = value
            case .string(let value)?: protoParameter.stringValue = value
            default: break
            }
            return protoParameter
        }
        return proto
    }
}

extension SparkplugTemplate: Hashable {
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.proto == rhs.proto }
    public func hash(into hasher: inout Hasher) { hasher.combine(proto) }
}

/// A template parameter: a named, typed constant of a definition or an instance.
public struct SparkplugTemplateParameter: Sendable, Hashable {
    public var name: String
    public var type: SparkplugDataType
    public var value: SparkplugValue?

    public init(name: String, type: SparkplugDataType, value: SparkplugValue?) {
        self.name = name
        self.type = type
        self.value = value
    }
}

/// What describes a Bytes or File metric (3.0 § 6.4.7).
public struct SparkplugMetaData: Sendable, Hashable {
    public var isMultiPart: Bool?
    public var contentType: String?
    public var size: UInt64?
    public var seq: UInt64?
    public var fileName: String?
    public var fileType: String?
    public var md5: String?
    public var description: String?

    public init() {}

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload.MetaData) {
        isMultiPart = proto.hasIsMultiPart ? proto.isMultiPart : nil
        contentType = proto.hasContentType ? proto.contentType : nil
        size = proto.hasSize ? proto.size : nil
        seq = proto.hasSeq ? proto.seq : nil
        fileName = proto.hasFileName ? proto.fileName : nil
        fileType = proto.hasFileType ? proto.fileType : nil
        md5 = proto.hasMd5 ? proto.md5 : nil
        description = proto.hasDescription_p ? proto.description_p : nil
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload.MetaData {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload.MetaData()
        if let isMultiPart { proto.isMultiPart = isMultiPart }
        if let contentType { proto.contentType = contentType }
        if let size { proto.size = size }
        if let seq { proto.seq = seq }
        if let fileName { proto.fileName = fileName }
        if let fileType { proto.fileType = fileType }
        if let md5 { proto.md5 = md5 }
        if let description { proto.description_p = description }
        return proto
    }
}
