import GembaCore
import GembaIngest
import GembaServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// Sites, areas, lines and machines as managed objects, through the API: details, machines made
/// before their data, retirement, moves that keep everything, deletion with the data, tag details.
@Suite struct AssetAPITests {
    static let press = "plant1/press-shop/line3/press-7"

    static func ingest(_ client: any TestClientProtocol, _ machine: String, _ values: String, ts: Int64? = nil) async throws -> TestResponse {
        let time = ts.map { #""ts": \#($0), "# } ?? ""
        return try await client.execute(uri: "/api/v1/ingest", method: .post,
                                        body: ByteBuffer(string: #"{"records": [{"machine": "\#(machine)", \#(time)"values": \#(values)}]}"#))
    }

    static func put(_ client: any TestClientProtocol, _ body: String) async throws -> TestResponse {
        try await client.execute(uri: "/api/v1/asset-details", method: .put, body: ByteBuffer(string: body))
    }

    @Test func detailsAndMachinesConfiguredAheadOfTheirData() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let created = try await Self.put(client, #"""
                {"level": "machine", "path": "plant1/press-shop/line3/press-9", "display_name": "Press 9", "description": "500 t servo press",
                 "metadata": {"vendor": "Schuler", "serial": "SP-0042", "commissioned": "2024-03-01"}}
                """#)
            #expect(created.status == .ok)
            #expect(created.json["display_name"] == .string("Press 9"))
            #expect(created.json["created_by"] != .null && created.json["registered_at"] != .null)
            #expect(created.json["metadata"]?["vendor"] == .string("Schuler"))
            // It is a machine before it sends anything, and its first data lands on it.
            try await client.execute(uri: "/api/v1/machines", method: .get) { #expect($0.text.contains("press-9")) }
            #expect(try await Self.ingest(client, "plant1/press-shop/line3/press-9", #"{"force": 410.5}"#).status == .ok)
            // A line gets details too; editing keeps who created it.
            #expect(try await Self.put(client, #"{"level": "line", "path": "plant1/press-shop/line3", "display_name": "Line 3"}"#).status == .ok)
            let edited = try await Self.put(client, #"{"level": "machine", "path": "plant1/press-shop/line3/press-9", "display_name": "Press 9 (servo)"}"#)
            #expect(edited.json["created_at"] == created.json["created_at"])
            #expect(edited.json["metadata"] == .object([]))
            try await client.execute(uri: "/api/v1/asset-details", method: .get) { response in
                let items = response.json["items"]?.array ?? []
                #expect(items.map { $0["level"] } == [.string("site"), .string("area"), .string("line"), .string("machine")])
                #expect(items.first { $0["level"] == .string("line") }?["display_name"] == .string("Line 3"))
            }
            // Bad details are refused with the field named; nothing is created.
            for body in [#"{"level": "machine", "path": "plant1/line3"}"#, #"{"level": "site", "path": "plant 1"}"#,
                         #"{"level": "machine", "path": "p/l/m", "metadata": {"x": 1}}"#, #"{"level": "galaxy", "path": "p"}"#] {
                let response = try await Self.put(client, body)
                #expect(response.status == .badRequest || response.status == .unprocessableContent, "\(body): \(response.status)")
            }
            try await client.execute(uri: "/api/v1/machines", method: .get) { #expect(!$0.text.contains("\"p/l/m\"")) }
            // Creating ahead counts against the tenant's machine limit, as auto-registration does.
            try await client.execute(uri: "/api/v1/tenant/limits", method: .put, body: ByteBuffer(string: #"{"max_machines": 1}"#)) {
                #expect($0.status == .ok)
            }
            let over = try await Self.put(client, #"{"level": "machine", "path": "plant1/line1/mill-1"}"#)
            #expect(over.status == .unprocessableContent && over.text.contains("limit"))
            try await client.execute(uri: "/api/v1/audit?action=asset.", method: .get) { #expect($0.json["items"]?.array.count == 3) }
        }
    }

    @Test func aRetiredMachineKeepsItsHistoryAndRefusesNewData() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            #expect(try await Self.ingest(client, Self.press, #"{"temp": 70.5}"#, ts: nowMillis - 5000).status == .ok)
            let retired = try await client.execute(uri: "/api/v1/machines/retire", method: .post,
                                                   body: ByteBuffer(string: #"{"machine": "\#(Self.press)", "retired": true}"#))
            #expect(retired.status == .ok && retired.json["retired_at"] != .null)
            let refused = try await Self.ingest(client, Self.press, #"{"temp": 71.5, "new_tag": 1}"#)
            #expect(refused.status == .badRequest)
            #expect(refused.json["errors"]?.array.first?["code"] == .string("retired"))
            #expect(refused.text.contains("retired"))
            try await client.execute(uri: "/api/v1/latest?machine=\(Self.press)", method: .get) { response in
                #expect(response.json["values"]?.array.map { $0["v"] } == [.number(70.5)])
            }
            // Back in service, it records again.
            try await client.execute(uri: "/api/v1/machines/retire", method: .post,
                                     body: ByteBuffer(string: #"{"machine": "\#(Self.press)", "retired": false}"#)) {
                #expect($0.json["retired_at"] == .null)
            }
            #expect(try await Self.ingest(client, Self.press, #"{"temp": 72.5}"#).status == .ok)
            try await client.execute(uri: "/api/v1/machines/retire", method: .post,
                                     body: ByteBuffer(string: #"{"machine": "plant1/line9/nothing", "retired": true}"#)) {
                #expect($0.status == .notFound)
            }
        }
    }

    @Test func aMovedMachineKeepsHistorySettingsAndStops() async throws {
        let harness = try await ServerHarness()
        let target = "plant2/assembly/line1/press-7"
        try await harness.test { client in
            #expect(try await Self.ingest(client, Self.press, #"{"temp": 70.5, "state": "running"}"#, ts: nowMillis - 5000).status == .ok)
            try await client.execute(uri: "/api/v1/production-settings?machine=\(Self.press)", method: .put,
                                     body: ByteBuffer(string: #"{"idealCycleTime": 4000}"#)) { #expect($0.status == .ok) }
            #expect(try await Self.put(client, #"{"level": "machine", "path": "\#(Self.press)", "display_name": "Press 7"}"#).status == .ok)
            let moved = try await client.execute(uri: "/api/v1/machines/move", method: .post,
                                                 body: ByteBuffer(string: #"{"machine": "\#(Self.press)", "to": "\#(target)"}"#))
            #expect(moved.status == .ok)
            #expect(moved.json["path"] == .string(target) && moved.json["display_name"] == .string("Press 7"))
            try await client.execute(uri: "/api/v1/latest?machine=\(target)&tag=temp", method: .get) { response in
                #expect(response.json["values"]?.array.first?["v"] == .number(70.5))
            }
            try await client.execute(uri: "/api/v1/latest?machine=\(Self.press)", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/v1/production-settings?machine=\(target)", method: .get) { response in
                #expect(response.json["idealCycleTime"] == .integer(4000))
            }
            // New data at the new path joins the old history; the old path is a new machine.
            #expect(try await Self.ingest(client, target, #"{"temp": 71.5}"#).status == .ok)
            try await client.execute(uri: "/api/v1/history?series=\(target)/temp&from=\(nowMillis - 60_000)", method: .get) { response in
                #expect(response.json["series"]?.array.first?["points"]?.array.count == 2)
            }
            #expect(try await Self.ingest(client, Self.press, #"{"temp": 1}"#).status == .ok)
            // A move onto an existing machine is refused; nothing changes.
            let clash = try await client.execute(uri: "/api/v1/machines/move", method: .post,
                                                 body: ByteBuffer(string: #"{"machine": "\#(Self.press)", "to": "\#(target)"}"#))
            #expect(clash.status == .conflict)
            try await client.execute(uri: "/api/v1/audit?action=machine.move", method: .get) { response in
                #expect(response.json["items"]?.array.first?["detail"] == .string("to=\(target)"))
            }
        }
    }

    @Test func deletingAMachineNeedsAnAdminAndConfirmationAndTakesItsData() async throws {
        let harness = try await ServerHarness()
        let engineer = try await harness.apiKey(role: .engineer)
        try await harness.test { client in
            #expect(try await Self.ingest(client, Self.press, #"{"temp": 70.5, "count": 3}"#, ts: nowMillis - 5000).status == .ok)
            let uri = "/api/v1/machines?machine=\(Self.press)&confirm=\(Self.press)"
            try await client.execute(uri: uri, method: .delete, headers: [.authorization: "Bearer \(engineer)"]) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/api/v1/machines?machine=\(Self.press)&confirm=plant1/x/y", method: .delete) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: uri, method: .delete) { response in
                #expect(response.status == .ok)
                #expect(response.json["samples_deleted"] == .integer(2))
            }
            try await client.execute(uri: "/api/v1/machines", method: .get) { #expect(!$0.text.contains("press-7")) }
            try await client.execute(uri: uri, method: .delete) { #expect($0.status == .notFound) }
            // The path can be used again, from nothing.
            #expect(try await Self.ingest(client, Self.press, #"{"temp": "now text"}"#).status == .ok)
            try await client.execute(uri: "/api/v1/audit?action=machine.delete", method: .get) { response in
                #expect(response.json["items"]?.array.first?["detail"] == .string("samples=2"))
            }
        }
    }

    @Test func tagDetailsAndAValueTypeThatCannotChange() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            #expect(try await Self.ingest(client, Self.press, #"{"temp": 70.5}"#).status == .ok)
            let body = #"{"machine": "\#(Self.press)", "tag": "temp", "display_name": "Oil temperature", "unit": "°C", "minimum": 10, "#
                + #""maximum": 95.5, "decimals": 1, "value_type": "double"}"#
            try await client.execute(uri: "/api/v1/tags/details", method: .put, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                #expect(response.json["display_name"] == .string("Oil temperature") && response.json["maximum"] == .number(95.5))
            }
            try await client.execute(uri: "/api/v1/tags?machine=\(Self.press)", method: .get) { response in
                let tag = response.json["tags"]?.array.first
                #expect(tag?["unit"] == .string("°C") && tag?["decimals"] == .integer(1) && tag?["minimum"] == .number(10))
            }
            let retype = #"{"machine": "\#(Self.press)", "tag": "temp", "value_type": "string"}"#
            try await client.execute(uri: "/api/v1/tags/details", method: .put, body: ByteBuffer(string: retype)) { response in
                #expect(response.status == .conflict)
                #expect(response.text.contains("holds double values"))
            }
            let bad = #"{"machine": "\#(Self.press)", "tag": "temp", "minimum": 5, "maximum": 1}"#
            try await client.execute(uri: "/api/v1/tags/details", method: .put, body: ByteBuffer(string: bad)) {
                #expect($0.status == .unprocessableContent)
            }
            try await client.execute(uri: "/api/v1/tags/details", method: .put,
                                     body: ByteBuffer(string: #"{"machine": "\#(Self.press)", "tag": "nothing"}"#)) { #expect($0.status == .notFound) }
        }
    }
}
