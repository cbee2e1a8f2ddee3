import CompressNIO
import GembaCore
import GembaIngest
import GembaServer
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@Suite struct IngestAPITests {
    static let batch = """
        {"records": [
          {"machine": "plant1/press-shop/line3/press-7", "ts": \(nowMillis - 2000), "values": {"spindle_temp": 71.2, "state": "running"}},
          {"machine": "plant1/press-shop/line3/press-7", "ts": \(nowMillis - 1000), "values": {"spindle_temp": 72.5}},
          {"machine": "plant1/line1/mill-2", "values": {"good_count": 17, "door_open": true}}
        ]}
        """

    /// Inputs schemathesis found that once crashed the server: each gets a 400 and the server keeps answering.
    @Test func hostileTimesAndRangesAreRefusedWithoutACrash() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let batch = #"{"records": [{"machine": "p/l/m", "ts": -9223372036854775808, "values": {"t": 1}}, "#
                + #"{"machine": "p/l/m", "ts": -1000, "values": {"t": 1}}, {"machine": "p/l/m", "values": {"t": 2}}]}"#
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: batch)) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["stored"]?.int == 1)
                #expect(response.text.contains("older than"))
            }
            for uri in ["/api/v1/history?series=p/l/m/t&to=-9223372036854775808", "/api/v1/history?series=p/l/m/t&from=99999999999999999",
                        "/api/v1/oee?from=0", "/api/v1/stops?machine=p/l/m&from=0", "/api/v1/oee?to=-1"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .badRequest, "\(uri): \(response.status)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            // The same series named twice (found by schemathesis from the documented examples): answered once.
            #expect(try await client.execute(uri: "/api/v1/ingest", method: .post,
                                             body: ByteBuffer(string: #"{"records": [{"machine": "p/l/m", "values": {"t": 3}}]}"#)).status == .ok)
            for path in ["latest", "history"] {
                try await client.execute(uri: "/api/v1/\(path)?series=p/l/m/t&machine=p/l/m&tag=t&series=p/l/m/t", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect((response.json["values"] ?? response.json["series"])?.array.count == 1, "\(path)")
                }
            }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func jsonBatchIsCommittedThenQueryable() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: Self.batch)) { response in
                #expect(response.status == .ok)
                #expect(response.json["stored"]?.int == 5)
            }
            try await client.execute(uri: "/api/v1/latest?machine=plant1/press-shop/line3/press-7&tag=spindle_temp", method: .get) { response in
                #expect(response.status == .ok)
                let value = response.json["values"]?.array.first
                #expect(value?["v"] == .number(72.5))
                #expect(value?["t"]?.int == nowMillis - 1000)
            }
            try await client.execute(uri: "/api/v1/latest?machine=plant1/line1/mill-2", method: .get) { response in
                let values = response.json["values"]?.array ?? []
                #expect(values.first { $0["tag"] == .string("door_open") }?["v"] == .bool(true))
                #expect(values.first { $0["tag"] == .string("good_count") }?["v"] == .integer(17))
            }
            try await client.execute(uri: "/api/v1/assets", method: .get) { response in
                let sites = response.json["sites"]?.array ?? []
                #expect(sites.map { $0["name"] } == [.string("plant1")])
                #expect(sites.first?["areas"]?.array.first?["lines"]?.array.first?["machines"]?.array.first?["path"]
                    == .string("plant1/press-shop/line3/press-7"))
                #expect(sites.first?["lines"]?.array.first?["name"] == .string("line1"))
            }
            try await client.execute(uri: "/api/v1/tags?machine=plant1/line1/mill-2", method: .get) { response in
                let tags = response.json["tags"]?.array ?? []
                #expect(tags.map { $0["name"] } == [.string("door_open"), .string("good_count")])
                #expect(tags.map { $0["value_type"] } == [.string("bool"), .string("int")])
                #expect(tags.map { $0["kind"] } == [.string("gauge"), .string("counter")])
            }
        }
    }

    @Test func idempotencyKeyStoresARetriedBatchOnce() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "batch-0001"]
            var first = ""
            try await client.execute(uri: "/api/v1/ingest", method: .post, headers: key, body: ByteBuffer(string: Self.batch)) { response in
                #expect(response.status == .ok)
                first = response.text
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post, headers: key, body: ByteBuffer(string: Self.batch)) { response in
                #expect(response.status == .ok)
                #expect(response.text == first)
                #expect(response.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            }
            // Without the key the batch is processed again: samples with a timestamp are duplicates and keep
            // one row; the record without one is stamped with the new time of receipt.
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: Self.batch)) { response in
                #expect(response.json["stored"]?.int == 2)
                #expect(response.json["duplicates"]?.int == 3)
            }
        }
        #expect(harness.pipeline.queuedSamples == 0)
    }

    @Test func badInputGetsAProblemAndTheRestIsKept() async throws {
        let harness = try await ServerHarness()
        try await harness.test { client in
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: "{\"records\": [")) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.json["detail"]?.stringValue?.contains("malformed JSON at byte 13") == true)
            }
            let mixed = """
                {"records": [{"machine": "p/l/m", "values": {"t": 1.5, "n": null}}, {"machine": "p/l/m", "ts": 5, "values": {"t": 2}}]}
                """
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: mixed)) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["accepted"]?.int == 1)
                #expect(response.json["errors"]?.array.map { $0["location"] } == [.string("records[0].values.n"), .string("records[1].ts")])
            }
            // A value of the wrong type for the now-known tag.
            try await client.execute(uri: "/api/v1/ingest", method: .post,
                                     body: ByteBuffer(string: #"[{"machine": "p/l/m", "values": {"t": "hot"}}]"#)) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["errors"]?.array.first?["code"] == .string("type_mismatch"))
                #expect(response.json["errors"]?.array.first?["location"] == .string("p/l/m/t"))
            }
            try await client.execute(uri: "/api/v1/ingest", method: .post,
                                     body: ByteBuffer(repeating: UInt8(ascii: " "), count: 70 * 1024)) { response in
                #expect(response.status == .contentTooLarge)
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(response.text.contains("larger than 65536 bytes"))
            }
            try await client.execute(uri: "/api/v1/latest?machine=p/l/m", method: .get) { response in
                #expect(response.json["values"]?.array.first?["v"] == .number(1.5))
            }
        }
    }

    @Test func fullQueueAnswers503WithRetryAfter() async throws {
        var configuration = IngestPipeline.Configuration()
        configuration.maxQueuedSamples = 2
        let harness = try await ServerHarness(configuration: configuration)
        // The pipeline is not running and already holds more than it may queue.
        let point = Point(series: SeriesKey(tenant: .default, machine: try AssetPath("p/l/m"), tag: "t"),
                          sample: Sample(time: Timestamp.now(), value: .double(1)))
        harness.pipeline.submit([point, point, point], source: .mqtt, force: true) { _ in }
        try await harness.test(runPipeline: false) { client in
            try await client.execute(uri: "/api/v1/ingest", method: .post, body: ByteBuffer(string: Self.batch)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
            }
        }
    }

    @Test func lineProtocolV2GzipAndV1() async throws {
        let harness = try await ServerHarness()
        let key = try await harness.apiKey(role: .engineer)
        try await harness.test { client in
            let seconds = nowMillis / 1000
            var body = ByteBuffer(string: """
                modbus,site=plant1,line=line3,machine=press-7,host=gw1 temperature=71.2,cycles=42i \(seconds)
                modbus,machine=press-8 temperature=70.1 \(seconds)
                """)
            let gzipped = try body.compress(with: .gzip())
            try await client.execute(uri: "/api/v2/write?org=acme&bucket=plant1/line3&precision=s", method: .post,
                                     headers: [.contentEncoding: "gzip", .authorization: "Token \(key)"], body: gzipped) { response in
                #expect(response.status == .noContent)
            }
            try await client.execute(uri: "/write?db=plant1/line4&precision=ms", method: .post,
                                     body: ByteBuffer(string: "opcua,machine=lathe-1 speed=1200 \(nowMillis)\nbroken line")) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["error"]?.stringValue?.contains("line 2") == true)
            }
            try await client.execute(uri: "/api/v1/latest", method: .get) { response in
                let names = Set((response.json["values"]?.array ?? []).compactMap { value -> String? in
                    guard case .string(let machine)? = value["machine"], case .string(let tag)? = value["tag"] else { return nil }
                    return machine + "/" + tag
                })
                #expect(names == ["plant1/line3/press-7/modbus.temperature", "plant1/line3/press-7/modbus.cycles",
                                  "plant1/line3/press-8/modbus.temperature", "plant1/line4/lathe-1/opcua.speed"])
            }
            try await client.execute(uri: "/api/v2/write?precision=fortnights", method: .post, body: ByteBuffer(string: "m v=1")) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/api/v2/write", method: .post, headers: [.contentEncoding: "gzip"],
                                     body: ByteBuffer(string: "not gzip")) { response in
                #expect(response.status == .badRequest)
            }
        }
    }
}
