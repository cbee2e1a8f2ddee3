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
                element.value = (try? value?.wire(as: type))?.scalar()
                return element
            }
            return protoRow
        }
        return proto
    }
}
