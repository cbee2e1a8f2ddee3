public import GembaCore

extension SparkplugValue {
    /// The value as a Gemba sample value, nil for what a time series cannot hold (bytes, files,
    /// definitions, non-finite numbers).
    ///
    /// Floats are widened through their shortest decimal form, so a Float 0.1 is stored as 0.1
    /// rather than 0.100000001490116. Arrays and DataSets are stored as JSON text.
    public var sampleValue: SampleValue? {
        switch self {
        case .int(let value), .dateTime(let value): return .int(value)
        case .uint64(let value): return Int64(exactly: value).map(SampleValue.int) ?? .double(Double(value))
        case .float(let value): return value.isFinite ? Double("\(value)").map(SampleValue.double) : nil
        case .double(let value): return value.isFinite ? .double(value) : nil
        case .boolean(let value): return .bool(value)
        case .string(let value): return .string(value)
        case .bytes, .template, .propertySet, .propertySetList: return nil
        case .intArray, .uint64Array, .floatArray, .doubleArray, .booleanArray, .stringArray, .dateTimeArray, .dataSet:
            return .string(json)
        }
    }

    /// A compact JSON rendering (arrays, DataSets as `{"columns": […], "rows": [[…]]}`).
    var json: String {
        func list(_ items: [String]) -> String { "[" + items.joined(separator: ",") + "]" }
        func quoted(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
        switch self {
        case .int(let value), .dateTime(let value): return "\(value)"
        case .uint64(let value): return "\(value)"
        case .float(let value): return number(Double("\(value)") ?? .nan)
        case .double(let value): return number(value)
        case .boolean(let value): return "\(value)"
        case .string(let value): return quoted(value)
        case .intArray(let values), .dateTimeArray(let values): return list(values.map(String.init))
        case .uint64Array(let values): return list(values.map(String.init))
        case .floatArray(let values): return list(values.map { number(Double("\($0)") ?? .nan) })
        case .doubleArray(let values): return list(values.map(number))
        case .booleanArray(let values): return list(values.map(String.init))
        case .stringArray(let values): return list(values.map(quoted))
        case .dataSet(let set):
            return "{\"columns\":\(list(set.columns.map(quoted))),\"rows\":"
                + list(set.rows.map { row in list(row.map { $0?.json ?? "null" }) }) + "}"
        case .bytes, .template, .propertySet, .propertySetList: return "null"
        }
    }

    /// The value a sample value becomes as its natural datatype (``SparkplugDataType/natural(for:)``).
    public init(_ value: SampleValue) {
        self = SparkplugValue(value, as: .natural(for: value))!
    }

    /// The value a sample value becomes when written to a metric of `type`; nil when it does not fit.
    public init?(_ value: SampleValue, as type: SparkplugDataType) {
        switch (value, type) {
        case (.int(let number), .int8): guard (-128...127).contains(number) else { return nil }; self = .int(number)
        case (.int(let number), .int16): guard Int64(Int16.min)...Int64(Int16.max) ~= number else { return nil }; self = .int(number)
        case (.int(let number), .int32): guard Int64(Int32.min)...Int64(Int32.max) ~= number else { return nil }; self = .int(number)
        case (.int(let number), .int64): self = .int(number)
        case (.int(let number), .uint8): guard (0...255).contains(number) else { return nil }; self = .int(number)
        case (.int(let number), .uint16): guard (0...65_535).contains(number) else { return nil }; self = .int(number)
        case (.int(let number), .uint32): guard (0...4_294_967_295).contains(number) else { return nil }; self = .int(number)
        case (.int(let number), .uint64): guard number >= 0 else { return nil }; self = .uint64(UInt64(number))
        case (.int(let number), .dateTime): self = .dateTime(number)
        case (.int(let number), .float): self = .float(Float(number))
        case (.int(let number), .double): self = .double(Double(number))
        case (.double(let number), .float): self = .float(Float(number))
        case (.double(let number), .double): self = .double(number)
        case (.double(let number), _) where Int64(exactly: number) != nil:
            self.init(.int(Int64(exactly: number)!), as: type)
        case (.bool(let flag), .boolean): self = .boolean(flag)
        case (.string(let text), .string), (.string(let text), .text), (.string(let text), .uuid): self = .string(text)
        default: return nil
        }
    }
}

extension SparkplugDataType {
    /// The datatype that carries a Gemba sample value without loss: Double, Int64, Boolean or String.
    public static func natural(for value: SampleValue) -> SparkplugDataType {
        switch value {
        case .double: .double
        case .int: .int64
        case .bool: .boolean
        case .string: .string
        }
    }
}
