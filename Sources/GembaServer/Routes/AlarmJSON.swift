internal import Foundation
internal import GembaCore
internal import GembaIngest
internal import GembaRules
internal import GembaStorage
internal import Hummingbird
internal import NIOCore

/// The schemas, readers and writers of the alarm routes.
extension AlarmRoutes {
    static let unavailable = Reply.problem(503, "Alarms are not running on this server")
    static let ruleID = Schema.string(pattern: "^[A-Za-z0-9_-]{1,64}$")
    static let severity = Schema.oneOf(Severity.allCases.map(\.rawValue)).named("Severity")
    static let alarmState = Schema.oneOf(AlarmState.allCases.map(\.rawValue)).named("AlarmState")
    static let duration = Schema.oneOf([Schema.string(maxLength: 20), Schema.integer(minimum: 0, maximum: 2_678_400_000)])
        .described("30s, 2m, 1h, … or milliseconds")
    /// Hours on weekdays in a time zone: a rule's schedule, quiet hours.
    static let schedule = Schema.object(["weekdays": .array(.integer(minimum: 1, maximum: 7), minItems: 1, maxItems: 7),
                                         "start": .string(pattern: "^[0-9]{2}:[0-9]{2}$"), "end": .string(pattern: "^[0-9]{2}:[0-9]{2}$"),
                                         "time_zone": .string(maxLength: 64)], optional: ["weekdays"])
        .described("Weekdays 1 (Monday) to 7 (every day when absent), HH:MM to HH:MM (past midnight when end < start), an IANA zone")
        .named("WeeklyHours")

    /// The members a rule has, in and out.
    private static func ruleMembers(id: Schema) -> [(String, Schema)] {
        [
            ("id", id), ("name", .string(minLength: 1, maxLength: 200)), ("description", .string(maxLength: 2000)),
            ("condition", Schema.string(maxLength: 10_000).described("The rule in the rule syntax: `spindle_temp > 85 for 2m clear < 80`")),
            ("expression", Schema.map(.any).described("The same rule as JSON (when, for, samples, clear, clear_after)")),
            ("severity", severity),
            ("escalation", .array(.object(["after": duration, "severity": severity, "when": .string(maxLength: 2000)], optional: ["when"]),
                                  maxItems: 10)),
            ("scope", TelemetrySchemas.assetPath.described("A site, area, line or machine; every machine when absent")),
            ("required_tag", TelemetrySchemas.tagName.described("Only machines that have this tag")),
            ("latching", .boolean), ("longest_shelve", duration),
            ("chattering", .object(["enabled": .boolean, "activations": .integer(minimum: 2, maximum: 1000), "window": duration])),
            ("suppress_when", .array(.string(maxLength: 100), maxItems: 50)),
            ("schedule", schedule),
            ("during_shifts", Schema.boolean.described("Only while a shift of the machine's site calendar runs")),
            ("labels", .map(.string(maxLength: 200))), ("enabled", .boolean),
        ]
    }

