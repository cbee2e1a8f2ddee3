import GembaCore
import GembaIngest
import GembaServer
import GembaStorage
import GembaTestSupport
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSTesting
import NIOCore
import Testing

@Suite struct QueryAPITests {
    /// One 1 Hz tag over two hours, committed through the pipeline.
    static func seed(_ harness: ServerHarness, start: Int64) async throws {
        let machine = try AssetPath("plant1/line1/cnc-1")
        var points: [Point] = []
        for second in 0..<7200 {
            points.append(Point(series: SeriesKey(tenant: .default, machine: machine, tag: "temp"),
                                sample: Sample(time: Timestamp(millisecondsSinceEpoch: start + Int64(second) * 1000),
                                               value: .double(Double(second % 100)))))
        }
        _ = try await harness.pipeline.submit(points, source: .http)
    }

    @Test func historyIsRawWhenItFitsAndBucketedOtherwise() async throws {
        let harness = try await ServerHarness()
        let start = (nowMillis - 3 * 3_600_000) / 3_600_000 * 3_600_000
        try await harness.test { client in
            try await Self.seed(harness, start: start)
            try await client.execute(uri: "/api/v1/history?series=plant1/line1/cnc-1/temp&from=\(start)&to=\(start + 10_000)", method: .get) { response in
                let series = response.json["series"]?.array.first
                #expect(series?["resolution"] == .string("raw"))
                #expect(series?["points"]?.array.count == 10)
                #expect(series?["points"]?.array.last?["v"] == .number(9))
            }
            let to = start + 7_200_000
            try await client.execute(uri: "/api/v1/history?machine=plant1/line1/cnc-1&tag=temp&from=\(start)&to=\(to)&points=100", method: .get) { response in
                let series = response.json["series"]?.array.first
                #expect(series?["resolution"] == .string("minute"))
                let buckets = series?["buckets"]?.array ?? []
                #expect((50...100).contains(buckets.count))
                #expect(buckets.reduce(0) { $0 + ($1["count"]?.int ?? 0) } == 7200)
                #expect(buckets.allSatisfy { $0["min"] == .number(0) && $0["max"] == .number(99) })
            }
            let from = Timestamp(millisecondsSinceEpoch: start).rfc3339
            try await client.execute(uri: "/api/v1/history?series=plant1/line1/cnc-1/temp&from=\(from)&to=\(to)&points=3", method: .get) { response in
                #expect(response.json["series"]?.array.first?["resolution"] == .string("hour"))
                #expect(response.json["series"]?.array.first?["buckets"]?.array.count == 2)
            }
            try await client.execute(uri: "/api/v1/history?series=plant1/line1/nope/temp", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/api/v1/history?series=plant1/line1/cnc-1/temp&from=yesterday", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["detail"]?.stringValue?.contains("from must be") == true)
            }
            try await client.execute(uri: "/api/v1/history", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/api/v1/export.csv?series=plant1/line1/cnc-1/temp&from=\(start)&to=\(to)", method: .get) { response in
                let lines = response.text.split(separator: "\n")
                #expect(lines.count == 7201)
                #expect(lines.first == "time,machine,tag,value,quality")
                #expect(lines[1] == "\(Timestamp(millisecondsSinceEpoch: start).rfc3339),plant1/line1/cnc-1,temp,0.0,good")
            }
        }
    }

    @Test func healthReadyMetricsAndOpenAPI() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.json["checks"]?["storage"] == .string("ok"))
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.text == "gemba_test 1\n")
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            }
            try await client.execute(uri: "/openapi.json", method: .get) { response in
                #expect(response.json["openapi"] == .string("3.1.0"))
                guard case .object(let paths)? = response.json["paths"] else { Issue.record("no paths"); return }
                var documented: Set<String> = []
                for (path, item) in paths {
                    guard case .object(let methods) = item else { continue }
                    for (method, _) in methods where method != "parameters" { documented.insert("\(method.uppercased()) \(path)") }
                }
                let routes = Set(HTTPServer.router(harness.server).routes.map { "\($0.method.rawValue) \($0.path)" })
                #expect(documented == routes)
            }
            try await client.execute(uri: "/api/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }

    @Test func liveWebSocketStreamsCommittedSamples() async throws {
        let harness = try await ServerHarness()
        let machine = try AssetPath("plant1/line1/cnc-1")
        let token = try await harness.ownerToken()
        try await harness.test { client in
            try await client.ws("/api/v1/live?machine=plant1/line1/cnc-1&tag=temp&access_token=\(token)") { inbound, outbound, _ in
                // Wait until the subscription exists, then commit one wanted and one unwanted sample.
                #expect(try await TestSupport.eventually { harness.hub.subscriberCount == 1 })
                _ = try await harness.pipeline.submit([
                    Point(series: SeriesKey(tenant: .default, machine: machine, tag: "speed"), sample: Sample(time: Timestamp.now(), value: .double(9))),
                    Point(series: SeriesKey(tenant: .default, machine: machine, tag: "temp"), sample: Sample(time: Timestamp.now(), value: .double(42))),
                ], source: .http)
                var iterator = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                guard case .text(let text)? = try await iterator.next() else { Issue.record("no frame"); return }
                let frame = try JSONParser.parse(Array(text.utf8))
                #expect(frame["samples"]?.array.count == 1)
                #expect(frame["samples"]?.array.first?["v"] == .number(42))
                #expect(frame["skipped"]?.int == 0)
                try await outbound.write(.text(#"{"subscribe": {"machines": ["bad path"]}}"#))
                guard case .text(let error)? = try await iterator.next() else { Issue.record("no error frame"); return }
                #expect(error.contains("error"))
            }
            // The closed connection's subscription is gone.
            #expect(try await TestSupport.eventually { harness.hub.subscriberCount == 0 })
        }
    }
}
