import Foundation
import GembaIngest
import GembaServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The dashboard is served from the binary, open (it holds no data), and the embedded copy is the
/// one in `Dashboard/` (run `scripts/generate-dashboard.sh` after changing a file there).
@Suite struct DashboardTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Dashboard")

    @Test func everyFileIsServedAsInTheSourceTree() async throws {
        let harness = try await ServerHarness()
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter { !$0.hasPrefix(".") }
        #expect(files.contains("app.js") && files.contains("index.html"))
        try await harness.test(anonymous: true) { client in
            for file in files {
                let source = try String(contentsOf: Self.directory.appendingPathComponent(file), encoding: .utf8)
                try await client.execute(uri: "/assets/\(file)", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.text == source, "\(file) differs from Dashboard/\(file): run scripts/generate-dashboard.sh")
                }
            }
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(response.text.contains("/assets/app.js"))
                #expect(response.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
            }
            try await client.execute(uri: "/assets/../Package.swift", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/assets/nothing.js", method: .get) { #expect($0.status == .notFound) }
        }
    }

    /// The administration page reads the tenant: its answer is valid JSON (it once nested the limits without an object).
    @Test func tenantAndLimitsAreValidJSON() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            try await client.execute(uri: "/api/v1/tenant", method: .get) { response in
                #expect(response.json["limits"]?["max_machines"]?.int == 10_000)
                #expect(response.json["id"]?.stringValue == "default")
            }
        }
    }

    /// The floor asks for a few tags of every machine at once: `tag` without `machine` selects that tag everywhere.
    @Test func latestOfOneTagOnEveryMachine() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let batch = """
                {"records": [{"machine": "p1/l1/m1", "values": {"state": "producing", "speed": 5}},
                             {"machine": "p1/l1/m2", "values": {"state": "idle", "speed": 0}}]}
                """
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: batch)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/v1/latest?tag=state", method: .get) { response in
                let values = response.json["values"]?.array ?? []
                #expect(values.compactMap { $0["tag"]?.stringValue } == ["state", "state"])
                #expect(Set(values.compactMap { $0["v"]?.stringValue }) == ["producing", "idle"])
            }
        }
    }
}
