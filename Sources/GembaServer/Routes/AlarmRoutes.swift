internal import Foundation
internal import GembaAnalytics
internal import GembaCore
internal import GembaIngest
internal import GembaRules
internal import GembaStorage
internal import Hummingbird
internal import NIOCore

/// Rules (list, validate, backtest, create or change, delete) and alarms (list, acknowledge,
/// shelve, comment, assign, take out of service, journal). Engineers configure rules and take
/// alarms out of service, operators acknowledge and shelve, everyone signed in reads. Audited.
struct AlarmRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] { ruleEndpoints + alarmEndpoints }

    private var ruleEndpoints: [Endpoint] {
        let group = "Alarms"
        return [
            Endpoint(.get, "/api/v1/rules", .requires(.readData), group: group, summary: "The tenant's alarm rules",
                     responses: [.json(200, "Rules by id", AdminRoutes.items(Self.rule)), Self.unavailable]) { _, context in
                let rules = try engine().rules(tenant: context.tenant)
                var json = JSONWriter(capacity: 1024 * rules.count + 32)
                json.object { json in json.field("items") { json in json.array { json in for rule in rules { Self.write(rule, into: &json) } } } }
                return .json(json)
            },
            Endpoint(.post, "/api/v1/rules/validate", .requires(.readData), group: group,
                     summary: "Check a rule without saving it: its canonical text, the tags it reads and those no machine in scope has yet",
                     body: .json(Self.ruleInput),
                     responses: [.json(200, "The rule is valid", Self.validation),
                                 .problem(422, "The rule is not valid: the detail names the field, and in rule text the line and column"),
                                 Self.unavailable]) { request, context in
                let rule = try await Self.rule(from: request, id: nil, default: "draft")
                _ = try engine()
                let known = Set(try await server.store.series(tenant: context.tenant, machine: nil)
                    .filter { series in rule.watches(series.key.machine) { _ in true } }.map(\.key.tag))
                var json = JSONWriter()
                json.object { json in
                    json.field("valid") { $0.bool(true) }
                    json.field("condition") { $0.string(RuleText.text(rule.expression)) }
                    json.field("tags") { json in json.array { json in for tag in rule.expression.tags.sorted() { json.string(tag) } } }
                    json.field("waiting_for") { json in
                        json.array { json in for tag in rule.expression.tags.subtracting(known).sorted() { json.string(tag) } }
                    }
                }
                return .json(json)
            },
            Endpoint(.post, "/api/v1/rules/backtest", .requires(.readData), group: group,
                     summary: "Run a rule over stored history and answer the alarms it would have raised, per machine; nobody is notified",
                     description: "At most 31 days and 50 machines (those in the rule's scope that have its tags; for a rule on line or "
                        + "site KPIs, lines or sites). Shift KPIs are replayed as the live engine is given them, every 30 s, within "
                        + "2,000 figures per backtest (at least 48 per asset): over a long range or many assets the step grows.",
                     body: .json(Self.backtestInput),
                     responses: [.json(200, "The alarms per machine", Self.backtest), .problem(422, "The rule is not valid"),
                                 Self.unavailable]) { request, context in
                let body = try await RequestBody.read(request)
                guard let ruleJSON = body.json["rule"], case .object = ruleJSON else {
                    throw Problem.badRequest("the body is {\"rule\": {…}, \"from\": …, \"to\": …}")
                }
                var text = JSONWriter()
                text.value(json: ruleJSON)
                let rule = try Self.decode(Data(text.buffer.readableBytesView), id: nil, default: "backtest")
                let to = try body.json["to"].map { try Self.time($0, "to") } ?? Timestamp.now()
                let from = try body.json["from"].map { try Self.time($0, "from") } ?? to.adding(milliseconds: -86_400_000)
                guard from < to else { throw Problem.badRequest("from must be before to") }
                try QueryRoutes.check(from, to, atMostDays: 31)
                let engine = try engine()
                // Per-machine thresholds and state categories, as the live engine reads them.
                let details = try await (server.store as? any AssetStore)?.assetDetails(tenant: context.tenant) ?? []
                let metadata = Dictionary(details.filter { $0.level == .machine }
                                            .compactMap { asset in (try? AssetPath(asset.path)).map { ($0, asset.metadata) } },
                                          uniquingKeysWith: { $1 })
                let results = try await RuleBacktest(store: server.store).run(
                    rule, tenant: context.tenant, range: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch, metadata: metadata,
                    stateCategory: engine.stateCategory, kpis: Self.shiftKPIs(server.oee, tenant: context.tenant),
                    shifts: { [oee = server.oee] site in
                        // The site calendar's shifts over the range, as the live engine reads them.
                        guard let oee, let calendar = try await oee.calendar(tenant: context.tenant, site: site) else { return nil }
                        return calendar.shifts(overlapping: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch).map(\.interval)
                    })
                return .json(Self.backtest(results, range: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch))
            },
            Endpoint(.put, "/api/v1/rules/{rule}", .requires(.configure), group: group,
                     summary: "Create or change a rule; it applies at once to every machine it watches",
                     description: "A changed rule keeps its alarms' states and restarts their running delays.",
                     parameters: [.path("rule", "The rule's id (1–64 of A-Z a-z 0-9 - _)")], body: .json(Self.ruleInput),
                     responses: [.json(200, "The rule as stored", Self.rule),
                                 .problem(422, "The rule is not valid: the detail names the field, and in rule text the line and column"),
                                 Self.unavailable]) { request, context in
                let id = try context.parameters.require("rule")
                let rule = try await Self.rule(from: request, id: id, default: id)
                let saved = try await engine().save(rule, tenant: context.tenant, by: try context.requireCaller().name)
                await server.audit(context, "rule.save", target: id, detail: "severity=\(rule.severity.rawValue) enabled=\(rule.enabled)")
                var json = JSONWriter()
                Self.write(saved, into: &json)
                return .json(json)
            },
            Endpoint(.delete, "/api/v1/rules/{rule}", .requires(.configure), group: group,
                     summary: "Delete a rule and its alarms (the journal keeps their history)",
                     parameters: [.path("rule", "The rule's id")],
                     responses: [.empty(204, "Deleted"), .problem(404, "No such rule"), Self.unavailable]) { _, context in
                let id = try context.parameters.require("rule")
                guard try await engine().delete(rule: id, tenant: context.tenant) else { throw Problem.notFound("no rule \(id)") }
                await server.audit(context, "rule.delete", target: id, detail: "")
                return Response(status: .noContent)
            },
        ]
    }

    /// Shift KPIs at past times for a backtest, from the OEE engine (none without one).
    private static func shiftKPIs(_ oee: OEEEngine?, tenant: TenantID) -> RuleBacktest.ShiftKPIs? {
        guard let oee else { return nil }
        return { machines, time in try await oee.ruleKPIs(tenant: tenant, machines: machines, at: time) }
    }

    private var alarmEndpoints: [Endpoint] {
        let group = "Alarms"
        func action(_ path: String, _ permission: Permission, _ summary: String, _ input: Schema,
                    _ make: @escaping @Sendable (RequestBody) throws -> AlarmAction) -> Endpoint {
            Endpoint(.post, "/api/v1/alarms/\(path)", .requires(permission), group: group, summary: summary,
                     body: .json(input.named("Alarm" + path.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined() + "Input")),
                     responses: [.json(200, "The alarm now", Self.alarm), .problem(404, "No such alarm"),
                                 .problem(409, "The alarm's state does not allow it (the detail says why)"), Self.unavailable]) { request, context in
                let body = try await RequestBody.read(request)
                let rule = try body.string("rule")
                let machine = try QueryRoutes.machinePath(try body.string("machine"))
                let act = try make(body)
                let view: AlarmView?
                do {
                    view = try await engine().act(act, tenant: context.tenant, rule: rule, machine: machine, by: try context.requireCaller().name)
                } catch let error as AlarmActionError {
                    throw Problem(.conflict, error.message)
                }
                guard let view else { throw Problem.notFound("no alarm of rule \(rule) on \(machine)") }
                await server.audit(context, "alarm.\(path)", target: "\(rule)@\(machine)", detail: "state=\(view.alarm.state.rawValue)")
                var json = JSONWriter()
                Self.write(view, into: &json)
                return .json(json)
            }
        }
        let target: [(String, Schema)] = [("rule", Self.ruleID), ("machine", TelemetrySchemas.machinePath)]
        return [
            Endpoint(.get, "/api/v1/alarms", .requires(.readData), group: group,
                     summary: "Alarm instances with their state; by default those that stand (active, unacknowledged, latched)",
                     parameters: [.asset, Self.stateParameter],
                     responses: [.json(200, "Alarms, most severe first", AdminRoutes.items(Self.alarm)), Self.unavailable]) { request, context in
                let (scope, filter) = try Self.listing(request)
                return .json(Self.list(try engine(), tenant: context.tenant, scope: scope, filter: filter))
            },
            action("acknowledge", .operate, "Acknowledge an alarm, with an optional comment",
                   .object(target + [("comment", .string(maxLength: 2000))], optional: ["comment"])) { body in
                .acknowledge(comment: body.optionalString("comment"))
            },
            action("shelve", .operate, "Shelve an alarm for a time, with a reason (at most the rule's longest shelve)",
                   .object(target + [("minutes", .integer(minimum: 1, maximum: 10_080)), ("reason", .string(minLength: 1, maxLength: 500))])) { body in
                guard let minutes = try body.optionalInt("minutes"), (1...10_080).contains(minutes) else {
                    throw Problem.badRequest("\"minutes\" is required: 1 to 10080")
                }
                return .shelve(until: Timestamp.now().millisecondsSinceEpoch + minutes * 60_000, reason: try body.string("reason"))
            },
            action("unshelve", .operate, "End a shelve now", .object(target)) { _ in .unshelve },
            action("comment", .operate, "Add a comment to an alarm's journal",
                   .object(target + [("comment", .string(minLength: 1, maxLength: 2000))])) { body in .comment(try body.string("comment")) },
            action("assign", .operate, "Assign an alarm to a person (null: nobody)",
                   .object(target + [("assignee", Schema.string(minLength: 1, maxLength: 200).orNull)])) { body in
                .assign(body.optionalString("assignee"))
            },
            action("out-of-service", .configure, "Take an alarm out of service, with a reason (engineers and above)",
                   .object(target + [("reason", .string(minLength: 1, maxLength: 500))])) { body in
                .removeFromService(reason: try body.string("reason"))
            },
            action("in-service", .configure, "Return an alarm to service", .object(target)) { _ in .returnToService },
            Endpoint(.get, "/api/v1/alarms/journal", .requires(.readData), group: group,
                     summary: "Every alarm transition with its time, value, who and why; JSON or CSV",
                     parameters: [.asset, .from, .to, Parameter("rule", Self.ruleID, "Only this rule's alarms"),
                                  Parameter("format", .oneOf(["json", "csv"]), "json (default) or csv"),
                                  Parameter("limit", .integer(minimum: 1, maximum: 100_000), "At most this many lines (default 10000)")],
                     responses: [Reply(200, "The journal in time order", content: ("application/json", AdminRoutes.items(Self.journalEntry)),
                                       ("text/csv", .string)),
                                 Self.unavailable]) { request, context in
                let (from, to) = try QueryRoutes.range(request, defaultSpan: 86_400_000)
                let parameters = request.uri.queryParameters
                let limit = try QueryRoutes.limit(parameters.get("limit"), default: 10_000, maximum: 100_000)
                let format = parameters.get("format") ?? "json"
                guard format == "json" || format == "csv" else { throw Problem.badRequest("format is json or csv") }
                if let rule = parameters.get("rule") { try Self.checkID(rule) }
                let query = JournalQuery(tenant: context.tenant, range: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch,
                                         rule: parameters.get("rule"), scope: try parameters.get("asset").map(Self.scope)?.description, limit: limit)
                let entries = try await engine().journal(query)
                return format == "csv" ? Self.csv(entries) : .json(Self.journal(entries))
            },
            Endpoint(.get, "/api/v1/alarms/performance", .requires(.readData), group: group,
                     summary: "The alarm system measured as ISA-18.2 / EEMUA 191 do: rate per 10 minutes, floods, peak, chattering, fleeting and stale alarms, top contributors, priorities",
                     description: "Over a range of at most 92 days (default the last 24 hours), for the tenant or an asset's subtree, with a breakdown per area.",
                     parameters: [.asset, .from, .to,
                                  Parameter("fleeting_ms", .integer(minimum: 1, maximum: 3_600_000), "An activation cleared sooner is fleeting (default 10000)")],
                     responses: [.json(200, "The figures", Self.performance), Self.unavailable]) { request, context in
                let (from, to) = try QueryRoutes.range(request, defaultSpan: 86_400_000)
                let range = from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch
                guard range.upperBound - range.lowerBound <= 92 * 86_400_000 else { throw Problem.badRequest("the range is at most 92 days") }
                var options = AlarmPerformance.Options()
                if let text = request.uri.queryParameters.get("fleeting_ms") {
                    guard let value = Int64(text), (1...3_600_000).contains(value) else { throw Problem.badRequest("fleeting_ms is 1 to 3600000") }
                    options.fleeting = value
                }
                let scope = try request.uri.queryParameters.get("asset").map(Self.scope)
                // A week before the range tells which alarms were already active when it began.
                let query = JournalQuery(tenant: context.tenant, range: max(0, range.lowerBound - 7 * 86_400_000)..<range.upperBound,
                                         scope: scope?.description, limit: Self.performanceLines)
                let journal = try await engine().journal(query)
                let performance = AlarmPerformance(journal: journal, range: range, options: options)
                let now = try engine().alarms(tenant: context.tenant, scope: scope)
                return .json(Self.performance(performance, now: now, truncated: journal.count == Self.performanceLines))
            },
        ]
    }

    static let stateParameter = Parameter("state", .oneOf(["standing", "all"] + AlarmState.allCases.map(\.rawValue)),
                                          "`standing` (default), `all`, or one state")

    /// The `asset` and `state` of a listing (`standing` by default).
    static func listing(_ request: Request) throws -> (AssetSubtree?, String) {
        let filter = request.uri.queryParameters.get("state") ?? "standing"
        guard filter == "standing" || filter == "all" || AlarmState(rawValue: filter) != nil else {
            throw Problem.badRequest("state must be standing, all or an alarm state")
        }
        return (try request.uri.queryParameters.get("asset").map(Self.scope), filter)
    }

    /// The alarms of a listing, most severe first, then the latest change first.
    static func list(_ engine: AlarmEngine, tenant: TenantID, scope: AssetSubtree?, filter: String) -> JSONWriter {
        let views = engine.alarms(tenant: tenant, scope: scope).filter { view in
            filter == "all" || (filter == "standing" ? view.alarm.state.isStanding : view.alarm.state.rawValue == filter)
        }.sorted { ($1.alarm.severity, $1.alarm.lastChange) < ($0.alarm.severity, $0.alarm.lastChange) }
        var json = JSONWriter(capacity: 512 * views.count + 32)
        json.object { json in json.field("items") { json in json.array { json in for view in views { Self.write(view, into: &json) } } } }
        return json
    }

    /// The most journal lines the performance figures read.
    static let performanceLines = 2_000_000

    private func engine() throws -> AlarmEngine {
        guard let engine = server.alarms else { throw Problem(.serviceUnavailable, "alarms are not running on this server") }
        return engine
    }
}
