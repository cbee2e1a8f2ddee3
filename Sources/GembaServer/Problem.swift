internal import GembaCore
public import Hummingbird
internal import NIOCore

/// An RFC 9457 `application/problem+json` error response.
public struct Problem: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var title: String
    public var detail: String
    /// Extension members, already encoded as JSON values.
    public var extensions: [(String, String)]
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ detail: String, title: String? = nil,
                extensions: [(String, String)] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.extensions = extensions
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var json = JSONWriter()
        json.object { json in
            json.field("type") { $0.string("about:blank") }
            json.field("title") { $0.string(title) }
            json.field("status") { $0.int(Int64(status.code)) }
            json.field("detail") { $0.string(detail) }
            for (key, value) in extensions { json.field(key) { $0.raw(value) } }
        }
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: json.buffer))
    }

    static func badRequest(_ detail: String) -> Problem { Problem(.badRequest, detail) }
    static func notFound(_ detail: String) -> Problem { Problem(.notFound, detail) }
}

extension Problem {
    /// The HTTP form of a rule a request broke in a core module: 404 for what does not exist,
    /// 409 for a collision with what exists, 422 for the rest (the request was well formed).
    init(_ error: ModelError) {
        switch error.code {
        case .notFound: self.init(.notFound, error.message)
        case .conflict: self.init(.conflict, error.message)
        default: self.init(.unprocessableContent, error.message)
        }
    }
}

/// Runs a call into a core module (the OEE engine, the asset model), turning its model errors into problems.
@discardableResult
func refusingModelErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as ModelError {
        throw Problem(error)
    }
}