    static let ruleInput = Schema.object(ruleMembers(id: ruleID), optional: [
        "id", "description", "condition", "expression", "escalation", "scope", "required_tag", "latching", "longest_shelve",
        "chattering", "suppress_when", "schedule", "during_shifts", "labels", "enabled",
    ]).named("RuleInput")
    static let rule = Schema.object(ruleMembers(id: ruleID), optional: ["description", "scope", "required_tag", "schedule"]).named("Rule")
    static let validation = Schema.object([
        "valid": .boolean, "condition": Schema.string.described("The rule's condition written canonically"),
        "tags": .array(TelemetrySchemas.tagName), "waiting_for": Schema.array(TelemetrySchemas.tagName).described("Tags no machine in scope has yet"),
    ]).named("RuleValidation")
    static let backtestInput = Schema.object([
        "rule": ruleInput, "from": Schema.oneOf([Schema.integer(minimum: 0), Schema.string(maxLength: 40)]),
        "to": Schema.oneOf([Schema.integer(minimum: 0), Schema.string(maxLength: 40)]),
    ], optional: ["from", "to"]).named("BacktestInput")
    static let backtest = Schema.object([
        "from": .epochMilliseconds, "to": .epochMilliseconds, "alarms": .integer(minimum: 0),
        "machines": .array(.object([
            "machine": TelemetrySchemas.machinePath, "count": .integer(minimum: 0),
            "alarms": .array(.object([
                "start": .epochMilliseconds, "end": Schema.epochMilliseconds.orNull, "duration_ms": Schema.integer(minimum: 0).orNull,
                "severity": severity, "value": Schema.number.orNull,
            ])),
        ])),
    ]).named("Backtest")
    static let alarm = Schema.object([
        "rule": ruleID, "rule_name": .string, "machine": TelemetrySchemas.machinePath, "state": alarmState, "severity": severity,
        "condition_active": .boolean, "acknowledged": .boolean, "active_since": Schema.epochMilliseconds.orNull,
        "pending_since": Schema.epochMilliseconds.orNull.described("The condition holds and the on-delay runs since"),
        "last_change": .epochMilliseconds, "value": Schema.number.orNull, "activations": .integer(minimum: 0), "chattering": .boolean,
        "held_notifications": .integer(minimum: 0), "assignee": Schema.string.orNull,
        "shelved": Schema.object(["until": .epochMilliseconds, "reason": .string, "by": .string]).orNull,
        "out_of_service": Schema.object(["reason": .string, "by": .string]).orNull,
    ]).named("Alarm")
    static let performance = Schema.object([
        ("from", .epochMilliseconds), ("to", .epochMilliseconds), ("activations", .integer(minimum: 0)),
        ("average_per_10_minutes", Schema.number.described("ISA-18.2: about 1 is very likely acceptable, 2 the most manageable")),
        ("average_per_hour", .number), ("average_per_day", .number),
        ("periods", Schema.integer(minimum: 0).described("10-minute periods in the range")), ("flood_periods", .integer(minimum: 0)),
        ("flood_percent", Schema.number.described("% of 10-minute periods with more than 10 alarms (target below 1 %)")),
        ("peak_10_minutes", .integer(minimum: 0)), ("peak_start", Schema.epochMilliseconds.orNull),
        ("chattering_alarms", .integer(minimum: 0)), ("chattering_activations", .integer(minimum: 0)),
        ("fleeting_activations", .integer(minimum: 0)),
        ("stale_alarms", Schema.integer(minimum: 0).described("Active for more than 24 h at the end of the range")),
        ("top_contributors", .array(.object(["rule": ruleID, "machine": TelemetrySchemas.machinePath, "activations": .integer(minimum: 0),
                                             "share": .number]))),
        ("top_ten_share", Schema.number.described("The ten most frequent alarms' share of all activations, 0–1")),
        ("by_severity", .object(Severity.allCases.map { ($0.rawValue, Schema.integer(minimum: 0)) })),
        ("acknowledgements", .integer(minimum: 0)), ("median_time_to_acknowledge_ms", Schema.integer.orNull),
        ("p90_time_to_acknowledge_ms", Schema.integer.orNull),
        ("shelve_actions", .integer(minimum: 0)), ("out_of_service_actions", .integer(minimum: 0)),
        ("now", .object(["active": .integer(minimum: 0), "unacknowledged": .integer(minimum: 0), "shelved": .integer(minimum: 0),
                         "suppressed": .integer(minimum: 0), "out_of_service": .integer(minimum: 0)])),
        ("areas", .array(.object(["scope": .string, "activations": .integer(minimum: 0), "average_per_10_minutes": .number,
                                  "peak_10_minutes": .integer(minimum: 0), "flood_percent": .number]))),
        ("truncated", Schema.boolean.described("The range held more journal lines than are read (2,000,000): figures cover the first")),
    ]).named("AlarmPerformance")

