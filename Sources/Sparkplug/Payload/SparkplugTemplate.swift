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
            protoParameter.value = (try? parameter.value?.wire(as: parameter.type))?.scalar()
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
