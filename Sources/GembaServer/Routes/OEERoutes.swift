#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
internal import GembaAnalytics
internal import GembaCore
internal import Hummingbird
internal import NIOCore

/// States, downtime and OEE: KPI reports over any asset and range, the current shift, stops
/// with the reasons operators give them, and the settings behind the numbers (reason codes,
/// shift calendars, machine production settings, production orders).
struct OEERoutes {
    let server: ServerContext
    var floorCache = FloorCache()

    func register(on router: Router<GembaRequestContext>) {
        router.get("/api/v1/oee") { request, context in try await report(request, context) }
        router.get("/api/v1/oee/current") { request, context in try await current(request, context) }
        router.get("/api/v1/floor") { request, context in try await floor(request, context) }
        router.get("/api/v1/stops") { request, context in try await stops(request, context) }
        router.post("/api/v1/stops/reason") { request, context in try await assign(request, context) }
        router.post("/api/v1/stops/split") { request, context in try await split(request, context) }
        router.get("/api/v1/reasons") { _, context in try await reasons(context) }
        router.put("/api/v1/reasons") { request, context in try await setReason(request, context) }
        router.get("/api/v1/calendars/{site}") { request, context in try await calendar(request, context) }
        router.put("/api/v1/calendars/{site}") { request, context in try await setCalendar(request, context) }
        router.get("/api/v1/production-settings") { request, context in try await settings(request, context) }
        router.put("/api/v1/production-settings") { request, context in try await setSettings(request, context) }
        router.get("/api/v1/orders") { request, context in try await orders(request, context) }
        router.put("/api/v1/orders/{id}") { request, context in try await saveOrder(request, context) }
    }

    private func engine() throws -> OEEEngine {
        guard let engine = server.oee else { throw Problem(.serviceUnavailable, "this store keeps no OEE data") }
        return engine
    }

    /// The machines of `asset` (a site, area, line or machine path; every machine when absent), 404 when none.
    static func machines(_ server: ServerContext, _ request: Request, _ context: GembaRequestContext) async throws
        -> (asset: String, machines: [AssetPath]) {
        let all = try await server.store.machines(tenant: context.tenant).map(\.path)
        guard let asset = request.uri.queryParameters.get("asset"), !asset.isEmpty else { return ("", all) }
        let subtree: AssetSubtree
        do { subtree = try AssetSubtree(asset) } catch { throw Problem.badRequest("asset: \(error.message)") }
        let machines = all.filter { subtree.contains($0) }
        guard !machines.isEmpty else { throw Problem.notFound("no machine lies in \(asset)") }
        return (asset, machines)
    }

    // MARK: KPIs

    private func report(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let (asset, machines) = try await Self.machines(server, request, context)
        let parameters = request.uri.queryParameters
        let to = try parameters.get("to").map { text throws(Problem) in try QueryRoutes.time(text, "to") } ?? Timestamp.now()
        let from = try parameters.get("from").map { text throws(Problem) in try QueryRoutes.time(text, "from") }
            ?? to.adding(milliseconds: -86_400_000)
        guard from < to else { throw Problem.badRequest("from must be before to") }
        guard let grouping = ReportGrouping(rawValue: parameters.get("period") ?? "none") else {
            throw Problem.badRequest("period must be one of none, shift, day, week, month")
        }
        let report = try await engine().report(tenant: context.tenant, machines: machines,
                                               range: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch, grouping: grouping)
        let catalogue = try await engine().catalogue(tenant: context.tenant)
        return .json(OEEJSON.report(report, asset: asset, catalogue: catalogue))
    }

    private func current(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let (asset, machines) = try await Self.machines(server, request, context)
        let (shifts, report) = try await engine().currentShift(tenant: context.tenant, machines: machines)
        let catalogue = try await engine().catalogue(tenant: context.tenant)
        return .json(OEEJSON.current(report, shifts: shifts, asset: asset, catalogue: catalogue))
    }

    private func floor(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let (_, machines) = try await Self.machines(server, request, context)
        let engine = try engine()
        let tenant = context.tenant
        let statuses = try await floorCache.statuses(tenant: tenant, machines: machines) {
            try await engine.floor(tenant: tenant, machines: machines)
        }
        return .json(OEEJSON.floor(statuses))
    }

    // MARK: Stops

    private func stops(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let machine = try QueryRoutes.machinePath(request.uri.queryParameters.get("machine") ?? "")
        let (from, to) = try QueryRoutes.range(request)
        let stops = try await engine().stops(tenant: context.tenant, machine: machine,
                                             range: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch)
        return .json(OEEJSON.stops(stops))
    }

    private func assign(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let body = try await RequestBody.read(request)
        let (machine, start) = try stopIdentity(body)
        let reason = try body.string("reason")
        let caller = try context.requireCaller()
        let stops = try await mapped {
            try await engine().assignReason(tenant: context.tenant, machine: machine, stopStart: start, reason: reason,
                                            faultCode: body.optionalString("faultCode"), by: caller.name)
        }
        await audit(context, "stop.reason", machine: machine, detail: "start=\(start) reason=\(reason)")
        return .json(OEEJSON.stops(stops))
    }