    static func performance(_ figures: AlarmPerformance, now: [AlarmView], truncated: Bool) -> JSONWriter {
        var json = JSONWriter(capacity: 2048)
        json.object { json in
            json.field("from") { $0.int(figures.range.lowerBound) }
            json.field("to") { $0.int(figures.range.upperBound) }
            json.field("activations") { $0.int(Int64(figures.activations)) }
            json.field("average_per_10_minutes") { $0.double(figures.averagePer10Minutes) }
            json.field("average_per_hour") { $0.double(figures.averagePerHour) }
            json.field("average_per_day") { $0.double(figures.averagePerDay) }
            json.field("periods") { $0.int(Int64(figures.periods)) }
            json.field("flood_periods") { $0.int(Int64(figures.floodPeriods)) }
            json.field("flood_percent") { $0.double(figures.floodPercent) }
            json.field("peak_10_minutes") { $0.int(Int64(figures.peak10Minutes)) }
            json.field("peak_start") { json in figures.peakStart.map { json.int($0) } ?? json.null() }
            json.field("chattering_alarms") { $0.int(Int64(figures.chatteringAlarms)) }
            json.field("chattering_activations") { $0.int(Int64(figures.chatteringActivations)) }
            json.field("fleeting_activations") { $0.int(Int64(figures.fleetingActivations)) }
            json.field("stale_alarms") { $0.int(Int64(figures.staleAlarms)) }
            json.field("top_contributors") { json in
                json.array { json in
                    for contributor in figures.topContributors {
                        json.object { json in
                            json.field("rule") { $0.string(contributor.rule) }
                            json.field("machine") { $0.string(contributor.machine) }
                            json.field("activations") { $0.int(Int64(contributor.activations)) }
                            json.field("share") { $0.double(contributor.share) }
                        }
                    }
                }
            }
            json.field("top_ten_share") { $0.double(figures.topTenShare) }
            json.field("by_severity") { json in
                json.object { json in for severity in Severity.allCases { json.field(severity.rawValue) { $0.int(Int64(figures.bySeverity[severity] ?? 0)) } } }
            }
            json.field("acknowledgements") { $0.int(Int64(figures.acknowledgements)) }
            json.field("median_time_to_acknowledge_ms") { json in figures.medianTimeToAcknowledge.map { json.int($0) } ?? json.null() }
            json.field("p90_time_to_acknowledge_ms") { json in figures.p90TimeToAcknowledge.map { json.int($0) } ?? json.null() }
            json.field("shelve_actions") { $0.int(Int64(figures.shelveActions)) }
            json.field("out_of_service_actions") { $0.int(Int64(figures.outOfServiceActions)) }
            json.field("now") { json in
                let states = now.map(\.alarm.state)
                json.object { json in
                    json.field("active") { $0.int(Int64(states.filter { $0 == .activeUnacknowledged || $0 == .activeAcknowledged }.count)) }
                    json.field("unacknowledged") { $0.int(Int64(states.filter { $0 == .activeUnacknowledged || $0 == .returnedUnacknowledged || $0 == .latched }.count)) }
                    json.field("shelved") { $0.int(Int64(states.filter { $0 == .shelved }.count)) }
                    json.field("suppressed") { $0.int(Int64(states.filter { $0 == .suppressed }.count)) }
                    json.field("out_of_service") { $0.int(Int64(states.filter { $0 == .outOfService }.count)) }
                }
            }
            json.field("areas") { json in
                json.array { json in
                    for area in figures.areas {
                        json.object { json in
                            json.field("scope") { $0.string(area.scope) }
                            json.field("activations") { $0.int(Int64(area.activations)) }
                            json.field("average_per_10_minutes") { $0.double(area.averagePer10Minutes) }
                            json.field("peak_10_minutes") { $0.int(Int64(area.peak10Minutes)) }
                            json.field("flood_percent") { $0.double(area.floodPercent) }
                        }
                    }
                }
            }
            json.field("truncated") { $0.bool(truncated) }
        }
        return json
    }

    static let journalEntry = Schema.object([
        "id": .integer(minimum: 1), "time": .epochMilliseconds, "rule": ruleID, "machine": TelemetrySchemas.machinePath,
        "kind": .oneOf(AlarmTransition.Kind.allCases.map(\.rawValue)), "from": alarmState, "to": alarmState, "severity": severity,
        "value": Schema.number.orNull, "actor": Schema.string.orNull, "comment": Schema.string.orNull,
    ]).named("AlarmJournalEntry")

    // MARK: Reading

