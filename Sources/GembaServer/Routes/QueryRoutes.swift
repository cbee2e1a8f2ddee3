internal import GembaCore
internal import GembaRules
internal import GembaStorage
internal import Hummingbird
internal import HTTPTypes
internal import NIOCore

/// Read APIs: the asset tree, machines, tags, latest values, history (downsampled) and CSV export.
/// Every query is scoped to the request's tenant. Times in responses are epoch milliseconds (`t`).
struct QueryRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let group = "Telemetry"
        return [
            Endpoint(.get, "/api/v1/assets", .requires(.readData), group: group, summary: "The asset tree: sites, areas, lines, machines",
                     responses: [.json(200, "The tree of every machine of the tenant", Self.assetTree)]) { _, context in
                try await assets(context)
            },
            Endpoint(.get, "/api/v1/machines", .requires(.readData), group: group, summary: "Every registered machine",
                     responses: [.json(200, "Machines", .object(["machines": .array(Self.machine)]))]) { _, context in
                try await machines(context)
            },
            Endpoint(.get, "/api/v1/tags", .requires(.readData), group: group, summary: "Tags, of one machine or of all",
                     parameters: [Parameter("machine", TelemetrySchemas.machinePath, "Machine path; every machine's tags when absent")],
                     responses: [.json(200, "Tags", .object(["tags": .array(Self.tag)])), .problem(404, "No such machine")]) { request, context in
                try await tags(request, context)
            },
            Endpoint(.get, "/api/v1/latest", .requires(.readData), group: group,
                     summary: "The latest value of each selected tag (every tag when none is selected)",
                     description: "`tag` alone selects that tag on every machine.",
                     parameters: [.series, .machine, .tag],
                     responses: [.json(200, "Values", .object(["values": .array(Self.latestValue)])),
                                 .problem(404, "No such machine, tag or series")]) { request, context in
                try await latest(request, context)
            },
            Endpoint(.get, "/api/v1/history", .requires(.readData), group: group,
                     summary: "History of one or many tags, downsampled to at most `points` (min and max kept)",
                     description: "Raw points when the range holds few enough samples, else buckets from the minute or hour rollups.",
                     parameters: [.series, .machine, .tag, .from, .to,
                                  Parameter("points", Schema.integer(minimum: 2, maximum: 100_000).defaulting(to: 1000),
                                            "Most points or buckets per series")],
                     responses: [.json(200, "Raw points or buckets per series", Self.historyAnswer),
                                 .problem(404, "No such machine, tag or series")]) { request, context in
                try await history(request, context)
            },
            Endpoint(.get, "/api/v1/export.csv", .requires(.readData), group: group,
                     summary: "Raw samples as streamed CSV (time,machine,tag,value,quality)",
                     parameters: [.series, .machine, .tag, .from, .to],
                     responses: [Reply(200, "CSV, RFC 3339 times", content: ("text/csv", .string)),
                                 .problem(404, "No such machine, tag or series")]) { request, context in
                try await export(request, context)
            },
        ]
    }

    // MARK: Schemas

    static let assetMachine = Schema.object(["name": .string, "path": TelemetrySchemas.machinePath]).named("AssetMachine")
    static let assetLine = Schema.object(["name": .string, "path": .string, "machines": .array(assetMachine)]).named("AssetLine")
    static let assetTree = Schema.object([
        "tenant": .string,
        "sites": .array(Schema.object([
            "name": .string, "path": .string,
            "areas": .array(Schema.object(["name": .string, "path": .string, "lines": .array(assetLine)]).named("AssetArea")),
            "lines": .array(assetLine).described("Lines without an area"),
        ]).named("AssetSite")),
    ]).named("AssetTree")
    static let machine = Schema.object([
        "path": TelemetrySchemas.machinePath, "site": .string, "area": Schema.string.orNull, "line": .string, "name": .string,
        "registered_at": .epochMilliseconds,
    ]).named("Machine")
    static let tag = Schema.object([
        "id": .integer, "machine": TelemetrySchemas.machinePath, "name": .string, "unit": Schema.string.orNull,
        "value_type": TelemetrySchemas.valueType, "kind": .oneOf(["gauge", "counter", "state", "event"]),
        "description": Schema.string.orNull, "display_name": Schema.string.orNull,
        "minimum": Schema.number.orNull.described("Engineering range"), "maximum": Schema.number.orNull,
        "decimals": Schema.integer(minimum: 0, maximum: 10).orNull.described("Decimals to show"),
    ]).named("Tag")
    static let point = Schema.object(["t": .epochMilliseconds, "v": TelemetrySchemas.value, "quality": TelemetrySchemas.quality])
        .named("Point")
    static let latestValue = Schema.object([
        "machine": TelemetrySchemas.machinePath, "tag": .string,
        "t": .epochMilliseconds, "v": TelemetrySchemas.value, "quality": TelemetrySchemas.quality,
    ]).named("LatestValue")
    static let bucket = Schema.object([
        "t": Schema.epochMilliseconds.described("Start of the bucket"), "min": .number, "max": .number, "avg": .number,
        "first": .number, "last": .number, "count": .integer(minimum: 0),
    ]).named("HistoryBucket")
    static let historyAnswer = Schema.object([
        "from": .epochMilliseconds, "to": .epochMilliseconds,
        "series": .array(Schema.object([
            "machine": TelemetrySchemas.machinePath, "tag": .string, "unit": Schema.string.orNull,
            "value_type": TelemetrySchemas.valueType, "resolution": .oneOf(["raw", "minute", "hour"]),
            "points": Schema.array(point).described("Raw samples (resolution raw)"),
            "bucket_ms": Schema.integer(minimum: 1).described("Bucket width (resolution minute or hour)"),
            "buckets": .array(bucket),
        ], optional: ["points", "bucket_ms", "buckets"]).named("SeriesHistory")),
    ]).named("History")

    static func ok(_ json: JSONWriter) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: json.buffer))
    }

    // MARK: Catalogue

    private func assets(_ context: GembaRequestContext) async throws -> Response {
        let machines = try await server.store.machines(tenant: context.tenant)
        let tree = AssetTree(machines.map(\.path))
        var json = JSONWriter(capacity: 64 * machines.count + 64)
        json.object { json in
            json.field("tenant") { $0.string(context.tenant.rawValue) }
            json.field("sites") { json in tree.write(into: &json) }
        }
        return Self.ok(json)
    }

    private func machines(_ context: GembaRequestContext) async throws -> Response {
        let machines = try await server.store.machines(tenant: context.tenant)
        var json = JSONWriter(capacity: 128 * machines.count + 32)
        json.object { json in
            json.field("machines") { json in
                json.array { json in
                    for machine in machines {
                        json.object { json in
                            json.field("path") { $0.string(machine.path.description) }
                            json.field("site") { $0.string(machine.path.site) }
                            json.field("area") { json in machine.path.area.map { json.string($0) } ?? json.null() }
                            json.field("line") { $0.string(machine.path.line) }
                            json.field("name") { $0.string(machine.path.machine) }
                            json.field("registered_at") { $0.int(machine.registeredAt.millisecondsSinceEpoch) }
                        }
                    }
                }
            }
        }
        return Self.ok(json)
    }

    private func tags(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let machine = try request.uri.queryParameters.get("machine").map { path throws(Problem) in try Self.machinePath(path) }
        if let machine, try await !machineExists(machine, context) { throw Problem.notFound("no machine \(machine)") }
        let series = try await server.store.series(tenant: context.tenant, machine: machine)
        var json = JSONWriter(capacity: 160 * series.count + 32)
        json.object { json in
            json.field("tags") { json in
                json.array { json in for entry in series { Self.write(entry, into: &json) } }
            }
        }
        return Self.ok(json)
    }

    static func write(_ series: Series, into json: inout JSONWriter) {
        json.object { json in
            json.field("id") { $0.int(series.id) }
            json.field("machine") { $0.string(series.key.machine.description) }
            json.field("name") { $0.string(series.tag.name) }
            json.field("unit") { json in series.tag.unit.map { json.string($0) } ?? json.null() }
            json.field("value_type") { $0.string(series.tag.valueType.rawValue) }
            json.field("kind") { $0.string(series.tag.kind.rawValue) }
            json.field("description") { json in series.tag.description.map { json.string($0) } ?? json.null() }
            json.field("display_name") { json in series.tag.displayName.map { json.string($0) } ?? json.null() }
            json.field("minimum") { json in series.tag.minimum.map { json.double($0) } ?? json.null() }
            json.field("maximum") { json in series.tag.maximum.map { json.double($0) } ?? json.null() }
            json.field("decimals") { json in series.tag.decimals.map { json.int(Int64($0)) } ?? json.null() }
        }
    }

    private func machineExists(_ machine: AssetPath, _ context: GembaRequestContext) async throws -> Bool {
        if try await !server.store.series(tenant: context.tenant, machine: machine).isEmpty { return true }
        return try await server.store.machines(tenant: context.tenant).contains { $0.path == machine }
    }

    // MARK: Values

    private func latest(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let series = try await selectedSeries(request, context, allowAll: true)
        let values = try await server.store.latest(series: series.map(\.id))
        var json = JSONWriter(capacity: 128 * series.count + 32)
        json.object { json in
            json.field("values") { json in
                json.array { json in
                    for entry in series {
                        guard let sample = values[entry.id] else { continue }
                        json.object { json in
                            json.field("machine") { $0.string(entry.key.machine.description) }
                            json.field("tag") { $0.string(entry.key.tag) }
                            Self.write(sample, type: entry.tag.valueType, into: &json)
                        }
                    }
                }
            }
        }
        return Self.ok(json)
    }

    static func write(_ sample: Sample, type: ValueType, into json: inout JSONWriter) {
        json.field("t") { $0.int(sample.time.millisecondsSinceEpoch) }
        json.field("v") { $0.value(sample.value.restored(as: type)) }
        json.field("quality") { $0.string(sample.quality.name) }
    }

    private func history(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let series = try await selectedSeries(request, context, allowAll: false)
        let (from, to) = try Self.range(request)
        let points = request.uri.queryParameters.get("points", as: Int.self) ?? 1000
        guard (2...100_000).contains(points) else { throw Problem.badRequest("points must be between 2 and 100000") }
        let planner = HistoryPlanner(store: server.store)
        var json = JSONWriter(capacity: 32 * points * series.count + 64)
        var histories: [History] = []
        for entry in series { histories.append(try await planner.history(entry, from: from, to: to, points: points)) }
        json.object { json in
            json.field("from") { $0.int(from.millisecondsSinceEpoch) }
            json.field("to") { $0.int(to.millisecondsSinceEpoch) }
            json.field("series") { json in
                json.array { json in for history in histories { HistoryPlanner.write(history, into: &json) } }
            }
        }
        return Self.ok(json)
    }

    private func export(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let series = try await selectedSeries(request, context, allowAll: false)
        let (from, to) = try Self.range(request)
        let store = server.store
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "time,machine,tag,value,quality\n"))
            for entry in series {
                var cursor = from
                while cursor < to {
                    let page = try await store.samples(series: entry.id, from: cursor, to: to, limit: 10_000)
                    guard let last = page.last else { break }
                    var buffer = ByteBuffer()
                    buffer.reserveCapacity(page.count * 64)
                    for sample in page { CSV.write(sample, series: entry, into: &buffer) }
                    try await writer.write(buffer)
                    cursor = last.time.adding(milliseconds: 1)
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [
            .contentType: "text/csv; charset=utf-8",
            .contentDisposition: "attachment; filename=\"gemba-export.csv\"",
        ], body: body)
    }

    // MARK: Parameters

    /// The series named by `series=<machine path>/<tag>` (repeatable) or `machine=<path>` with
    /// optional `tag=<name>` (repeatable). With `allowAll`, no selector means every series of the tenant.
    private func selectedSeries(_ request: Request, _ context: GembaRequestContext, allowAll: Bool) async throws -> [Series] {
        let parameters = request.uri.queryParameters
        let named = parameters.getAll("series")
        let machines = try parameters.getAll("machine").map { path throws(Problem) in try Self.machinePath(path) }
        let tags = Set(parameters.getAll("tag"))
        if named.isEmpty && machines.isEmpty {
            guard allowAll else { throw Problem.badRequest("name the series: series=<site/[area/]line/machine>/<tag> or machine=…&tag=…") }
            // `tag` alone selects that tag on every machine.
            return try await server.store.series(tenant: context.tenant, machine: nil).filter { tags.isEmpty || tags.contains($0.key.tag) }
        }
        var result: [Series] = []
        for machine in machines {
            let all = try await server.store.series(tenant: context.tenant, machine: machine)
            if all.isEmpty { throw Problem.notFound("no machine \(machine)") }
            let chosen = tags.isEmpty ? all : all.filter { tags.contains($0.key.tag) }
            if !tags.isEmpty, chosen.count < tags.count {
                let missing = tags.subtracting(chosen.map(\.key.tag)).sorted()
                throw Problem.notFound("machine \(machine) has no tag \(missing.joined(separator: ", "))")
            }
            result += chosen
        }
        for name in named {
            guard let slash = name.lastIndex(of: "/") else { throw Problem.badRequest("series must be <machine path>/<tag>, got '\(name)'") }
            let machine = try Self.machinePath(String(name[..<slash]))
            let tag = String(name[name.index(after: slash)...])
            guard let found = try await server.store.series(tenant: context.tenant, machine: machine).first(where: { $0.key.tag == tag }) else {
                throw Problem.notFound("no series \(name)")
            }
            result.append(found)
        }
        // A series named twice (by `series` and by `machine`/`tag`) is answered once.
        var seen = Set<Int64>()
        result = result.filter { seen.insert($0.id).inserted }
        guard result.count <= 1000 else { throw Problem.badRequest("at most 1000 series per request") }
        return result
    }

    static func machinePath(_ text: String) throws(Problem) -> AssetPath {
        do {
            return try AssetPath(text)
        } catch {
            throw Problem.badRequest("machine: \(error.message)")
        }
    }

    /// `from`/`to` as epoch ms or RFC 3339; `to` defaults to now and `from` to `defaultSpan` ms (1 hour) before `to`.
    static func range(_ request: Request, defaultSpan: Int64 = 3_600_000) throws(Problem) -> (Timestamp, Timestamp) {
        let parameters = request.uri.queryParameters
        let to = try parameters.get("to").map { text throws(Problem) in try time(text, "to") } ?? Timestamp.now()
        let from = try parameters.get("from").map { text throws(Problem) in try time(text, "from") }
            ?? Timestamp(millisecondsSinceEpoch: max(0, to.millisecondsSinceEpoch - defaultSpan))
        guard from < to else { throw Problem.badRequest("from must be before to") }
        return (from, to)
    }

    /// A duration such as `7d` or `12h` within `range` (ms); a 400 naming `name` otherwise.
    static func duration(_ text: String, _ name: String, _ range: ClosedRange<Int64>) throws(Problem) -> Int64 {
        guard let value = RuleText.parseDuration(text), range.contains(value) else {
            throw Problem.badRequest("\(name) is a duration from \(RuleText.duration(range.lowerBound)) to \(RuleText.duration(range.upperBound)), "
                                     + "such as 7d or 12h")
        }
        return value
    }

    /// Times a query may name: the years 1970 to 9999 (ranges are computed from them without overflow).
    static let queryableTimes: ClosedRange<Int64> = 0...253_402_300_799_999

    static func time(_ text: String, _ name: String) throws(Problem) -> Timestamp {
        guard let time = Int64(text).map(Timestamp.init(millisecondsSinceEpoch:)) ?? Timestamp(rfc3339: text) else {
            throw Problem.badRequest("\(name) must be epoch milliseconds or an RFC 3339 date-time, got '\(text)'")
        }
        guard queryableTimes.contains(time.millisecondsSinceEpoch) else {
            throw Problem.badRequest("\(name) must lie between 1970 and 9999, got '\(text)'")
        }
        return time
    }

    /// A `limit` query parameter: 1 to `maximum`, `value` when absent.
    static func limit(_ text: String?, default value: Int, maximum: Int) throws(Problem) -> Int {
        guard let text else { return value }
        guard let limit = Int(text), (1...maximum).contains(limit) else { throw Problem.badRequest("limit is 1 to \(maximum)") }
        return limit
    }

    /// Refuses a range longer than `limit` days (work grows with the range: OEE, stops).
    static func check(_ from: Timestamp, _ to: Timestamp, atMostDays limit: Int64) throws(Problem) {
        guard to.millisecondsSinceEpoch - from.millisecondsSinceEpoch <= limit * 86_400_000 else {
            throw Problem.badRequest("the range from … to may span at most \(limit) days")
        }
    }
}

/// CSV rows: RFC 3339 time, machine path, tag, value, quality.
enum CSV {
    static func write(_ sample: Sample, series: Series, into buffer: inout ByteBuffer) {
        buffer.writeString(sample.time.rfc3339)
        buffer.writeInteger(UInt8(ascii: ","))
        buffer.writeString(series.key.machine.description)
        buffer.writeInteger(UInt8(ascii: ","))
        buffer.writeString(series.key.tag)
        buffer.writeInteger(UInt8(ascii: ","))
        switch sample.value.restored(as: series.tag.valueType) {
        case .double(let number): buffer.writeString(number.description)
        case .int(let number): buffer.writeString(String(number))
        case .bool(let flag): buffer.writeString(flag ? "true" : "false")
        case .string(let text): buffer.writeString("\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"")
        }
        buffer.writeInteger(UInt8(ascii: ","))
        buffer.writeString(sample.quality.name)
        buffer.writeInteger(UInt8(ascii: "\n"))
    }
}
