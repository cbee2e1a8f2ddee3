internal import CompressNIO
internal import GembaCore
internal import GembaIngest
internal import Hummingbird
internal import NIOCore
internal import HTTPTypes

/// HTTP ingest: Gemba's JSON batches and the InfluxDB line protocol (v2 and v1 write APIs).
///
/// Valid points of a request are stored even when others are rejected (as InfluxDB does for
/// partial writes); the response is then 400 and lists each rejected item with its reason.
/// Nothing is acknowledged before the commit that holds it.
struct IngestRoutes {
    let server: ServerContext
    let idempotency: IdempotencyCache

    var endpoints: [Endpoint] {
        let ingestErrors: [Reply] = [
            .problem(400, "Some items refused: the valid ones were stored (accepted, stored and errors say which)"),
            .problem(413, "The body, or its gzip-inflated form, is larger than the limit"),
            .problem(415, "A Content-Encoding other than gzip or identity"),
            .problem(503, "The ingest queue is full, or the storage could not commit; retry after Retry-After seconds", retryAfter: true),
        ]
        let encoding = Parameter("Content-Encoding", in: .header, .oneOf(["gzip", "identity"]), "gzip bodies are inflated (within the limit)")
        let lineBody = Body.text("text/plain", Schema.string.described("InfluxDB line protocol, one point per line"))
        return [
            Endpoint(.post, "/api/v1/ingest", .requires(.ingest), group: "Telemetry", summary: "Store a JSON batch of samples",
                     description: "Answered after the commit that holds the samples. A sample whose tag and time are already stored is a duplicate.",
                     parameters: [Parameter("Idempotency-Key", in: .header, .string(minLength: 1, maxLength: 255),
                                            "A retried request with the same key is answered from the first one and not stored twice"),
                                  encoding],
                     body: .json(Self.batch),
                     responses: [.json(200, "Committed", Self.ingestResult),
                                 .problem(409, "A request with this Idempotency-Key is still being processed")] + ingestErrors) { request, context in
                try await ingestJSON(request, context)
            },
            Endpoint(.post, "/api/v2/write", .requires(.ingest), group: "Telemetry", summary: "InfluxDB v2 line protocol write (Telegraf outputs.influxdb_v2)",
                     parameters: [Parameter("bucket", .string(maxLength: 300), "site/[area/]line completing machine tags"),
                                  Parameter("org", .string(maxLength: 200), "Ignored (Gemba's tenant comes from the credentials)"),
                                  Parameter("precision", .oneOf(["ns", "us", "ms", "s"]), "Timestamp unit (default ns)"), encoding],
                     body: lineBody, responses: [.empty(204, "Committed")] + ingestErrors) { request, context in
                try await lineProtocol(request, context, precision: request.uri.queryParameters["precision"].map(String.init),
                                       bucket: request.uri.queryParameters["bucket"].map(String.init))
            },
            Endpoint(.post, "/write", .requires(.ingest), group: "Telemetry", summary: "InfluxDB v1 line protocol write (Telegraf outputs.influxdb)",
                     parameters: [Parameter("db", .string(maxLength: 300), "site/[area/]line completing machine tags"),
                                  Parameter("precision", .oneOf(["n", "ns", "u", "us", "ms", "s", "m", "h"]), "Timestamp unit (default ns)"),
                                  encoding],
                     body: lineBody, responses: [.empty(204, "Committed")] + ingestErrors) { request, context in
                try await lineProtocol(request, context, precision: request.uri.queryParameters["precision"].map(String.init),
                                       bucket: request.uri.queryParameters["db"].map(String.init))
            },
        ]
    }

    // MARK: Schemas

