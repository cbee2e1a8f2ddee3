/// Schemas and parameters several route groups share.
enum ProblemSchemas {
    /// An item an ingest request refused.
    static let itemError = Schema.object([
        "location": Schema.string.described("Which item: `<machine>/<tag>`, `line 3`, `records[2].values.temp`"),
        "code": .string.described("invalid, type_mismatch, limit_exceeded, forbidden, …"),
        "message": .string,
    ]).named("ItemError")

    /// RFC 9457 problem details; ingest refusals add what was stored and each refused item.
    static let problem = Schema.object([
        "type": .string, "title": .string, "status": .integer(minimum: 100, maximum: 599), "detail": .string,
        "code": .string.described("InfluxDB clients read this (v2)"), "message": .string.described("InfluxDB clients read this (v2)"),
        "error": .string.described("InfluxDB clients read this (v1)"),
        "accepted": .integer(minimum: 0).described("Items stored or already stored"),
        "stored": .integer(minimum: 0), "errors": .array(itemError),
    ], optional: ["code", "message", "error", "accepted", "stored", "errors"]).named("Problem")
}

/// Parameters and value schemas of the telemetry routes, also used by OEE and commands.
enum TelemetrySchemas {
    /// A sample's value as stored: a number, a boolean or a string.
    static let value = Schema.oneOf([.number, .boolean, .string]).named("SampleValue")
    static let quality = Schema.oneOf(["good", "uncertain", "bad"]).named("Quality")
    static let valueType = Schema.oneOf(["double", "int", "bool", "string"]).named("ValueType")
    /// One segment of an asset path, or a tag name: 1–64 of `A-Z a-z 0-9 - _ .`.
    static let segment = "[A-Za-z0-9._-]{1,64}"
    /// A machine path.
    static let machinePath = Schema.string(pattern: "^\(segment)(/\(segment)){2,3}$").described("site/[area/]line/machine")
    /// A tag name.
    static let tagName = Schema.string(pattern: "^\(segment)$")
    /// A site, area, line or machine path.
    static let assetPath = Schema.string(pattern: "^\(segment)(/\(segment)){0,3}$")
}

extension Parameter {
    /// A machine of the demo factory (`gemba serve --demo`), the examples' subject.
    static let demoMachine = "plant1/machining/line1/cnc-1"
    static let machine = Parameter("machine", TelemetrySchemas.machinePath, repeatable: true, example: demoMachine, "Machine path site/[area/]line/machine; repeatable")
    static let oneMachine = Parameter("machine", TelemetrySchemas.machinePath, required: true, example: demoMachine, "Machine path site/[area/]line/machine")
    static let tag = Parameter("tag", TelemetrySchemas.tagName, repeatable: true, example: "spindle_temp", "Tag name; repeatable")
    static let series = Parameter("series", .string(pattern: "^\(TelemetrySchemas.segment)(/\(TelemetrySchemas.segment)){3,4}$"),
                                  repeatable: true, example: demoMachine + "/spindle_temp", "<machine path>/<tag>; repeatable")
    static let from = Parameter("from", .string(maxLength: 40), "Epoch ms or RFC 3339; default: `to` minus 1 h (OEE: minus 24 h)")
    static let to = Parameter("to", .string(maxLength: 40), "Epoch ms or RFC 3339; default: now")
    /// Browsers cannot set headers on a WebSocket: the WebSocket routes take the token here.
    static let accessToken = Parameter("access_token", .string(maxLength: 4096), "An access token or API key (WebSocket routes only)")
    static let asset = Parameter("asset", TelemetrySchemas.assetPath, example: "plant1/machining/line1",
                                 "A site, site/area, site/[area/]line or machine path; every machine of the tenant when absent")
}
