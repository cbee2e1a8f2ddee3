#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

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
        case .bytes(let value)?: proto.bytesValue = value
        case .dataSet(let value)?: proto.datasetValue = value
        case .template(let value)?: proto.templateValue = value
        case .propertySet?, .propertySetList?, .extension?, nil: break
        case .int?, .long?, .float?, .double?, .boolean?, .string?: proto.value = wire?.scalar()
        }
        return proto
    }
}