    static let quality = TelemetrySchemas.quality
    /// A value as a device sends it: a scalar, or an object with its own quality, unit and time.
    static let sentValue = Schema.oneOf([
        .number, .boolean, .string(maxLength: 1024),
        Schema.object(["value": Schema.oneOf([.number, .boolean, .string(maxLength: 1024)]), "quality": quality,
                       "unit": .string(maxLength: 64), "ts": Self.time], optional: ["quality", "unit", "ts"]).named("ValueWithDetails"),
    ]).named("SentValue")
    static let time = Schema.oneOf([Schema.integer.described("Epoch ms"), .string(format: "date-time")]).named("SentTime")
    static let record = Schema.object([
        "machine": TelemetrySchemas.machinePath, "ts": time, "quality": quality,
        "values": Schema.map(sentValue).described("Tag name → value; 1–64 characters of A-Z a-z 0-9 - _ ."),
    ], optional: ["ts", "quality"]).named("Record")
    static let batch = Schema.oneOf([
        Schema.object(["records": .array(record, maxItems: 100_000)]).named("RecordBatch"),
        .array(record, maxItems: 100_000),
    ]).named("Batch")
    static let ingestResult = Schema.object([
        "accepted": Schema.integer(minimum: 0).described("Stored now or stored before (duplicates)"),
        "stored": .integer(minimum: 0), "duplicates": .integer(minimum: 0),
    ]).named("IngestResult")

    private func ingestJSON(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let key {
            guard (1...255).contains(key.utf8.count) else { throw Problem.badRequest("Idempotency-Key must be 1 to 255 characters") }
            switch idempotency.claim(key, tenant: context.tenant, now: Timestamp.now().millisecondsSinceEpoch) {
            case .claimed: break
            case .inProgress:
                throw Problem(.conflict, "a request with this Idempotency-Key is still being processed")
            case .done(let entry):
                return Response(status: .init(code: entry.status),
                                headers: [.contentType: entry.contentType, HTTPField.Name("Idempotent-Replayed")!: "true"],
                                body: .init(byteBuffer: ByteBuffer(bytes: entry.body)))
            }
        }
        do {
            let body = try await self.body(of: request)
            let decoded = server.jsonDecoder.decodeBatch(body.readableBytesView, tenant: context.tenant, now: Timestamp.now())
            let response = try await store(decoded, source: .http, context: context, success: .ok)
            if let key {
                let entry = IdempotencyCache.Entry(status: Int(response.response.status.code), body: Array(buffer: response.bodyBuffer),
                                                   contentType: response.response.headers[.contentType] ?? "application/json")
                idempotency.finish(key, tenant: context.tenant, entry: entry)
            }
            return response.response
        } catch {
            if let key { idempotency.abandon(key, tenant: context.tenant) }
            throw error
        }
    }

    private func lineProtocol(_ request: Request, _ context: GembaRequestContext, precision: String?,
                              bucket: String?) async throws -> Response {
        guard let precision = LineProtocolDecoder.Precision(precision) else {
            throw Problem(.badRequest, "precision must be one of ns, us, ms, s (v1 also n, u, m, h)",
                          extensions: [("code", "\"invalid\"")])
        }
        let body = try await self.body(of: request)
        let decoded = server.lineDecoder.decode(body.readableBytesView, precision: precision,
                                                defaultLine: bucket.flatMap { $0.contains("/") ? $0 : nil },
                                                tenant: context.tenant, now: Timestamp.now())
        return try await store(decoded, source: .lineProtocol, context: context, success: .noContent).response
    }

