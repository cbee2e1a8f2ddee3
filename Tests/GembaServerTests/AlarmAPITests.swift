import GembaCore
import GembaIngest
import GembaServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import NIOCore
import Testing

/// Rules and alarms through the API, as a machine sends data: a rule saved, samples crossing its
/// threshold, the alarm acknowledged, shelved, taken out of service, journalled; errors named.
@Suite struct AlarmAPITests {
    static let machine = "plant1/machining/line1/cnc-1"

    /// Sends one temperature, stamped now unless `time` is given.
    static func ingest(_ client: any TestClientProtocol, temperature: Double, at time: Int64? = nil, machine: String = machine) async throws {
        let time = time ?? Timestamp.now().millisecondsSinceEpoch
        let response = try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string:
            #"{"records": [{"machine": "\#(machine)", "ts": \#(time), "values": {"spindle_temp": \#(temperature)}}]}"#))
        #expect(response.status == .ok)
    }

    static func put(_ client: any TestClientProtocol, _ id: String, _ body: String) async throws -> TestResponse {
        try await client.execute(uri: "/api/v1/rules/\(id)", method: .put, body: ByteBuffer(string: body))
    }

    static func post(_ client: any TestClientProtocol, _ path: String, _ body: String) async throws -> TestResponse {
        try await client.execute(uri: path, method: .post, body: ByteBuffer(string: body))
    }

