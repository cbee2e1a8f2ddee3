internal import NIOCore

/// The OpenAPI 3.1 document of a list of endpoints, served at `/openapi.json`: every path,
/// operation, parameter, body and answer comes from the endpoints' declarations, and every
/// named schema they use is written once under `components/schemas`.
struct OpenAPIDocument {
    let endpoints: [Endpoint]

    /// The reference sections, in the order the document lists them.
    static let groups: [(String, String)] = [
        ("Telemetry", "Samples in (JSON batches, InfluxDB line protocol) and out (latest, history, CSV, live)"),
        ("Assets", "Sites, areas, lines and machines as managed objects: details, created ahead, moved, retired, deleted; tag details"),
        ("Commands", "Writes to machines through their Sparkplug edge nodes"),
        ("OEE", "States, stops, shift calendars, production orders and ISO 22400 KPIs"),
        ("Alarms", "Rules, alarms after ISA-18.2 (acknowledge, shelve, out of service) and the alarm journal"),
        ("Maintenance", "Work orders decided by people (propose, approve, reject, defer, schedule, start, complete, cancel) and the decision log"),
        ("Access", "Sign-in, tokens, members, invitations, API keys, device credentials, tenant limits, audit log, MQTT topic rules"),
        ("Operations", "Health, readiness, metrics, this document and the dashboard's files"),
    ]

    /// The document as JSON bytes.
    func render() -> ByteBuffer {
        var components: [String: Schema] = [:]
        var json = JSONWriter(capacity: 128 << 10)
        json.object { json in
            json.field("openapi") { $0.string("3.1.0") }
            json.field("info") { json in
                json.object { json in
                    json.field("title") { $0.string("Gemba API") }
                    json.field("version") { $0.string("1.0.0") }
                    json.field("description") {
                        $0.string("Ingest, query, live, OEE and administration APIs of Gemba. Times are epoch milliseconds (UTC) unless "
                            + "a parameter says it also takes RFC 3339; ratios are fractions (0.8667); errors are application/problem+json.")
                    }
                }
            }
            json.field("tags") { json in
                json.array { json in
                    for (name, description) in Self.groups {
                        json.object { json in
                            json.field("name") { $0.string(name) }
                            json.field("description") { $0.string(description) }
                        }
                    }
                }
            }
            json.field("paths") { json in writePaths(into: &json, components: &components) }
            json.field("security") { json in json.array { json in json.object { $0.field("bearer") { $0.array { _ in } } } } }
            json.field("components") { json in
                json.object { json in
                    json.field("securitySchemes") { json in
                        json.object { json in
                            json.field("bearer") { json in
                                json.object { json in
                                    json.field("type") { $0.string("http") }
                                    json.field("scheme") { $0.string("bearer") }
                                    json.field("description") { $0.string("An access token from sign-in, or an API key (also as `Token <key>`)") }
                                }
                            }
                        }
                    }
                    json.field("schemas") { json in Self.writeComponents(components, into: &json) }
                }
            }
        }
        return json.buffer
    }

    private func writePaths(into json: inout JSONWriter, components: inout [String: Schema]) {
        var order: [String] = []
        var byPath: [String: [Endpoint]] = [:]
        for endpoint in endpoints {
            if byPath[endpoint.path] == nil { order.append(endpoint.path) }
            byPath[endpoint.path, default: []].append(endpoint)
        }
        json.object { json in
            for path in order {
                json.field(path) { json in
                    json.object { json in
                        for endpoint in byPath[path]! {
                            json.field(endpoint.method.rawValue.lowercased()) { json in Self.write(endpoint, into: &json, components: &components) }
                        }
                    }
                }
            }
        }
    }

    /// `get_oee_current` for `GET /api/v1/oee/current`: stable names generated clients call.
    static func operationID(_ endpoint: Endpoint) -> String {
        var path = Substring(endpoint.path)
        if path.hasPrefix("/api/v1/") { path = path.dropFirst("/api/v1/".count) } else if path.hasPrefix("/api/") { path = path.dropFirst(5) }
        let words = path.split(whereSeparator: { "/.-".contains($0) }).map { word in
            word.hasPrefix("{") ? "by_" + word.dropFirst().dropLast() : String(word)
        }
        return ([endpoint.method.rawValue.lowercased()] + (words.isEmpty ? ["dashboard"] : words)).joined(separator: "_")
    }