    /// Collects the body within the size limit, inflating gzip when the request says so.
    private func body(of request: Request) async throws -> ByteBuffer {
        var body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: server.maxIngestBytes)
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, "request body larger than \(server.maxIngestBytes) bytes")
        }
        switch request.headers[.contentEncoding]?.lowercased() {
        case nil, "identity": return body
        case "gzip", "x-gzip":
            do {
                return try body.decompress(with: .gzip(), maxSize: server.maxIngestBytes)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw Problem(.contentTooLarge, "decompressed body larger than \(server.maxIngestBytes) bytes")
            } catch {
                throw Problem.badRequest("body is not valid gzip: \(error)")
            }
        case let other?:
            throw Problem(.unsupportedMediaType, "Content-Encoding \(other) is not supported (use gzip or none)")
        }
    }

    /// A response and its body, kept for the idempotency cache.
    struct Stored {
        var response: Response
        var bodyBuffer: ByteBuffer
    }

    /// Submits the valid points, waits for their commit, and answers with what happened.
    private func store(_ decoded: DecodedPoints, source: IngestSource, context: GembaRequestContext,
                       success: HTTPResponse.Status) async throws -> Stored {
        var decoded = decoded
        if let caller = context.caller, let subtree = caller.subtree {
            // A device writes only inside its subtree; the rest of its batch is refused point by point.
            let (inside, outside) = decoded.points.reduce(into: ([Point](), [Point]())) { split, point in
                if caller.mayWrite(point.series.machine) { split.0.append(point) } else { split.1.append(point) }
            }
            decoded.points = inside
            decoded.errors += outside.map { point in
                PointError(location: "\(point.series.machine)/\(point.series.tag)", code: .forbidden,
                           message: "machine \(point.series.machine) is outside this device's asset subtree \(subtree)")
            }
        }
        server.pipeline.countRejected(decoded.errors, source: source)
        var receipt = IngestReceipt()
        if !decoded.points.isEmpty {
            do {
                receipt = try await server.pipeline.submit(decoded.points, source: source)
            } catch let error as IngestOverloaded {
                throw Problem(.serviceUnavailable, "ingest is busy: \(error); retry shortly",
                              headers: [.retryAfter: "1"])
            } catch {
                // The commit failed (a full disk, a database busy or away): nothing was acknowledged, so a retry loses nothing.
                server.logger.warning("ingest commit failed", metadata: ["error": "\(error)", "ingest.points": "\(decoded.points.count)"])
                throw Problem(.serviceUnavailable, "the samples could not be stored; retry shortly", headers: [.retryAfter: "1"])
            }
        }
        var errors = decoded.errors
        for rejection in receipt.rejected {
            let point = decoded.points[rejection.index]
            errors.append(PointError(location: "\(point.series.machine)/\(point.series.tag)", rejection.error))
        }
        let accepted = receipt.stored + receipt.duplicates
        var json = JSONWriter()
        if errors.isEmpty {
            guard success != .noContent else {
                return Stored(response: Response(status: .noContent), bodyBuffer: ByteBuffer())
            }
            json.object { json in
                json.field("accepted") { $0.int(Int64(accepted)) }
                json.field("stored") { $0.int(Int64(receipt.stored)) }
                json.field("duplicates") { $0.int(Int64(receipt.duplicates)) }
            }
            let response = Response(status: success, headers: [.contentType: "application/json"], body: .init(byteBuffer: json.buffer))
            return Stored(response: response, bodyBuffer: json.buffer)
        }
        server.logger.info("ingest request had rejected items", metadata: [
            "ingest.source": "\(source.rawValue)", "ingest.rejected": "\(errors.count)", "ingest.accepted": "\(accepted)",
            "ingest.first_error": "\(errors[0])",
        ])
        let detail = "\(errors.count) item(s) rejected, \(accepted) accepted; first: \(errors[0])"
        json.object { json in
            json.field("type") { $0.string("about:blank") }
            json.field("title") { $0.string("Bad Request") }
            json.field("status") { $0.int(400) }
            json.field("detail") { $0.string(detail) }
            // InfluxDB clients read `code`/`message` (v2) and `error` (v1).
            json.field("code") { $0.string("invalid") }
            json.field("message") { $0.string(detail) }
            json.field("error") { $0.string(detail) }
            json.field("accepted") { $0.int(Int64(accepted)) }
            json.field("stored") { $0.int(Int64(receipt.stored)) }
            json.field("errors") { json in
                json.array { json in
                    for error in errors.prefix(100) {
                        json.object { json in
                            json.field("location") { $0.string(error.location) }
                            json.field("code") { $0.string(error.code.name) }
                            json.field("message") { $0.string(error.message) }
                        }
                    }
                }
            }
        }
        let response = Response(status: .badRequest, headers: [.contentType: "application/problem+json"],
                                body: .init(byteBuffer: json.buffer))
        return Stored(response: response, bodyBuffer: json.buffer)
    }
}
