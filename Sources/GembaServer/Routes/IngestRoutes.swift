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

    func register(on router: Router<GembaRequestContext>) {
        router.post("/api/v1/ingest") { request, context in
            try await ingestJSON(request, context)
        }
        router.post("/api/v2/write") { request, context in
            try await lineProtocol(request, context, precision: request.uri.queryParameters["precision"].map(String.init),
                                   bucket: request.uri.queryParameters["bucket"].map(String.init))
        }
        router.post("/write") { request, context in
            try await lineProtocol(request, context, precision: request.uri.queryParameters["precision"].map(String.init),
                                   bucket: request.uri.queryParameters["db"].map(String.init))
        }
    }

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
