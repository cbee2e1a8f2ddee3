internal import GembaIngest
internal import Hummingbird
internal import NIOCore

/// A small JSON request body (credentials, settings), with field accessors that answer 400 naming the field.
struct RequestBody {
    let json: JSONValue

    static func read(_ request: Request, limit: Int = 64 << 10) async throws -> RequestBody {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem(.contentTooLarge, "request body larger than \(limit) bytes")
        }
        do {
            let json = try JSONParser.parse(buffer.readableBytesView)
            guard case .object = json else { throw Problem.badRequest("the body must be a JSON object") }
            return RequestBody(json: json)
        } catch let error as JSONError {
            throw Problem.badRequest("\(error)")
        }
    }

    func string(_ name: String) throws -> String {
        guard let value = optionalString(name) else { throw Problem.badRequest("\"\(name)\" is required and must be a string") }
        return value
    }

    func optionalString(_ name: String) -> String? {
        if case .string(let value)? = json[name] { return value }
        return nil
    }

    func optionalInt(_ name: String) throws -> Int64? {
        switch json[name] {
        case nil, .null?: return nil
        case .integer(let value)?: return value
        default: throw Problem.badRequest("\"\(name)\" must be an integer")
        }
    }
}

extension Response {
    /// A JSON response from the writer's buffer.
    static func json(_ json: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: .init(byteBuffer: json.buffer))
    }
}
