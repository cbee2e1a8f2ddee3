internal import GembaCore
internal import GembaIngest

/// The schemas and JSON of the asset routes.
extension AssetRoutes {
    static let unavailable = Reply.problem(503, "This store keeps no asset model")
    static let level = Schema.oneOf(AssetLevel.allCases.map(\.rawValue)).named("AssetLevel")
    static let metadata = Schema.map(.string(maxLength: 500)).described("Vendor, model, serial, location, commissioning date, …")
    static let details = Schema.object([
        "level": level, "path": TelemetrySchemas.assetPath, "name": Schema.string.described("The last segment of the path"),
        "display_name": Schema.string.orNull, "description": Schema.string.orNull, "metadata": metadata,
        "created_by": Schema.string.orNull, "created_at": Schema.epochMilliseconds.orNull,
        "updated_by": Schema.string.orNull, "updated_at": Schema.epochMilliseconds.orNull,
        "registered_at": Schema.epochMilliseconds.orNull.described("Machines: when it was registered (first data or created ahead)"),
        "retired_at": Schema.epochMilliseconds.orNull.described("Machines: when it was retired; null in service"),
    ]).named("AssetDetails")
    static let detailsInput = Schema.object([
        "level": level, "path": TelemetrySchemas.assetPath, "display_name": Schema.string(minLength: 1, maxLength: 200).orNull,
        "description": Schema.string(maxLength: 2000).orNull, "metadata": metadata,
    ], optional: ["display_name", "description", "metadata"]).named("AssetDetailsInput")
    static let tagInput = Schema.object([
        "machine": TelemetrySchemas.machinePath, "tag": TelemetrySchemas.tagName,
        "display_name": Schema.string(minLength: 1, maxLength: 200).orNull, "description": Schema.string(maxLength: 2000).orNull,
        "unit": Schema.string(minLength: 1, maxLength: 32).orNull, "minimum": Schema.number.orNull, "maximum": Schema.number.orNull,
        "decimals": Schema.integer(minimum: 0, maximum: 10).orNull,
        "value_type": TelemetrySchemas.valueType.described("Must equal the stored type when given"),
    ], optional: ["display_name", "description", "unit", "minimum", "maximum", "decimals", "value_type"]).named("TagDetailsInput")

    static func details(from body: RequestBody) throws -> AssetDetails {
        guard let level = AssetLevel(rawValue: try body.string("level")) else {
            throw Problem.badRequest("level must be one of site, area, line, machine")
        }
        var metadata: [String: String] = [:]
        switch body.json["metadata"] {
        case nil, .null?: break
        case .object(let members)?:
            for (key, value) in members {
                guard case .string(let text) = value else { throw Problem.badRequest("metadata[\"\(key)\"] must be a string") }
                metadata[key] = text
            }
        default: throw Problem.badRequest("metadata must be an object of strings")
        }
        return AssetDetails(level: level, path: try body.string("path"), displayName: try text(body, "display_name"),
                            description: try text(body, "description"), metadata: metadata)
    }

    static func tagDetails(from body: RequestBody) throws -> TagDetails {
        func number(_ name: String) throws -> Double? {
            switch body.json[name] {
            case nil, .null?: return nil
            case .integer(let value)?: return Double(value)
            case .number(let value)?: return value
            default: throw Problem.badRequest("\"\(name)\" must be a number")
            }
        }
        return TagDetails(displayName: try text(body, "display_name"), description: try text(body, "description"),
                          unit: try text(body, "unit"), minimum: try number("minimum"), maximum: try number("maximum"),
                          decimals: try body.optionalInt("decimals").map { Int(clamping: $0) })
    }

    /// An optional string member: absent or null is nil, anything but a string is refused.
    private static func text(_ body: RequestBody, _ name: String) throws -> String? {
        switch body.json[name] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw Problem.badRequest("\"\(name)\" must be a string or null")
        }
    }

    /// `{"items": [details]}`, with each machine's registration time.
    static func list(_ assets: [AssetDetails], registered machines: [Machine]) -> JSONWriter {
        let registered = Dictionary(machines.map { ($0.path.description, $0.registeredAt) }, uniquingKeysWith: { first, _ in first })
        var json = JSONWriter(capacity: 256 * assets.count + 32)
        json.object { json in
            json.field("items") { json in
                json.array { json in for asset in assets { write(asset, registeredAt: registered[asset.path], into: &json) } }
            }
        }
        return json
    }

    /// One asset's details (a machine's registration time given).
    static func one(_ asset: AssetDetails, registeredAt: Timestamp?) -> JSONWriter {
        var json = JSONWriter(capacity: 512)
        write(asset, registeredAt: registeredAt, into: &json)
        return json
    }

    private static func write(_ asset: AssetDetails, registeredAt: Timestamp?, into json: inout JSONWriter) {
        json.object { json in
            func optional(_ name: String, _ text: String?) { json.field(name) { json in text.map { json.string($0) } ?? json.null() } }
            func time(_ name: String, _ time: Timestamp?) {
                json.field(name) { json in time.map { json.int($0.millisecondsSinceEpoch) } ?? json.null() }
            }
            json.field("level") { $0.string(asset.level.rawValue) }
            json.field("path") { $0.string(asset.path) }
            json.field("name") { $0.string(String(asset.path.split(separator: "/").last ?? "")) }
            optional("display_name", asset.displayName)
            optional("description", asset.description)
            json.field("metadata") { json in
                json.object { json in for (key, value) in asset.metadata.sorted(by: { $0.key < $1.key }) { json.field(key) { $0.string(value) } } }
            }
            optional("created_by", asset.createdBy)
            time("created_at", asset.createdAt)
            optional("updated_by", asset.updatedBy)
            time("updated_at", asset.updatedAt)
            time("registered_at", asset.level == .machine ? registeredAt : nil)
            time("retired_at", asset.retiredAt)
        }
    }
}