    static func collect(_ request: Request) async throws -> Data {
        do {
            return Data(buffer: try await request.body.collect(upTo: 64 << 10))
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, "request body larger than 65536 bytes")
        }
    }

    static func rule(from request: Request, id: String?, default fallback: String) async throws -> AlarmRule {
        try decode(try await collect(request), id: id, default: fallback)
    }

    /// A rule from JSON; `fallback` names a rule whose document has no id (validation, backtests).
    static func decode(_ data: Data, id: String?, default fallback: String) throws -> AlarmRule {
        if let id { try checkID(id) }
        do {
            return try RuleDocument.decode(data, id: id, fallbackID: fallback)
        } catch {
            throw Problem(error)
        }
    }

    static func checkID(_ id: String) throws {
        do { try ConfigurationID.check(id, what: "rule") } catch { throw Problem.badRequest(error.message) }
    }

    static func scope(_ text: String) throws -> AssetSubtree {
        do { return try AssetSubtree(text) } catch { throw Problem.badRequest("asset: \(error.message)") }
    }

    static func time(_ value: JSONValue, _ name: String) throws -> Timestamp {
        switch value {
        case .integer(let number): return try QueryRoutes.time(String(number), name)
        case .string(let text): return try QueryRoutes.time(text, name)
        default: throw Problem.badRequest("\(name) must be epoch milliseconds or an RFC 3339 date-time")
        }
    }

    // MARK: Writing

    static func write(_ rule: AlarmRule, into json: inout JSONWriter) {
        json.raw(String(decoding: RuleDocument.encode(rule), as: UTF8.self))
    }

    static func write(_ view: AlarmView, into json: inout JSONWriter) {
        let alarm = view.alarm
        json.object { json in
            func time(_ name: String, _ value: Int64?) { json.field(name) { json in value.map { json.int($0) } ?? json.null() } }
            json.field("rule") { $0.string(view.rule.id) }
            json.field("rule_name") { $0.string(view.rule.name) }
            json.field("machine") { $0.string(view.machine.description) }
            json.field("state") { $0.string(alarm.state.rawValue) }
            json.field("severity") { $0.string(alarm.severity.rawValue) }
            json.field("condition_active") { $0.bool(alarm.conditionActive) }
            json.field("acknowledged") { $0.bool(alarm.acknowledged) }
            time("active_since", alarm.activeSince)
            time("pending_since", view.pendingSince)
            json.field("last_change") { $0.int(alarm.lastChange) }
            json.field("value") { json in alarm.value.map { json.double($0) } ?? json.null() }
            json.field("activations") { $0.int(Int64(alarm.activations)) }
            json.field("chattering") { $0.bool(alarm.chattering) }
            json.field("held_notifications") { $0.int(Int64(alarm.heldNotifications)) }
            json.field("assignee") { json in alarm.assignee.map { json.string($0) } ?? json.null() }
            json.field("shelved") { json in
                guard let shelf = alarm.shelf else { return json.null() }
                json.object { json in
                    json.field("until") { $0.int(shelf.until) }
                    json.field("reason") { $0.string(shelf.reason) }
                    json.field("by") { $0.string(shelf.by) }
                }
            }
            json.field("out_of_service") { json in
                guard let reason = alarm.outOfServiceReason else { return json.null() }
                json.object { json in
                    json.field("reason") { $0.string(reason) }
                    json.field("by") { $0.string(alarm.outOfServiceBy ?? "") }
                }
            }
        }
    }

    static func journal(_ entries: [AlarmJournalEntry]) -> JSONWriter {
        var json = JSONWriter(capacity: 256 * entries.count + 32)
        json.object { json in
            json.field("items") { json in
                json.array { json in
                    for entry in entries {
                        json.object { json in
                            func text(_ name: String, _ value: String?) { json.field(name) { json in value.map { json.string($0) } ?? json.null() } }
                            json.field("id") { $0.int(entry.id) }
                            json.field("time") { $0.int(entry.time) }
                            json.field("rule") { $0.string(entry.rule) }
                            json.field("machine") { $0.string(entry.machine) }
                            json.field("kind") { $0.string(entry.kind) }
                            json.field("from") { $0.string(entry.fromState) }
                            json.field("to") { $0.string(entry.toState) }
                            json.field("severity") { $0.string(entry.severity) }
                            json.field("value") { json in entry.value.map { json.double($0) } ?? json.null() }
                            text("actor", entry.actor)
                            text("comment", entry.comment)
                        }
                    }
                }
            }
        }
        return json
    }

    /// The journal as CSV: time (RFC 3339), rule, machine, kind, from, to, severity, value, actor, comment.
    static func csv(_ entries: [AlarmJournalEntry]) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString("time,rule,machine,kind,from,to,severity,value,actor,comment\n")
        func field(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        for entry in entries {
            let row = [Timestamp(millisecondsSinceEpoch: entry.time).rfc3339, entry.rule, entry.machine, entry.kind, entry.fromState, entry.toState,
                       entry.severity, entry.value.map { "\($0)" } ?? "", entry.actor.map(field) ?? "", entry.comment.map(field) ?? ""]
            buffer.writeString(row.joined(separator: ",") + "\n")
        }
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-store"], body: .init(byteBuffer: buffer))
    }

    static func backtest(_ results: [(machine: AssetPath, alarms: [Backtest.Raised])], range: Range<Int64>) -> JSONWriter {
        var json = JSONWriter()
        json.object { json in
            json.field("from") { $0.int(range.lowerBound) }
            json.field("to") { $0.int(range.upperBound) }
            json.field("alarms") { $0.int(Int64(results.reduce(0) { $0 + $1.alarms.count })) }
            json.field("machines") { json in
                json.array { json in
                    for (machine, alarms) in results {
                        json.object { json in
                            json.field("machine") { $0.string(machine.description) }
                            json.field("count") { $0.int(Int64(alarms.count)) }
                            json.field("alarms") { json in
                                json.array { json in
                                    for alarm in alarms {
                                        json.object { json in
                                            json.field("start") { $0.int(alarm.start) }
                                            json.field("end") { json in alarm.end.map { json.int($0) } ?? json.null() }
                                            json.field("duration_ms") { json in alarm.end.map { json.int($0 - alarm.start) } ?? json.null() }
                                            json.field("severity") { $0.string(alarm.severity.rawValue) }
                                            json.field("value") { json in alarm.value.map { json.double($0) } ?? json.null() }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return json
    }
}