    @Test func aRuleRaisesAnAlarmThatPeopleAcknowledgeShelveAndJournal() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let saved = try await Self.put(client, "overheat", #"""
                {"name": "Spindle overheating", "condition": "spindle_temp > 85 clear < 80", "severity": "high", "longest_shelve": "1h"}
                """#)
            #expect(saved.status == .ok, "\(saved.text)")
            #expect(saved.json["id"] == .string("overheat") && saved.json["expression"]?["clear"] != nil)
            try await Self.ingest(client, temperature: 70)
            try await Self.ingest(client, temperature: 90)
            let standing = try await client.execute(uri: "/api/v1/alarms", method: .get)
            let alarm = try #require(standing.json["items"]?.array.first)
            #expect(alarm["state"] == .string("active_unacknowledged") && alarm["value"] == .number(90))
            #expect(alarm["machine"] == .string(Self.machine))

            let target = #""rule": "overheat", "machine": "\#(Self.machine)""#
            let acknowledged = try await Self.post(client, "/api/v1/alarms/acknowledge", "{\(target), \"comment\": \"coolant low\"}")
            #expect(acknowledged.json["state"] == .string("active_acknowledged"))
            #expect(try await Self.post(client, "/api/v1/alarms/acknowledge", "{\(target)}").status == .conflict)
            // Shelving is limited by the rule's longest shelve.
            #expect(try await Self.post(client, "/api/v1/alarms/shelve", "{\(target), \"minutes\": 120, \"reason\": \"x\"}").status == .conflict)
            let shelved = try await Self.post(client, "/api/v1/alarms/shelve", "{\(target), \"minutes\": 30, \"reason\": \"sensor swap\"}")
            #expect(shelved.json["state"] == .string("shelved") && shelved.json["shelved"]?["reason"] == .string("sensor swap"))
            #expect(try await Self.post(client, "/api/v1/alarms/unshelve", "{\(target)}").json["state"] == .string("active_unacknowledged"))
            try await Self.ingest(client, temperature: 82)
            try await Self.ingest(client, temperature: 79)
            #expect(try await client.execute(uri: "/api/v1/alarms", method: .get).json["items"]?.array.first?["state"]
                == .string("returned_unacknowledged"))
            #expect(try await Self.post(client, "/api/v1/alarms/acknowledge", "{\(target)}").json["state"] == .string("normal"))
            #expect(try await client.execute(uri: "/api/v1/alarms", method: .get).json["items"]?.array.isEmpty == true)

            let journal = try await client.execute(uri: "/api/v1/alarms/journal?from=\(nowMillis - 60_000)", method: .get)
            #expect(journal.json["items"]?.array.map { $0["kind"]?.stringValue ?? "" }
                == ["activated", "acknowledged", "shelved", "unshelved", "cleared", "acknowledged"])
            let csv = try await client.execute(uri: "/api/v1/alarms/journal?from=\(nowMillis - 60_000)&format=csv", method: .get)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            #expect(csv.text.split(separator: "\n").count == 7 && csv.text.contains("\"coolant low\""))
            // Another alarm of no rule answers 404; the rule's deletion keeps the journal.
            #expect(try await Self.post(client, "/api/v1/alarms/acknowledge", #"{"rule": "nope", "machine": "\#(Self.machine)"}"#).status == .notFound)
            #expect(try await client.execute(uri: "/api/v1/rules/overheat", method: .delete).status == .noContent)
            #expect(try await client.execute(uri: "/api/v1/rules/overheat", method: .delete).status == .notFound)
            #expect(try await client.execute(uri: "/api/v1/alarms/journal?from=\(nowMillis - 60_000)", method: .get).json["items"]?.array.count == 6)
        }
    }

    @Test func invalidRulesAreRefusedWithThePlace() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let syntax = try await Self.put(client, "bad", #"{"name": "x", "severity": "low", "condition": "spindle_temp >\n 85 for 2q"}"#)
            #expect(syntax.status == .unprocessableContent)
            #expect(syntax.json["detail"]?.stringValue?.contains("condition: line 2, column 10: unknown unit \"q\"") == true, "\(syntax.text)")
            let mismatch = try await Self.put(client, "bad", #"{"id": "other", "name": "x", "severity": "low", "condition": "t > 1"}"#)
            #expect(mismatch.status == .unprocessableContent)
            #expect(try await Self.put(client, "bad", "not json").status == .unprocessableContent)
            #expect(try await Self.put(client, "b%20d", #"{"name": "x", "severity": "low", "condition": "t > 1"}"#).status == .badRequest)
            // A tag no machine has yet is accepted as waiting, and shown as such.
            try await Self.ingest(client, temperature: 50, at: nowMillis)
            let validated = try await Self.post(client, "/api/v1/rules/validate",
                                                #"{"name": "x", "severity": "low", "condition": "spindle_temp > 85 and coolant_flow < 2"}"#)
            #expect(validated.status == .ok)
            #expect(validated.json["waiting_for"] == .array([.string("coolant_flow")]))
            #expect(validated.json["condition"] == .string("spindle_temp > 85 and coolant_flow < 2"))
            #expect(try await client.execute(uri: "/api/v1/rules", method: .get).json["items"]?.array.isEmpty == true)
        }
    }

    /// Rules on a machine's and a line's shift KPIs are backtested from the OEE engine's figures at past times.
    @Test func aBacktestReplaysShiftKPIsOfMachinesAndLines() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let start = nowMillis - 3_600_000
            // Running for 40 minutes, then broken down for the last 20.
            let records = (0..<60).map { minute in
                #"{"machine": "\#(Self.machine)", "ts": \#(start + Int64(minute) * 60_000), "values": {"state": "\#(minute < 40 ? "running" : "breakdown")"}}"#
            }
            #expect(try await Self.post(client, "/api/v1/ingest", #"{"records": [\#(records.joined(separator: ","))]}"#).status == .ok)
            let breakdown = start + 40 * 60_000
            for condition in ["shift.availability < 0.9", "line.availability < 0.9"] {
                let body = #"{"rule": {"name": "low", "severity": "medium", "condition": "\#(condition)"}, "from": \#(start), "to": \#(nowMillis)}"#
                let response = try await Self.post(client, "/api/v1/rules/backtest", body)
                #expect(response.status == .ok, "\(response.text)")
                let machines = response.json["machines"]?.array ?? []
                let alarm = machines.first?["alarms"]?.array.first
                #expect(machines.count == 1 && (alarm?["start"]?.int ?? 0) > breakdown, "\(condition): \(response.text)")
                let path = machines.first?["machine"]?.stringValue ?? ""
                #expect(condition.hasPrefix("line.") ? path.hasSuffix("/_line") : path == Self.machine)
            }
        }
    }

    @Test func aBacktestAnswersTheAlarmsHistoryWouldHaveRaised() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let start = nowMillis - 3_600_000
            var records: [String] = []
            for minute in 0..<60 {
                let hot = (10..<20).contains(minute) || (40..<41).contains(minute)
                records.append(#"{"machine": "\#(Self.machine)", "ts": \#(start + Int64(minute) * 60_000), "values": {"spindle_temp": \#(hot ? 90 : 70)}}"#)
            }
            #expect(try await Self.post(client, "/api/v1/ingest", #"{"records": [\#(records.joined(separator: ","))]}"#).status == .ok)
            // The threshold is the machine's own, from its metadata, as the live engine reads it.
            let details = #"{"level": "machine", "path": "\#(Self.machine)", "metadata": {"max_temp": "85"}}"#
            #expect(try await client.execute(uri: "/api/v1/asset-details", method: .put, body: ByteBuffer(string: details)).status == .ok)
            let response = try await Self.post(client, "/api/v1/rules/backtest", #"""
                {"rule": {"name": "hot", "severity": "high", "condition": "spindle_temp > meta.max_temp for 2m"}, "from": \#(start), "to": \#(start + 3_600_000)}
                """#)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.json["alarms"] == .integer(1))
            let alarm = response.json["machines"]?.array.first?["alarms"]?.array.first
            #expect(alarm?["start"]?.int == start + 12 * 60_000 && alarm?["end"]?.int == start + 20 * 60_000)
            // Nothing was saved or raised.
            #expect(try await client.execute(uri: "/api/v1/alarms?state=all", method: .get).json["items"]?.array.isEmpty == true)
        }
    }

    @Test func operatorsAcknowledgeButOnlyEngineersConfigureAndTakeOutOfService() async throws {
        let harness = try await ServerHarness()
        let operatorKey = try await harness.apiKey(role: .operator)
        try await harness.test { owner in
            #expect(try await Self.put(owner, "hot", #"{"name": "hot", "severity": "high", "condition": "spindle_temp > 85"}"#).status == .ok)
            try await Self.ingest(owner, temperature: 90, at: nowMillis)
            let client = AuthorizedClient(client: owner, authorization: "Bearer \(operatorKey)")
            let target = #""rule": "hot", "machine": "\#(Self.machine)""#
            #expect(try await Self.put(client, "hot2", #"{"name": "x", "severity": "low", "condition": "t > 1"}"#).status == .forbidden)
            #expect(try await Self.post(client, "/api/v1/alarms/out-of-service", "{\(target), \"reason\": \"x\"}").status == .forbidden)
            #expect(try await Self.post(client, "/api/v1/alarms/acknowledge", "{\(target)}").status == .ok)
            let removed = try await Self.post(owner, "/api/v1/alarms/out-of-service", "{\(target), \"reason\": \"probe replaced\"}")
            #expect(removed.json["state"] == .string("out_of_service") && removed.json["out_of_service"]?["reason"] == .string("probe replaced"))
        }
    }

    /// The ISA-18.2 figures from the journal, and the live alarm list pushing a change.
    @Test func performanceFiguresAndTheLiveListFollowTheJournal() async throws {
        let harness = try await ServerHarness()
        let token = try await harness.ownerToken()
        try await harness.test { client in
            #expect(try await Self.put(client, "hot", #"{"name": "hot", "severity": "high", "condition": "spindle_temp > 85"}"#).status == .ok)
            // Within the last minute: the engine's clock (wall time) keeps the chattering spell of these samples' times.
            // The spell ends 60 s after the first activation; its deadline moves the machine's clock to wall time,
            // after which these back-dated samples would come too late. Starting 41 s back leaves the test 19 s
            // to send them (a loaded machine took more than 10).
            let start = nowMillis - 41_000
            // Four activations within 40 s (chattering), each cleared after 1 s (fleeting), on two machines.
            try await Self.ingest(client, temperature: 70, at: start - 1_000)
            for index in 0..<4 {
                let time = start + Int64(index) * 10_000
                try await Self.ingest(client, temperature: 90, at: time)
                try await Self.ingest(client, temperature: 70, at: time + 1_000)
            }
            try await Self.ingest(client, temperature: 95, at: start + 40_000, machine: "plant1/assembly/line2/press-1")
            let response = try await client.execute(uri: "/api/v1/alarms/performance?from=\(start - 60_000)&to=\(nowMillis + 1)", method: .get)
            #expect(response.status == .ok, "\(response.text)")
            let figures = response.json
            #expect(figures["activations"] == .integer(5) && figures["chattering_alarms"] == .integer(1))
            #expect(figures["fleeting_activations"] == .integer(4) && figures["by_severity"]?["high"] == .integer(5))
            #expect(figures["top_contributors"]?.array.first?["machine"] == .string(Self.machine))
            #expect(figures["top_contributors"]?.array.first?["activations"] == .integer(4))
            #expect(figures["now"]?["active"] == .integer(1) && figures["areas"]?.array.count == 2)
            let scoped = try await client.execute(uri: "/api/v1/alarms/performance?asset=plant1/assembly&from=\(start - 60_000)", method: .get)
            #expect(scoped.json["activations"] == .integer(1))
            #expect(try await client.execute(uri: "/api/v1/alarms/performance?from=0&to=\(nowMillis)", method: .get).status == .badRequest)

            try await client.ws("/api/v1/live/alarms?access_token=\(token)") { inbound, _, _ in
                var frames = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                guard case .text(let first)? = try await frames.next() else { Issue.record("no first frame"); return }
                let before = try JSONParser.parse(Array(first.utf8))["items"]?.array ?? []
                #expect(before.count == 2 && before.first { $0["machine"] == .string(Self.machine) }?["state"] == .string("returned_unacknowledged"))
                try await Self.ingest(client, temperature: 99)
                guard case .text(let next)? = try await frames.next() else { Issue.record("no frame after the change"); return }
                let after = try JSONParser.parse(Array(next.utf8))["items"]?.array ?? []
                #expect(after.first { $0["machine"] == .string(Self.machine) }?["state"] == .string("active_unacknowledged"))
            }
        }
    }
}

/// Work proposed by alarms on their own, for rules labelled `propose_work`.
@Suite struct AlarmProposalTests {
    @Test func anAlarmOfALabelledRuleProposesWorkOncePerActivation() async throws {
        let harness = try await ServerHarness()
        let proposer = AlarmProposer(alarms: try #require(harness.server.alarms), service: try #require(harness.server.maintenance),
                                     store: harness.store)
        try await harness.test { client in
            #expect(try await AlarmAPITests.put(client, "overheat", #"""
                {"name": "Spindle overheating", "condition": "spindle_temp > 85 clear < 80", "severity": "high", "labels": {"propose_work": "inspection"}}
                """#).status == .ok)
            #expect(try await AlarmAPITests.put(client, "warm", #"{"name": "Warm", "condition": "spindle_temp > 60", "severity": "low"}"#).status == .ok)
            try await AlarmAPITests.ingest(client, temperature: 90)
            let first = try await proposer.pass()
            #expect(first.map(\.kind) == [.inspection] && first.first?.origin.reference == "overheat", "only the labelled rule proposes")
            #expect(first.first?.evidence?.summary?.contains("Spindle overheating") == true)
            #expect(try await proposer.pass().isEmpty, "once per activation")
            let journal = try await client.execute(uri: "/api/v1/alarms/journal?from=0", method: .get)
            #expect(journal.text.contains("work order \(first.first?.id ?? "?") proposed"), "\(journal.text)")

            // Cleared and active again: a new activation, a new proposal.
            try await AlarmAPITests.ingest(client, temperature: 70)
            try await AlarmAPITests.ingest(client, temperature: 95, at: Timestamp.now().millisecondsSinceEpoch + 1_000)
            let again = try await proposer.pass()
            #expect(again.count == 1 && again.first?.id != first.first?.id)
        }
    }
}
