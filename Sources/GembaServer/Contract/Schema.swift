/// A JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it) for a request or response body, built
/// in code next to the route that sends or reads the body. A schema given a ``name`` is written
/// once under `components/schemas` and referenced by `$ref` everywhere it is used.
public struct Schema: Sendable {
    /// One keyword's value.
    indirect enum Value: Sendable {
        case text(String)
        case integer(Int64)
        case flag(Bool)
        case texts([String])
        case schema(Schema)
        case schemas([Schema])
        case properties([(String, Schema)])
    }

    /// The component name, when the schema is shared through `$ref`.
    public private(set) var name: String?
    /// Keywords in the order they are written.
    private(set) var keywords: [(String, Value)]

    init(_ keywords: [(String, Value)], name: String? = nil) {
        self.keywords = keywords
        self.name = name
    }

    subscript(keyword: String) -> Value? { keywords.first { $0.0 == keyword }?.1 }

    private func adding(_ keyword: String, _ value: Value) -> Schema {
        var copy = self
        copy.keywords.removeAll { $0.0 == keyword }
        copy.keywords.append((keyword, value))
        return copy
    }

    // MARK: Building

    /// Any JSON value.
    public static let any = Schema([])
    public static let boolean = Schema([("type", .text("boolean"))])
    public static let number = Schema([("type", .text("number"))])
    public static let integer = Schema([("type", .text("integer"))])
    public static let string = Schema([("type", .text("string"))])
    /// Epoch milliseconds, the form of every time Gemba answers.
    public static let epochMilliseconds = Schema([("type", .text("integer"))]).described("Epoch milliseconds (UTC)")

    public static func integer(minimum: Int64? = nil, maximum: Int64? = nil) -> Schema {
        var schema = integer
        if let minimum { schema = schema.adding("minimum", .integer(minimum)) }
        if let maximum { schema = schema.adding("maximum", .integer(maximum)) }
        return schema
    }

    public static func string(minLength: Int? = nil, maxLength: Int? = nil, pattern: String? = nil, format: String? = nil) -> Schema {
        var schema = string
        if let minLength { schema = schema.adding("minLength", .integer(Int64(minLength))) }
        if let maxLength { schema = schema.adding("maxLength", .integer(Int64(maxLength))) }
        if let pattern { schema = schema.adding("pattern", .text(pattern)) }
        if let format { schema = schema.adding("format", .text(format)) }
        return schema
    }

    /// One of these strings.
    public static func oneOf(_ values: [String]) -> Schema {
        Schema([("type", .text("string")), ("enum", .texts(values))])
    }

    public static func array(_ items: Schema, minItems: Int? = nil, maxItems: Int? = nil) -> Schema {
        var schema = Schema([("type", .text("array")), ("items", .schema(items))])
        if let minItems { schema = schema.adding("minItems", .integer(Int64(minItems))) }
        if let maxItems { schema = schema.adding("maxItems", .integer(Int64(maxItems))) }
        return schema
    }

    /// An object with exactly these members; all are required except those named in `optional`.
    public static func object(_ properties: KeyValuePairs<String, Schema>, optional: Set<String> = []) -> Schema {
        object(properties.map { ($0.key, $0.value) }, optional: optional)
    }

    /// An object with exactly these members, built up from parts (members several bodies share).
    public static func object(_ properties: [(String, Schema)], optional: Set<String> = []) -> Schema {
        let required = properties.map(\.0).filter { !optional.contains($0) }
        var keywords: [(String, Value)] = [("type", .text("object")), ("properties", .properties(properties))]
        if !required.isEmpty { keywords.append(("required", .texts(required))) }
        keywords.append(("additionalProperties", .flag(false)))
        return Schema(keywords)
    }

    /// An object whose member names are data (a tag name, a state) and whose values all have one schema.
    public static func map(_ values: Schema) -> Schema {
        Schema([("type", .text("object")), ("additionalProperties", .schema(values))])
    }

    /// Exactly one of these schemas.
    public static func oneOf(_ schemas: [Schema]) -> Schema { Schema([("oneOf", .schemas(schemas))]) }

    /// This schema or JSON `null`.
    public var orNull: Schema {
        if name == nil, case .text(let type)? = self["type"], self["enum"] == nil {
            return adding("type", .texts([type, "null"]))
        }
        return Schema([("anyOf", .schemas([self, Schema([("type", .text("null"))])]))])
    }

    /// The same object schema with one more required member (and no name: it is another shape).
    public func withMember(_ member: String, _ schema: Schema) -> Schema {
        guard case .properties(let properties)? = self["properties"] else { return self }
        var required: [String] = []
        if case .texts(let names)? = self["required"] { required = names }
        var copy = adding("properties", .properties(properties + [(member, schema)])).adding("required", .texts(required + [member]))
        copy.name = nil
        return copy
    }

    /// The same schema with a description people read in the reference.
    public func described(_ text: String) -> Schema { adding("description", .text(text)) }

    /// The same schema, shared as `#/components/schemas/<name>`.
    public func named(_ name: String) -> Schema {
        var copy = self
        copy.name = name
        return copy
    }

    /// The same schema with a default value (an integer).
    public func defaulting(to value: Int64) -> Schema { adding("default", .integer(value)) }

    /// The same schema with a default value (a string).
    public func defaulting(to value: String) -> Schema { adding("default", .text(value)) }

    // MARK: Writing

    /// Writes the schema; named schemas become `$ref`s and are collected into `components`.
    func write(into json: inout JSONWriter, components: inout [String: Schema]) {
        if let name {
            components[name] = self
            json.object { $0.field("$ref") { $0.string("#/components/schemas/\(name)") } }
            return
        }
        writeDefinition(into: &json, components: &components)
    }

    /// Writes the schema itself, even when it has a name (its entry under `components/schemas`).
    func writeDefinition(into json: inout JSONWriter, components: inout [String: Schema]) {
        json.object { json in
            for (keyword, value) in keywords {
                json.field(keyword) { json in
                    switch value {
                    case .text(let text): json.string(text)
                    case .integer(let number): json.int(number)
                    case .flag(let flag): json.bool(flag)
                    case .texts(let texts): json.array { json in for text in texts { json.string(text) } }
                    case .schema(let schema): schema.write(into: &json, components: &components)
                    case .schemas(let schemas): json.array { json in for schema in schemas { schema.write(into: &json, components: &components) } }
                    case .properties(let properties):
                        json.object { json in
                            for (name, schema) in properties { json.field(name) { json in schema.write(into: &json, components: &components) } }
                        }
                    }
                }
            }
        }
    }
}
