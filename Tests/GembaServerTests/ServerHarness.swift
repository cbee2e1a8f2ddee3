import Foundation
import GembaCore
import GembaIngest
import GembaServer
import GembaStorage
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore

/// A real store, pipeline and hub behind the real router, served on a free loopback port.
struct ServerHarness {
    let store: SQLiteStore
    let pipeline: IngestPipeline
    let hub: LiveHub
    let server: ServerContext

    init(configuration: IngestPipeline.Configuration = .init()) throws {
        store = try SQLiteStore(directory: NSTemporaryDirectory() + "gemba-server-\(UUID().uuidString)", logger: Logger(label: "test"))
        pipeline = IngestPipeline(store: store, configuration: configuration, logger: Logger(label: "test"))
        hub = LiveHub()
        pipeline.addObserver(hub)
        server = ServerContext(store: store, pipeline: pipeline, hub: hub, maxIngestBytes: 64 * 1024,
                               readinessChecks: ["mqtt": { true }], metrics: { Array("gemba_test 1\n".utf8) },
                               logger: Logger(label: "test"))
    }

    /// Runs `body` against the live application, with the pipeline committing (unless `runPipeline` is false).
    func test(runPipeline: Bool = true, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let pipeline = self.pipeline
        let task = runPipeline ? Task { try await pipeline.run() } : nil
        defer { task?.cancel() }
        let app = HTTPServer.application(server, host: "127.0.0.1", port: 0)
        try await app.test(.live, body)
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: JSONValue { (try? JSONParser.parse(body.readableBytesView)) ?? .null }
}

extension JSONValue {
    var array: [JSONValue] {
        if case .array(let items) = self { return items }
        return []
    }

    var int: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value): Int64(exactly: value)
        default: nil
        }
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}

let nowMillis = Timestamp.now().millisecondsSinceEpoch
