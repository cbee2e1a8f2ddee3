import Foundation
import GembaCore
import GembaIngest
import GembaServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Work orders through the API: who may take which step, the decision log, the audit, and the
/// planned window counting as planned maintenance in the machine's OEE.
@Suite struct WorkOrderAPITests {
    static let minute = OEEAPITests.minute

    static func post(_ client: some TestClientProtocol, _ uri: String, _ body: String, as headers: HTTPFields = [:],
                     expect status: HTTPResponse.Status = .ok) async throws -> JSONValue {
        try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            #expect(response.status == status, "\(uri): \(response.text)")
            return response.json
        }
    }

    @Test func fromProposalToDoneEachStepByItsRole() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let start = OEEAPITests.shiftStart
            try await OEEAPITests.put(client, "/api/v1/calendars/ref", OEEAPITests.calendarJSON)
            // A machine that stopped for an hour at 08:00 without a reason: an unplanned stop, an availability loss.
            let script = OEEAPITests.Script(machine: "ref/line1/m1", states: [(0, "producing"), (120, "stopped"), (180, "producing")])
            try await OEEAPITests.send(script, client)
            var shift = try await OEEAPITests.oee(client, asset: "ref/line1/m1")["total"] ?? .null
            #expect(shift["reasons_ms"]?["planned_stop/planned_maintenance"] == nil)

            let role = { (role: Role) async throws -> HTTPFields in [.authorization: "Bearer \(try await harness.apiKey(role: role))"] }
            let (viewer, operatorKey, lead) = (try await role(.viewer), try await role(.operator), try await role(.maintenanceLead))
            let proposal = #"""
                {"machine": "ref/line1/m1", "title": "Spindle bearing wear", "kind": "predictive", "priority": "high",
                 "origin": {"source": "detector", "reference": "vibration-knn"},
                 "evidence": {"summary": "vibration score 0.93", "signals": ["vibration"],
                              "scores": [{"tag": "vibration", "time": \#(start), "score": 0.93, "detector": "vibration-knn"}],
                              "estimate": {"quantity": "remaining_life", "value": 120, "low": 80, "high": 170, "unit": "h", "coverage": 0.8}}}
                """#
            _ = try await Self.post(client, "/api/v1/work-orders", proposal, as: viewer, expect: .forbidden)
            let proposed = try await Self.post(client, "/api/v1/work-orders", proposal, as: operatorKey, expect: .created)
            #expect(proposed["id"]?.stringValue == "WO-1" && proposed["status"]?.stringValue == "proposed" && proposed["evidence"]?["scores"]?.array.count == 1)
            #expect(proposed["evidence"]?["contributions"]?.array.isEmpty == true && proposed["origin"]?["source"]?.stringValue == "detector")

            // Operators propose and carry out; only a maintenance lead (or above) decides.
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/approve", #"{"rationale": "ok"}"#, as: operatorKey, expect: .forbidden)
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/approve", #"{"rationale": " "}"#, as: lead, expect: .unprocessableContent)
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/approve", #"{}"#, as: lead, expect: .badRequest)
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/start", #"{}"#, as: operatorKey, expect: .conflict)
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/approve", #"{"rationale": "vibration doubled in a week"}"#, as: lead)
            let schedule = #"{"start": \#(start + 120 * Self.minute), "plannedMinutes": 60, "assignee": "anna"}"#
            let scheduled = try await Self.post(client, "/api/v1/work-orders/WO-1/schedule", schedule, as: lead)
            #expect(scheduled["status"]?.stringValue == "scheduled" && scheduled["schedule"]?["assignee"]?.stringValue == "anna")

            // The scheduled hour is planned maintenance now: the stop in it is no longer an unplanned loss.
            shift = try await OEEAPITests.oee(client, asset: "ref/line1/m1")["total"] ?? .null
            #expect(shift["reasons_ms"]?["planned_stop/planned_maintenance"]?.int == 60 * Self.minute, "\(shift["reasons_ms"] ?? .null)")
            try await client.execute(uri: "/api/v1/stops?machine=ref/line1/m1&from=\(start)&to=\(start + 480 * Self.minute)", method: .get) { response in
                let stop = response.json["stops"]?.array.first { $0["start"]?.int == start + 120 * Self.minute }
                #expect(stop?["reason"]?.stringValue == "planned_stop/planned_maintenance" && stop?["assigned_by"]?.stringValue == "work order WO-1", "\(response.text)")
            }

            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/start", #"{}"#, as: operatorKey)
            let done = try await Self.post(client, "/api/v1/work-orders/WO-1/complete", #"""
                {"findings": "outer race pitted", "failureMode": "bearing_wear", "parts": [{"name": "6205-2RS", "quantity": 2}],
                 "minutesSpent": 75, "predictionConfirmed": true}
                """#, as: operatorKey)
            #expect(done["status"]?.stringValue == "done" && done["completion"]?["predictionConfirmed"] == .bool(true))
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/cancel", #"{"rationale": "too late"}"#, as: lead, expect: .conflict)

            // Everyone signed in reads the order and its log; the log says who, when and why.
            try await client.execute(uri: "/api/v1/work-orders/WO-1/decisions", method: .get, headers: viewer) { response in
                let items = response.json["items"]?.array ?? []
                #expect(items.map { $0["action"]?.stringValue } == ["complete", "start", "schedule", "approve", "propose"])
                #expect(items[3]["rationale"]?.stringValue == "vibration doubled in a week" && items[3]["actor"]?.stringValue == "test maintenance_lead")
            }
            try await client.execute(uri: "/api/v1/maintenance/decisions?machine=ref/line1&from=\(start)", method: .get, headers: viewer) { response in
                #expect(response.json["items"]?.array.count == 5, "\(response.text)")
            }
            try await client.execute(uri: "/api/v1/work-orders?status=done&machine=ref", method: .get, headers: viewer) { response in
                #expect(response.json["items"]?.array.map { $0["id"]?.stringValue } == ["WO-1"])
            }
            try await client.execute(uri: "/api/v1/work-orders?status=proposed", method: .get) { #expect($0.json["items"]?.array.isEmpty == true) }
            try await client.execute(uri: "/api/v1/work-orders?status=finished", method: .get) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/api/v1/work-orders/WO-9", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/v1/audit?action=work_order.", method: .get) { response in
                let actions = response.json["items"]?.array.compactMap { $0["action"]?.stringValue } ?? []
                #expect(Set(actions) == ["work_order.propose", "work_order.approve", "work_order.schedule", "work_order.start",
                                         "work_order.complete"], "\(response.text)")
            }
        }
    }

    @Test func badProposalsAreRefusedWithTheirReason() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            _ = try await AssetAPITests.ingest(client, "plant/line1/m1", #"{"speed": 1}"#)
            for (body, status) in [
                (#"{"machine": "plant/line1/nope", "title": "x", "kind": "inspection"}"#, HTTPResponse.Status.notFound),
                (#"{"machine": "plant/line1/m1", "title": "", "kind": "inspection"}"#, .unprocessableContent),
                (#"{"machine": "plant/line1/m1", "title": "x", "kind": "magic"}"#, .badRequest),
                (#"{"machine": "not a path", "title": "x", "kind": "inspection"}"#, .badRequest),
                (#"{"machine": "plant/line1/m1", "title": "x", "kind": "inspection", "evidence": {"scores": [{"tag": "v", "time": 1, "score": 7}]}}"#,
                 .unprocessableContent),
                (#"{"machine": "plant/line1/m1", "title": "x", "kind": "inspection", "evidence": {"window": {"from": 5, "to": 1, "tags": []}}}"#,
                 .unprocessableContent),
                ("[1, 2]", .badRequest),
            ] {
                _ = try await Self.post(client, "/api/v1/work-orders", body, expect: status)
            }
            _ = try await Self.post(client, "/api/v1/work-orders", #"{"machine": "plant/line1/m1", "title": "Belt", "kind": "inspection"}"#,
                                    expect: .created)
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/approve", #"{"rationale": "ok"}"#)
            for body in [#"{"start": 253402300800000, "plannedMinutes": 60}"#, #"{"start": 1, "plannedMinutes": 0}"#] {
                _ = try await Self.post(client, "/api/v1/work-orders/WO-1/schedule", body, expect: .unprocessableContent)
            }
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/defer", #"{"until": 1, "rationale": "later"}"#, expect: .conflict)
        }
    }

    @Test func plansProposeWhenDueAndRepairsGiveReliability() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            _ = try await AssetAPITests.ingest(client, "plant/line1/m1", #"{"strokes": 1000}"#)
            let lead: HTTPFields = [.authorization: "Bearer \(try await harness.apiKey(role: .maintenanceLead))"]
            let operatorKey: HTTPFields = [.authorization: "Bearer \(try await harness.apiKey(role: .operator))"]
            let plan = #"{"machine": "plant/line1/m1", "title": "Die inspection", "every": {"count": 500, "counter": "strokes"}, "plannedMinutes": 45}"#
            try await client.execute(uri: "/api/v1/maintenance/plans/dies", method: .put, headers: operatorKey, body: ByteBuffer(string: plan)) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(uri: "/api/v1/maintenance/plans/dies", method: .put, headers: lead, body: ByteBuffer(string: plan)) { response in
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["anchorCount"]?.int == 1000)
            }
            for body in [#"{"machine": "plant/line1/m1", "title": "x", "every": {"days": 3, "runHours": 4}}"#,
                         #"{"machine": "plant/line1/m1", "title": "x", "every": {"count": 5}}"#] {
                try await client.execute(uri: "/api/v1/maintenance/plans/bad", method: .put, headers: lead, body: ByteBuffer(string: body)) {
                    #expect($0.status == .unprocessableContent, "\(body)")
                }
            }
            try await client.execute(uri: "/api/v1/maintenance/plans/bad", method: .put, headers: lead,
                                     body: ByteBuffer(string: #"{"machine": "plant/line1/none", "title": "x", "every": {"days": 3}}"#)) {
                #expect($0.status == .notFound)
            }
            #expect(try await harness.server.plans!.pass().isEmpty)
            _ = try await AssetAPITests.ingest(client, "plant/line1/m1", #"{"strokes": 1600}"#)
            let proposed = try await harness.server.plans!.pass()
            #expect(proposed.map(\.kind) == [.preventive] && proposed.first?.plannedWindow == nil)
            try await client.execute(uri: "/api/v1/maintenance/plans", method: .get) { response in
                let status = response.json["items"]?.array.first
                #expect(status?["progressText"]?.stringValue == "600 of 500 strokes" && status?["openWorkOrder"]?.stringValue == "WO-1",
                        "\(response.text)")
            }

            // A repair done: the work orders' MTTR beside the state engine's.
            _ = try await Self.post(client, "/api/v1/work-orders", #"{"machine": "plant/line1/m1", "title": "Motor tripped", "kind": "corrective"}"#,
                                    expect: .created)
            for (step, body) in [("approve", #"{"rationale": "down"}"#), ("schedule", #"{"start": 0, "plannedMinutes": 30}"#), ("start", "{}"),
                                 ("complete", #"{"findings": "reset breaker", "failureMode": "overload", "minutesSpent": 25}"#)] {
                _ = try await Self.post(client, "/api/v1/work-orders/WO-2/\(step)", body)
            }
            try await client.execute(uri: "/api/v1/maintenance/reliability?machine=plant/line1/m1", method: .get) { response in
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["workOrders"]?["failures"]?.int == 1 && response.json["workOrders"]?["mttr"]?.int == 25 * 60_000,
                        "\(response.text)")
                #expect(response.json["stateEngine"]?["failures"]?.int == 0)
            }
            try await client.execute(uri: "/api/v1/maintenance/plans/dies", method: .delete, headers: lead) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/api/v1/maintenance/plans/dies", method: .delete, headers: lead) { #expect($0.status == .notFound) }
        }
    }

    @Test func aProposalWaitingTooLongIsEscalatedOnce() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            _ = try await AssetAPITests.ingest(client, "plant/line1/m1", #"{"speed": 1}"#)
            try await client.execute(uri: "/api/v1/notification-channels/floor", method: .put,
                                     body: ByteBuffer(string: #"{"name": "Floor", "kind": "log"}"#)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/v1/maintenance/escalation", method: .get) { #expect($0.status == .noContent) }
            for (body, status) in [(#"{"after": "5s", "audience": {"channels": ["floor"], "recipients": []}}"#, HTTPResponse.Status.unprocessableContent),
                                   (#"{"after": "1h", "audience": {"channels": ["nope"], "recipients": []}}"#, .unprocessableContent),
                                   (#"{"after": "1h", "audience": {"channels": [], "recipients": []}}"#, .unprocessableContent),
                                   (#"{"after": "1h", "audience": {"channels": ["floor"], "recipients": []}, "template": "{{nope}}"}"#, .unprocessableContent),
                                   (#"{"after": "1h", "audience": {"channels": ["floor"], "recipients": []}}"#, .ok)] {
                try await client.execute(uri: "/api/v1/maintenance/escalation", method: .put, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body): \(response.text)")
                }
            }
            _ = try await Self.post(client, "/api/v1/work-orders", #"{"machine": "plant/line1/m1", "title": "Belt", "kind": "inspection", "priority": "urgent"}"#,
                                    expect: .created)
            #expect(try await harness.server.escalator!.pass().isEmpty, "not waited an hour yet")
            // The owner's token expires when the clock moves on; an API key does not.
            let owner: HTTPFields = [.authorization: "Bearer \(try await harness.apiKey(role: .owner))"]
            harness.clock.advance(minutes: 61)
            #expect(try await harness.server.escalator!.pass().map(\.id) == ["WO-1"])
            #expect(try await harness.server.escalator!.pass().isEmpty, "told once per waiting period")
            try await client.execute(uri: "/api/v1/notifications?limit=10", method: .get, headers: owner) { response in
                let rows = response.json["items"]?.array ?? []
                #expect(rows.contains { $0["type"]?.stringValue == "maintenance.waiting" && $0["payload"]?.stringValue?.contains("[CRITICAL] Belt on plant/line1/m1: work order WO-1 has waited 1h for a decision\",") == true },
                        "\(response.text)")
            }
            try await client.execute(uri: "/api/v1/work-orders/WO-1/decisions", method: .get, headers: owner) { response in
                let escalation = response.json["items"]?.array.first
                #expect(escalation?["action"]?.stringValue == "escalate" && escalation?["actor"]?.stringValue == "gemba", "\(response.text)")
            }
            // Deferred, it waits again from the deferral's end.
            let until = harness.clock.now.millisecondsSinceEpoch + 60_000
            _ = try await Self.post(client, "/api/v1/work-orders/WO-1/defer", #"{"until": \#(until), "rationale": "after the shutdown"}"#,
                                    as: owner)
            harness.clock.advance(minutes: 62)
            #expect(try await harness.server.escalator!.pass().map(\.id) == ["WO-1"])
        }
    }

    @Test func anOperatorProposesWorkFromAnAlarm() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let saved = try await AlarmAPITests.put(client, "overheat",
                                                    #"{"name": "Spindle overheating", "condition": "spindle_temp > 85", "severity": "critical"}"#)
            #expect(saved.status == .ok)
            try await AlarmAPITests.ingest(client, temperature: 70)
            try await AlarmAPITests.ingest(client, temperature: 91)
            let operatorKey: HTTPFields = [.authorization: "Bearer \(try await harness.apiKey(role: .operator))"]
            let body = #"{"rule": "overheat", "machine": "\#(AlarmAPITests.machine)"}"#
            let order = try await Self.post(client, "/api/v1/work-orders/from-alarm", body, as: operatorKey, expect: .created)
            #expect(order["title"]?.stringValue == "Spindle overheating" && order["kind"]?.stringValue == "corrective")
            #expect(order["priority"]?.stringValue == "urgent" && order["origin"]?["source"]?.stringValue == "alarm")
            #expect(order["evidence"]?["signals"]?.array.compactMap(\.stringValue) == ["spindle_temp"])
            #expect(order["evidence"]?["summary"]?.stringValue?.contains("value 91") == true, "\(order)")
            try await client.execute(uri: "/api/v1/alarms/journal", method: .get) { response in
                let comments = response.json["items"]?.array.compactMap { $0["comment"]?.stringValue } ?? []
                #expect(comments.contains("work order WO-1 proposed"), "\(response.text)")
            }
            _ = try await Self.post(client, "/api/v1/work-orders/from-alarm", #"{"rule": "nope", "machine": "\#(AlarmAPITests.machine)"}"#,
                                    expect: .notFound)
        }
    }
}
