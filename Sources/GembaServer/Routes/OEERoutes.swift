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

    var endpoints: [Endpoint] {
        [
            Endpoint(.get, "/api/v1/oee", .requires(.readData), group: "OEE",
                     summary: "OEE, TEEP, utilization, MTBF, MTTR, scrap ratio, setup rate, time per state and reason, downtime Pareto of an asset over a range",
                     description: "Computed from summed time and count components, never from averaged percentages. A KPI is "
                     + "{value, note, flagged}: a null value comes with the reason in note; performance above 100 % is flagged.",
                     parameters: [.asset, Parameter.from.described("; at most 400 days before to"), .to, Parameter("period", Schema.oneOf(ReportGrouping.allCases.map(\.rawValue)).defaulting(to: "none"),
                                                            "Periods to split the range into (shifts of the site's calendar, local days, ISO weeks, months)")],
                     responses: [.json(200, "The total and each period", Self.report), .problem(404, "No machine lies in the asset"), Self.unavailable]) { request, context in
                try await report(request, context)
            },
            Endpoint(.get, "/api/v1/oee/current", .requires(.readData), group: "OEE", summary: "KPIs of the shift running now at the asset's sites, from its start until now",
                     parameters: [.asset],
                     responses: [.json(200, "The current shift", Self.currentShift), .problem(404, "No machine lies in the asset"), Self.unavailable]) { request, context in
                try await current(request, context)
            },
            Endpoint(.get, "/api/v1/floor", .requires(.readData), group: "OEE",
                     summary: "Every machine of an asset: the current shift's A, P, Q, OEE and the stop running now",
                     description: "Answers for the same machines are shared for 10 s between callers.",
                     parameters: [.asset],
                     responses: [.json(200, "Machines", Self.floor), .problem(404, "No machine lies in the asset"), Self.unavailable]) { request, context in
                try await floor(request, context)
            },
            Endpoint(.get, "/api/v1/stops", .requires(.readData), group: "OEE", summary: "A machine's stops with reason, fault code and who gave the reason",
                     parameters: [.oneMachine, .from, .to],
                     responses: [.json(200, "Stops in start order", Self.stops), Self.unavailable]) { request, context in
                try await stops(request, context)
            },
            Endpoint(.post, "/api/v1/stops/reason", .requires(.operate), group: "OEE", summary: "Give the stop starting at start a reason (audited)",
                     body: .json(.object(["machine": TelemetrySchemas.machinePath, "start": .epochMilliseconds, "reason": Self.reasonPath,
                                      "faultCode": .string(maxLength: 100)], optional: ["faultCode"])),
                     responses: [.json(200, "The stop as it now reads", Self.stops), .problem(404, "No stop starts there"),
                             .problem(422, "The reason is unknown or is not a stop reason"), Self.unavailable]) { request, context in
                try await assign(request, context)
            },
            Endpoint(.post, "/api/v1/stops/split", .requires(.operate), group: "OEE", summary: "Split the stop starting at start into parts, each with a reason (audited)",
                     body: .json(.object([
                     "machine": TelemetrySchemas.machinePath, "start": .epochMilliseconds, "faultCode": .string(maxLength: 100),
                     "parts": .array(.object(["end": Schema.epochMilliseconds.orNull.described("Where the part ends; the last part: absent"),
                                              "reason": Self.reasonPath], optional: ["end"]), minItems: 1, maxItems: 100),
                     ], optional: ["faultCode"])),
                     responses: [.json(200, "The parts", Self.stops), .problem(404, "No stop starts there"),
                             .problem(422, "A part lies outside the stop, or a reason is unknown"), Self.unavailable]) { request, context in
                try await split(request, context)
            },
            Endpoint(.get, "/api/v1/reasons", .requires(.readData), group: "OEE", summary: "The tenant's reason codes with their loss classes",
                     responses: [.json(200, "Reasons sorted by path", .object(["reasons": .array(Self.reason)])), Self.unavailable]) { _, context in
                try await reasons(context)
            },
            Endpoint(.put, "/api/v1/reasons", .requires(.configure), group: "OEE", summary: "Add a reason or change one (name, loss class, failure and setup flags)",
                     description: "Every OEE summary of the tenant is rebuilt with the new loss class.",
                     body: .json(Self.reason), responses: [.json(200, "Stored", Self.reason), .problem(422, "The reason is not valid"), Self.unavailable]) { request, context in
                try await setReason(request, context)
            },
            Endpoint(.get, "/api/v1/calendars/{site}", .requires(.readData), group: "OEE", summary: "The site's shift calendar",
                     parameters: [Parameter("site", in: .path, TelemetrySchemas.tagName, "The site")],
                     responses: [.json(200, "The calendar", Self.calendar), .problem(404, "The site has none: it counts round the clock in UTC"), Self.unavailable]) { request, context in
                try await calendar(request, context)
            },
            Endpoint(.put, "/api/v1/calendars/{site}", .requires(.configure), group: "OEE",
                     summary: "Set the site's shift calendar: IANA zone, weekly shifts with breaks, exceptions",
                     parameters: [Parameter("site", in: .path, TelemetrySchemas.tagName, "The site")], body: .json(Self.calendar),
                     responses: [.json(200, "Stored", Self.calendar), .problem(422, "The calendar is not valid (the detail names the field)"), Self.unavailable]) { request, context in
                try await setCalendar(request, context)
            },
            Endpoint(.get, "/api/v1/production-settings", .requires(.readData), group: "OEE",
                     summary: "How a machine's states, counts and ideal cycle time are read (the defaults when never set)",
                     parameters: [.oneMachine], responses: [.json(200, "Settings", Self.settings), Self.unavailable]) { request, context in
                try await settings(request, context)
            },
            Endpoint(.put, "/api/v1/production-settings", .requires(.configure), group: "OEE",
                     summary: "Replace a machine's production settings (a field left out takes its default)",
                     parameters: [.oneMachine], body: .json(Self.settingsInput),
                     responses: [.json(200, "Stored", Self.settings), .problem(422, "A value is not valid (the detail names the field)"), Self.unavailable]) { request, context in
                try await setSettings(request, context)
            },
            Endpoint(.get, "/api/v1/orders", .requires(.readData), group: "OEE", summary: "Production orders running in a range",
                     parameters: [Parameter("machine", TelemetrySchemas.machinePath, "Machine path; every machine when absent"), .from, .to],
                     responses: [.json(200, "Orders", .object(["orders": .array(Self.order)])), Self.unavailable]) { request, context in
                try await orders(request, context)
            },
            Endpoint(.put, "/api/v1/orders/{id}", .requires(.operate), group: "OEE",
                     summary: "Create or change a production order (its ideal cycle time overrides the product's and the machine's)",
                     parameters: [.path("id", "The order number, 1 to 100 characters")], body: .json(Self.orderInput),
                     responses: [.json(200, "Stored", Self.order), .problem(422, "The order is not valid"), Self.unavailable]) { request, context in
                try await saveOrder(request, context)
            },
        ]
    }

    // MARK: Schemas

    static let unavailable = Reply.problem(503, "This store keeps no OEE data")
    /// The longest range a KPI report covers, days (a year by day, week or month, with room for a leap year and edges).
    static let longestReport: Int64 = 400
    /// The longest range a stop list covers, days.
    static let longestStopList: Int64 = 31
    static let category = Schema.oneOf(MachineStateCategory.allCases.map(\.rawValue)).named("StateCategory")
    static let lossClass = Schema.oneOf(LossClass.allCases.map(\.rawValue)).named("LossClass")
    static let reasonPath = Schema.string(minLength: 3, maxLength: 130).described("category/code, e.g. unplanned_stop/jam")
    /// A KPI with the reason when it has no value.
    static let kpi = Schema.object([
        "value": Schema.number.orNull.described("A fraction (0.8667) or, for mtbf_ms and mttr_ms, milliseconds; null when undefined"),
        "note": Schema.string.orNull.described("Why the value is null, or what to check"),
        "flagged": Schema.boolean.described("Implausible (performance above 100 %): check the ideal cycle time"),
    ]).named("KPI")
    static let components = Schema.object([
        "calendar_ms": .integer,
        "not_monitored_ms": Schema.integer.described("Of the range, the time before the machine's first stored sample: neither scheduled nor a loss"),
        "scheduled_ms": .integer, "excluded_ms": .integer, "planned_ms": .integer, "downtime_ms": .integer,
        "run_ms": .integer,
        "unknown_ms": Schema.integer.described("Monitored time inside shifts without state data (by default part of downtime)"), "performance_loss_ms": .integer, "setup_ms": .integer, "repair_ms": .integer,
        "failures": .integer, "total_count": .integer, "good_count": .integer, "scrap_count": .integer,
        "rework_count": Schema.integer.described("Of the good units, those made good by rework"), "unrated_count": .integer,
        "ideal_ms": .integer,
    ]).named("KPIComponents")
    static let period = Schema.object([
        "label": .string, "from": .epochMilliseconds, "to": .epochMilliseconds,
        "availability": kpi, "performance": kpi, "quality": kpi, "oee": kpi, "utilization": kpi, "teep": kpi,
        "mtbf_ms": kpi, "mttr_ms": kpi, "scrap_ratio": kpi, "setup_rate": kpi,
        "first_pass_yield": kpi.described("(good − reworked) / total units"),
        "components": components,
        "states_ms": Schema.map(.integer).described("Time per state category"),
        "reasons_ms": Schema.map(.integer).described("Time per reason path"),
        "downtime_pareto": .array(.object(["reason": .string, "name": .string, "time_ms": .integer, "share": .number]).named("ParetoBar")),
        "products": Schema.array(.object(["product": .string, "run_ms": .integer, "ideal_ms": .integer, "total_count": .integer,
                                          "good_count": .integer, "performance": kpi]).named("ProductKPIs"))
            .described("Run time, units and performance by the product of the running order (time without an order is in none)"),
        "orders": Schema.array(.object(["order": .string, "product": .string, "run_ms": .integer, "ideal_ms": .integer,
                                        "total_count": .integer, "good_count": .integer, "performance": kpi]).named("OrderKPIs"))
            .described("The same per production order (entered or from tags) running in the range"),
        "quality_pareto": Schema.array(.object(["reason": Schema.string.described("Defect code; unspecified: scrap no counter or entry explains"),
                                                "count": .integer, "share": .number]).named("QualityParetoBar"))
            .described("Scrap units by defect code, largest first"),
    ]).named("PeriodKPIs")
    static let machines = Schema.array(TelemetrySchemas.machinePath)
    static let report = Schema.object([
        "asset": Schema.string.described("As asked; empty for every machine"), "machines": machines,
        "from": .epochMilliseconds, "to": .epochMilliseconds, "period": .oneOf(ReportGrouping.allCases.map(\.rawValue)),
        "total": period, "periods": .array(period),
    ]).named("OEEReport")
    static let currentShift = Schema.object([
        "asset": .string, "machines": machines, "from": .epochMilliseconds, "to": .epochMilliseconds,
        "shifts": Schema.array(.string).described("The shifts running now at the asset's sites"), "current": period,
    ]).named("CurrentShift")
    static let stop = Schema.object([
        "machine": TelemetrySchemas.machinePath, "start": .epochMilliseconds, "end": .epochMilliseconds, "duration_ms": .integer(minimum: 0),
        "open": Schema.boolean.described("Still running (end is now)"), "reason": reasonPath, "reason_name": .string,
        "category": category, "loss_class": lossClass, "fault_code": Schema.string.orNull, "assigned_by": Schema.string.orNull,
        "assigned_at": Schema.epochMilliseconds.orNull,
    ]).named("Stop")
    static let stops = Schema.object(["stops": .array(stop)]).named("Stops")
    static let floor = Schema.object([
        "machines": .array(.object([
            "machine": TelemetrySchemas.machinePath, "shift": Schema.string.orNull,
            "availability": kpi, "performance": kpi, "quality": kpi, "oee": kpi,
            "total_count": .integer, "good_count": .integer, "stop": stop.orNull,
        ]).named("FloorMachine")),
    ]).named("Floor")
    static let reason = Schema.object([
        "category": category, "code": .string(minLength: 1, maxLength: 64), "name": .string(minLength: 1, maxLength: 200),
        "lossClass": lossClass, "isFailure": .boolean, "isSetup": .boolean,
    ]).named("Reason")
    static let localTime = Schema.string(pattern: "^[0-9]{1,2}:[0-9]{2}$").described("Local HH:MM; 24:00 is midnight at the end")
    static let shift = Schema.object([
        "name": .string(minLength: 1, maxLength: 100),
        "weekdays": Schema.array(.integer(minimum: 1, maximum: 7)).described("ISO weekdays the shift starts on: 1 = Monday"),
        "start": localTime, "end": localTime.described("At or before start: the next day"),
        "breaks": .array(.object(["start": localTime, "end": localTime])),
    ], optional: ["breaks"]).named("Shift")
    static let localDate = Schema.string(pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}$").described("A local date, YYYY-MM-DD")
    static let calendar = Schema.object([
        "timeZone": Schema.string(minLength: 1, maxLength: 64).described("IANA zone, e.g. Europe/Berlin"),
        "patterns": .array(shift),
        "exceptions": .array(.oneOf([
            Schema.object(["noProduction": Schema.object(["date": localDate]).named("NoProductionDay")])
                .named("NoProductionException").described("No shift starts on this local date"),
            Schema.object(["extraShift": Schema.object(["date": localDate, "shift": shift]).named("ExtraShiftDay")])
                .named("ExtraShiftException").described("An extra shift on this local date"),
        ]).named("CalendarException")),
    ]).named("ShiftCalendar")
    static let rule = Schema.object(["speedTag": TelemetrySchemas.tagName, "speedAbove": .number, "counterMustMove": .boolean])
        .named("StateRule")
    static let stateRule = Schema.object([
        "state": Schema.string(minLength: 1, maxLength: 130).described("A state word or reason path"),
        "when": Schema.string(minLength: 1, maxLength: 2000).described("A condition in the rule language, on the machine's tags"),
    ]).named("StateFromSignals")
    static let settings = Schema.object([
        "stateTag": TelemetrySchemas.tagName, "stateCodes": Schema.map(.string).described("State value → reason path"), "rule": rule,
        "stateRules": Schema.array(stateRule).described("States from signals, first match wins"), "stateOtherwise": .string,
        "totalCounter": TelemetrySchemas.tagName, "goodCounter": TelemetrySchemas.tagName.orNull, "scrapCounter": TelemetrySchemas.tagName,
        "defectCounters": Schema.map(.string).described("Counter tag → defect code"),
        "scrapReasonTag": TelemetrySchemas.tagName.orNull.described("Its value is the defect of the scrap counted while it holds"),
        "reworkCounter": TelemetrySchemas.tagName.orNull.described("Units made good by rework"),
        "orderTag": TelemetrySchemas.tagName.orNull.described("Its value is the running order's number; a new one opens an order"),
        "productTag": TelemetrySchemas.tagName.orNull, "orderTargetTag": TelemetrySchemas.tagName.orNull,
        "counterMode": .oneOf(["cumulative", "increments"]), "counterWrap": .integer, "faultCodeTag": TelemetrySchemas.tagName,
        "idealCycleTime": Schema.integer.described("ms per unit"),
        "productIdealCycleTimes": Schema.map(.integer).described("Product → ms per unit"),
        "microstopThreshold": Schema.integer.described("ms"), "noDataTimeout": Schema.integer.described("ms; 0 for report-by-exception sources"),
    ], optional: ["rule", "goodCounter", "scrapCounter", "counterWrap", "idealCycleTime"]).named("ProductionSettings")
    static let settingsInput = Schema.object([
        "stateTag": TelemetrySchemas.tagName, "stateCodes": .map(.string(maxLength: 130)), "rule": rule.orNull,
        "stateRules": .array(stateRule, maxItems: 32), "stateOtherwise": .string(minLength: 1, maxLength: 130),
        "totalCounter": TelemetrySchemas.tagName, "goodCounter": TelemetrySchemas.tagName.orNull,
        "scrapCounter": TelemetrySchemas.tagName.orNull, "defectCounters": .map(.string(minLength: 1, maxLength: 64)),
        "scrapReasonTag": TelemetrySchemas.tagName.orNull,
        "reworkCounter": TelemetrySchemas.tagName.orNull, "orderTag": TelemetrySchemas.tagName.orNull,
        "productTag": TelemetrySchemas.tagName.orNull, "orderTargetTag": TelemetrySchemas.tagName.orNull,
        "counterMode": .oneOf(["cumulative", "increments"]),
        "counterWrap": Schema.integer(minimum: 2).orNull, "faultCodeTag": TelemetrySchemas.tagName,
        "idealCycleTime": Schema.integer(minimum: 1).orNull, "productIdealCycleTimes": .map(.integer(minimum: 1)),
        "microstopThreshold": .integer(minimum: 0), "noDataTimeout": .integer(minimum: 0),
    ], optional: ["stateTag", "stateCodes", "rule", "stateRules", "stateOtherwise", "totalCounter", "goodCounter", "scrapCounter", "defectCounters", "scrapReasonTag",
                  "reworkCounter", "orderTag", "productTag", "orderTargetTag",
                  "counterMode", "counterWrap",
                  "faultCodeTag", "idealCycleTime", "productIdealCycleTimes", "microstopThreshold", "noDataTimeout"])
        .named("ProductionSettingsInput")
    static let order = Schema.object([
        "id": .string, "machine": TelemetrySchemas.machinePath, "product": .string, "targetQuantity": .integer, "start": .epochMilliseconds,
        "end": .epochMilliseconds, "idealCycleTime": Schema.integer.described("ms per unit"),
        "fromTag": Schema.boolean.described("Opened and closed by the machine's order tag; an entered order wins where both run"),
    ], optional: ["end", "idealCycleTime"]).named("ProductionOrder")
    static let orderInput = Schema.object([
        "machine": TelemetrySchemas.machinePath, "product": .string(minLength: 1, maxLength: 100), "targetQuantity": .integer(minimum: 0),
        "start": .epochMilliseconds, "end": Schema.epochMilliseconds.orNull, "idealCycleTime": Schema.integer(minimum: 1).orNull,
    ], optional: ["end", "idealCycleTime"]).named("ProductionOrderInput")

    private func engine() throws -> OEEEngine { try server.requireOEE() }

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
        let (from, to) = try QueryRoutes.range(request, defaultSpan: 86_400_000)
        try QueryRoutes.check(from, to, atMostDays: Self.longestReport)
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
        try QueryRoutes.check(from, to, atMostDays: Self.longestStopList)
        let stops = try await engine().stops(tenant: context.tenant, machine: machine,
                                             range: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch)
        return .json(OEEJSON.stops(stops))
    }

    private func assign(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let body = try await RequestBody.read(request)
        let (machine, start) = try stopIdentity(body)
        let reason = try body.string("reason")
        let caller = try context.requireCaller()
        let stops = try await refusingModelErrors {
            try await engine().assignReason(tenant: context.tenant, machine: machine, stopStart: start, reason: reason,
                                            faultCode: body.optionalString("faultCode"), by: caller.name)
        }
        await server.audit(context, "stop.reason", target: machine.description, detail: "start=\(start) reason=\(reason)")
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
        let stops = try await refusingModelErrors {
            try await engine().split(tenant: context.tenant, machine: machine, stopStart: start, parts: parts,
                                     faultCode: body.optionalString("faultCode"), by: caller.name)
        }
        let detail = parts.map { "\($0.end.map(String.init) ?? "end")=\($0.reason)" }.joined(separator: " ")
        await server.audit(context, "stop.split", target: machine.description, detail: "start=\(start) \(detail)")
        return .json(OEEJSON.stops(stops))
    }

    private func stopIdentity(_ body: RequestBody) throws -> (AssetPath, Int64) {
        let machine = try QueryRoutes.machinePath(try body.string("machine"))
        guard let start = try body.optionalInt("start") else { throw Problem.badRequest("\"start\" (epoch ms of the stop) is required") }
        return (machine, start)
    }

    // MARK: Settings

    private func reasons(_ context: GembaRequestContext) async throws -> Response {
        let catalogue = try await engine().catalogue(tenant: context.tenant)
        return try Self.encoded(["reasons": catalogue.reasons.values.sorted { $0.path < $1.path }])
    }

    private func setReason(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let reason = try await Self.decode(ReasonCode.self, from: request)
        try await refusingModelErrors { try await engine().setReason(reason, tenant: context.tenant) }
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
        try await refusingModelErrors { try await engine().setCalendar(calendar, tenant: context.tenant, site: site) }
        return try Self.encoded(calendar)
    }

    private func settings(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let machine = try QueryRoutes.machinePath(request.uri.queryParameters.get("machine") ?? "")
        return try Self.encoded(try await engine().settings(tenant: context.tenant, machine: machine))
    }

    private func setSettings(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let machine = try QueryRoutes.machinePath(request.uri.queryParameters.get("machine") ?? "")
        let settings = try await Self.decode(MachineProductionSettings.self, from: request)
        try await refusingModelErrors { try await engine().setSettings(settings, tenant: context.tenant, machine: machine) }
        return try Self.encoded(settings)
    }

    private func orders(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let machine = try request.uri.queryParameters.get("machine").map { text throws(Problem) in try QueryRoutes.machinePath(text) }
        let (from, to) = try QueryRoutes.range(request)
        let orders = try await engine().orders(tenant: context.tenant, machine: machine,
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
        try await refusingModelErrors { try await engine().saveOrder(order, tenant: context.tenant) }
        return try Self.encoded(order)
    }

    // MARK: Helpers

    /// The JSON body as `type` (at most `limit` bytes: 413 beyond, 400 naming what is wrong).
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 256 << 10,
                                     userInfo: [CodingUserInfoKey: any Sendable] = [:]) async throws -> T {
        try decode(type, from: try await body(of: request, limit: limit), userInfo: userInfo)
    }

    /// The body as `type`, or nil when there is none (a body a step may leave out).
    static func decodeIfPresent<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T? {
        let buffer = try await body(of: request)
        return buffer.readableBytes == 0 ? nil : try decode(type, from: buffer, userInfo: [:])
    }

    private static func body(of request: Request, limit: Int = 256 << 10) async throws -> ByteBuffer {
        do { return try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, "request body larger than \(limit >> 10) KB")
        }
    }

    private static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer, userInfo: [CodingUserInfoKey: any Sendable]) throws -> T {
        do {
            let decoder = JSONDecoder()
            decoder.userInfo = userInfo
            return try decoder.decode(type, from: Data(buffer.readableBytesView))
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
