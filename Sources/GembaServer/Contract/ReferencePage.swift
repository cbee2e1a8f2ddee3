/// The API reference people read at `/api/docs`: one HTML page written from the same endpoint
/// declarations as `/openapi.json` (paths, access, parameters, bodies, answers, schemas), with
/// no script and no external asset.
struct ReferencePage {
    let endpoints: [Endpoint]

    func render() -> String {
        var components: [String: Schema] = [:]
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Gemba API reference</title><link rel="stylesheet" href="/assets/reference.css"><link rel="icon" href="/assets/icon.svg">
            </head><body>
            <h1>Gemba API reference</h1>
            <p>Every endpoint of this server, generated from the declarations the server routes and checks access by. The same
            contract as JSON: <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI 3.1, needs the readData permission).
            Times are epoch milliseconds (UTC), ratios fractions; errors are <code>application/problem+json</code>. Send an access
            token or an API key as <code>Authorization: Bearer …</code>.</p>
            <nav><ul>
            """
        for (group, description) in OpenAPIDocument.groups {
            html += "<li><a href=\"#group-\(group)\">\(Self.escape(group))</a>: \(Self.escape(description))</li>"
        }
        html += "<li><a href=\"#schemas\">Schemas</a></li></ul></nav>\n"
        for (group, _) in OpenAPIDocument.groups {
            html += "<h2 id=\"group-\(group)\">\(Self.escape(group))</h2>\n"
            for endpoint in endpoints where endpoint.group == group { html += section(endpoint, components: &components) }
        }
        html += "<h2 id=\"schemas\">Schemas</h2>\n"
        var written: Set<String> = []
        while let name = components.keys.filter({ !written.contains($0) }).min() {
            written.insert(name)
            html += "<section class=\"schema\" id=\"schema-\(name)\"><h3>\(name)</h3>"
                + Self.describe(components[name]!, components: &components, expandName: true) + "</section>\n"
        }
        return html + "</body></html>\n"
    }

    private func section(_ endpoint: Endpoint, components: inout [String: Schema]) -> String {
        let id = OpenAPIDocument.operationID(endpoint)
        var html = "<section class=\"endpoint\" id=\"\(id)\"><h3><span class=\"method\">\(endpoint.method.rawValue)</span> "
            + "<code>\(Self.escape(endpoint.path))</code></h3><p>\(Self.escape(endpoint.summary))</p>"
        if let description = endpoint.description { html += "<p>\(Self.escape(description))</p>" }
        let access = switch endpoint.access {
        case .open: "No credentials needed."
        case .signedIn: "Any signed-in user."
        case .requires(let permission): "Needs the \(permission.rawValue) permission."
        }
        html += "<p class=\"access\">\(access)</p>"
        if !endpoint.parameters.isEmpty {
            html += "<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>"
            for parameter in endpoint.parameters {
                let type = Self.describe(parameter.schema, components: &components) + (parameter.repeatable ? ", repeatable" : "")
                html += "<tr><td><code>\(Self.escape(parameter.name))</code>\(parameter.required ? " (required)" : "")</td>"
                    + "<td>\(parameter.location.rawValue)</td><td>\(type)</td><td>\(Self.escape(parameter.description))</td></tr>"
            }
            html += "</table>"
        }
        if let body = endpoint.body {
            html += "<p><b>Body</b> (<code>\(body.mediaType)</code>): \(Self.describe(body.schema, components: &components))</p>"
        }
        if let frames = endpoint.frames { html += "<p><b>Frames</b>: \(Self.describe(frames, components: &components))</p>" }
        html += "<table><tr><th>Status</th><th>Meaning</th><th>Body</th></tr>"
        for reply in endpoint.allResponses {
            let body = reply.contents.map { "<code>\($0.mediaType)</code> \(Self.describe($0.schema, components: &components))" }
                .joined(separator: "<br>")
            html += "<tr><td>\(reply.status)</td><td>\(Self.escape(reply.description))</td><td>\(body)</td></tr>"
        }
        return html + "</table></section>\n"
    }

    /// A schema in words: a link for a named one, else its type with members listed.
    static func describe(_ schema: Schema, components: inout [String: Schema], expandName: Bool = false) -> String {
        if let name = schema.name, !expandName {
            components[name] = schema
            return "<a href=\"#schema-\(name)\">\(name)</a>"
        }
        var text = ""
        if case .texts(let values)? = schema["enum"] {
            text = "one of " + values.map { "<code>\(escape($0))</code>" }.joined(separator: ", ")
        } else if case .schemas(let options)? = schema["oneOf"] ?? schema["anyOf"] {
            text = options.map { describe($0, components: &components) }.joined(separator: " or ")
        } else if case .schema(let items)? = schema["items"] {
            text = "array of " + describe(items, components: &components)
        } else if case .properties(let properties)? = schema["properties"] {
            var required: [String] = []
            if case .texts(let names)? = schema["required"] { required = names }
            text = "object<ul class=\"props\">" + properties.map { name, member in
                "<li><code>\(escape(name))</code>\(required.contains(name) ? "" : " (optional)"): "
                    + describe(member, components: &components) + "</li>"
            }.joined() + "</ul>"
        } else if case .schema(let values)? = schema["additionalProperties"] {
            text = "object of " + describe(values, components: &components)
        } else if case .text(let type)? = schema["type"] {
            text = type
        } else if case .texts(let types)? = schema["type"] {
            text = types.joined(separator: " or ")
        } else {
            text = "any JSON value"
        }
        for (keyword, label) in [("minimum", "≥"), ("maximum", "≤"), ("minLength", "length ≥"), ("maxLength", "length ≤")] {
            if case .integer(let bound)? = schema[keyword] { text += " \(label) \(bound)" }
        }
        if case .text(let format)? = schema["format"] { text += " (\(format))" }
        if case .text(let description)? = schema["description"] { text += " <span class=\"muted\">\(escape(description))</span>" }
        return text
    }

    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "&": escaped += "&amp;"
            case "\"": escaped += "&quot;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