    private func split(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let body = try await RequestBody.read(request)
        let (machine, start) = try stopIdentity(body)
        guard case .array(let items)? = body.json["parts"], !items.isEmpty, items.count <= 100 else {
            throw Problem.badRequest("\"parts\" must be an array of 1 to 100 {\"end\", \"reason\"} objects")
        }
        let parts = try items.map { item -> (end: Int64?, reason: String) in
            guard case .string(let reason)? = item["reason"] else { throw Problem.badRequest("every part needs a \"reason\"") }
            switch item["end"] {
            case nil, .null?: return (nil, reason)
            case .integer(let end)?: return (end, reason)
            default: throw Problem.badRequest("a part's \"end\" must be epoch milliseconds")
            }
        }
        let caller = try context.requireCaller()
        let stops = try await mapped {
            try await engine().split(tenant: context.tenant, machine: machine, stopStart: start, parts: parts,
                                     faultCode: body.optionalString("faultCode"), by: caller.name)
        }
        let detail = parts.map { "\($0.end.map(String.init) ?? "end")=\($0.reason)" }.joined(separator: " ")
        await audit(context, "stop.split", machine: machine, detail: "start=\(start) \(detail)")
        return .json(OEEJSON.stops(stops))
    }

    private func stopIdentity(_ body: RequestBody) throws -> (AssetPath, Int64) {
        let machine = try QueryRoutes.machinePath(try body.string("machine"))
        guard let start = try body.optionalInt("start") else { throw Problem.badRequest("\"start\" (epoch ms of the stop) is required") }
        return (machine, start)
    }

    /// Records what changed beside the request itself (the middleware logs the call and its status).
    private func audit(_ context: GembaRequestContext, _ action: String, machine: AssetPath, detail: String) async {
        let caller = context.caller
        await server.access.record(AuditEvent(
            tenant: context.tenant, time: Timestamp.now(), actorKind: caller?.kind.rawValue ?? "anonymous", actorID: caller?.id ?? "",
            actorName: caller?.name ?? "", action: action, target: machine.description, outcome: "ok", sourceIP: context.clientIP,
            requestID: context.requestID, detail: detail))
    }

    // MARK: Settings

    private func reasons(_ context: GembaRequestContext) async throws -> Response {
        let catalogue = try await engine().catalogue(tenant: context.tenant)
        return try Self.encoded(["reasons": catalogue.reasons.values.sorted { $0.path < $1.path }])
    }

    private func setReason(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let reason = try await Self.decode(ReasonCode.self, from: request)
        try await mapped { try await engine().setReason(reason, tenant: context.tenant) }
        return try Self.encoded(reason)
    }

    private func calendar(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let site = try context.parameters.require("site")
        guard let calendar = try await engine().calendar(tenant: context.tenant, site: site) else {
            throw Problem.notFound("site \(site) has no shift calendar; it counts round the clock in UTC")
        }
        return try Self.encoded(calendar)
    }

    private func setCalendar(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let site = try context.parameters.require("site")
        do { try AssetPath.validate(segment: site, role: "site") } catch { throw Problem.badRequest(error.message) }
        let calendar = try await Self.decode(ShiftCalendar.self, from: request)
        try await mapped { try await engine().setCalendar(calendar, tenant: context.tenant, site: site) }
        return try Self.encoded(calendar)
    }

    private func settings(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let machine = try QueryRoutes.machinePath(request.uri.queryParameters.get("machine") ?? "")
        return try Self.encoded(try await engine().settings(tenant: context.tenant, machine: machine))
    }

    private func setSettings(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let machine = try QueryRoutes.machinePath(request.uri.queryParameters.get("machine") ?? "")
        let settings = try await Self.decode(MachineProductionSettings.self, from: request)
        try await mapped { try await engine().setSettings(settings, tenant: context.tenant, machine: machine) }
        return try Self.encoded(settings)
    }

    private func orders(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let machine = try request.uri.queryParameters.get("machine").map { text throws(Problem) in try QueryRoutes.machinePath(text) }
        let (from, to) = try QueryRoutes.range(request)
        let orders = try await engine().store.orders(tenant: context.tenant, machine: machine,
                                                     overlapping: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch)
        return try Self.encoded(["orders": orders])
    }

    private func saveOrder(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard !id.isEmpty, id.utf8.count <= 100 else { throw Problem.badRequest("an order id has 1 to 100 characters") }
        let body = try await RequestBody.read(request)
        guard let start = try body.optionalInt("start"), let target = try body.optionalInt("targetQuantity") else {
            throw Problem.badRequest("\"start\" (epoch ms) and \"targetQuantity\" are required")
        }
        let order = ProductionOrder(id: id, machine: try QueryRoutes.machinePath(try body.string("machine")),
                                    product: try body.string("product"), targetQuantity: target, start: start,
                                    end: try body.optionalInt("end"), idealCycleTime: try body.optionalInt("idealCycleTime"))
        try await mapped { try await engine().saveOrder(order, tenant: context.tenant) }
        return try Self.encoded(order)
    }

    // MARK: Helpers

    /// Runs an engine call, turning its model errors into problems (400, 404).
    @discardableResult
    private func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ModelError {
            throw error.code == .notFound ? Problem.notFound(error.message) : Problem(.unprocessableContent, error.message)
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: 256 << 10) } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, "request body larger than 256 KB")
        }
        do {
            return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw Problem.badRequest(Self.describe(error))
        } catch {
            throw Problem.badRequest("the body is not valid JSON")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context, _ last: String? = nil) -> String {
            let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue } + (last.map { [$0] } ?? [])
            return names.isEmpty ? "the body" : names.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context, key.stringValue)) is required"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "the body does not match the schema"
        }
    }

    static func encoded(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}