    private static func write(_ endpoint: Endpoint, into json: inout JSONWriter, components: inout [String: Schema]) {
        json.object { json in
            json.field("operationId") { $0.string(operationID(endpoint)) }
            json.field("tags") { $0.array { $0.string(endpoint.group) } }
            json.field("summary") { $0.string(endpoint.summary) }
            var description = endpoint.description ?? ""
            switch endpoint.access {
            case .open: description += (description.isEmpty ? "" : "\n\n") + "No credentials needed."
            case .signedIn: description += (description.isEmpty ? "" : "\n\n") + "Any signed-in user."
            case .requires(let permission): description += (description.isEmpty ? "" : "\n\n") + "Needs the `\(permission.rawValue)` permission."
            }
            json.field("description") { $0.string(description) }
            if endpoint.access == .open { json.field("security") { $0.array { _ in } } }
            if let frames = endpoint.frames { json.field("x-websocket-frames") { frames.write(into: &$0, components: &components) } }
            if !endpoint.parameters.isEmpty {
                json.field("parameters") { json in
                    json.array { json in for parameter in endpoint.parameters { write(parameter, into: &json, components: &components) } }
                }
            }
            if let body = endpoint.body {
                json.field("requestBody") { json in
                    json.object { json in
                        json.field("required") { $0.bool(body.required) }
                        json.field("content") { json in content([(body.mediaType, body.schema)], into: &json, components: &components) }
                    }
                }
            }
            json.field("responses") { json in
                json.object { json in
                    for reply in endpoint.allResponses {
                        json.field(String(reply.status)) { json in write(reply, into: &json, components: &components) }
                    }
                }
            }
        }
    }

    private static func write(_ parameter: Parameter, into json: inout JSONWriter, components: inout [String: Schema]) {
        json.object { json in
            json.field("name") { $0.string(parameter.name) }
            json.field("in") { $0.string(parameter.location.rawValue) }
            json.field("required") { $0.bool(parameter.required) }
            json.field("description") { $0.string(parameter.description) }
            if parameter.repeatable {
                json.field("style") { $0.string("form") }
                json.field("explode") { $0.bool(true) }
                json.field("schema") { Schema.array(parameter.schema).write(into: &$0, components: &components) }
                if let example = parameter.example { json.field("example") { $0.array { $0.string(example) } } }
            } else {
                json.field("schema") { parameter.schema.write(into: &$0, components: &components) }
                if let example = parameter.example { json.field("example") { $0.string(example) } }
            }
        }
    }

    private static func write(_ reply: Reply, into json: inout JSONWriter, components: inout [String: Schema]) {
        json.object { json in
            json.field("description") { $0.string(reply.description) }
            if !reply.headers.isEmpty {
                json.field("headers") { json in
                    json.object { json in
                        for (name, schema) in reply.headers {
                            json.field(name) { json in json.object { $0.field("schema") { schema.write(into: &$0, components: &components) } } }
                        }
                    }
                }
            }
            if !reply.contents.isEmpty {
                json.field("content") { json in content(reply.contents, into: &json, components: &components) }
            }
        }
    }

    /// A `content` object: each media type with its schema.
    private static func content(_ contents: [(mediaType: String, schema: Schema)], into json: inout JSONWriter,
                                components: inout [String: Schema]) {
        json.object { json in
            for (mediaType, schema) in contents {
                json.field(mediaType) { json in json.object { $0.field("schema") { schema.write(into: &$0, components: &components) } } }
            }
        }
    }

    /// Writes every named schema, and the ones those name, sorted by name.
    private static func writeComponents(_ found: [String: Schema], into json: inout JSONWriter) {
        var all = found
        var pending = Array(found.values)
        while let schema = pending.popLast() {
            var nested: [String: Schema] = [:]
            var scratch = JSONWriter()
            schema.writeDefinition(into: &scratch, components: &nested)
            for (name, schema) in nested where all[name] == nil {
                all[name] = schema
                pending.append(schema)
            }
        }
        json.object { json in
            for name in all.keys.sorted() {
                var ignored: [String: Schema] = [:]
                json.field(name) { all[name]!.writeDefinition(into: &$0, components: &ignored) }
            }
        }
    }
}
