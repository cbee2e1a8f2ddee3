/// The header of every service request (Part 4 §7.32).
public struct RequestHeader: Sendable, Hashable, UAEncodable {
    public var authenticationToken: NodeId = .null
    public var timestamp: UADateTime
    public var requestHandle: UInt32
    public var returnDiagnostics: UInt32 = 0
    public var auditEntryId: String? = nil
    /// ms the client waits; 0: no hint.
    public var timeoutHint: UInt32

    public init(authenticationToken: NodeId = .null, timestamp: UADateTime, requestHandle: UInt32, timeoutHint: UInt32 = 0) {
        self.authenticationToken = authenticationToken
        self.timestamp = timestamp
        self.requestHandle = requestHandle
        self.timeoutHint = timeoutHint
    }

    public func encode(to writer: inout UAWriter) {
        authenticationToken.encode(to: &writer)
        timestamp.encode(to: &writer)
        writer.uint32(requestHandle)
        writer.uint32(returnDiagnostics)
        writer.string(auditEntryId)
        writer.uint32(timeoutHint)
        ExtensionObject.empty.encode(to: &writer)
    }
}

/// The header of every service response (Part 4 §7.33).
public struct ResponseHeader: Sendable, Hashable, UADecodable {
    public var timestamp: UADateTime
    public var requestHandle: UInt32
    public var serviceResult: StatusCode
    public var diagnostics: DiagnosticInfo
    public var stringTable: [String]

    public init(from reader: inout UAReader) throws(UADecodingError) {
        timestamp = try UADateTime(from: &reader)
        requestHandle = try reader.uint32()
        serviceResult = try StatusCode(from: &reader)
        diagnostics = try DiagnosticInfo(from: &reader)
        stringTable = try reader.array { (reader: inout UAReader) throws(UADecodingError) in try reader.string() ?? "" }
        _ = try ExtensionObject(from: &reader)
    }
}

/// A service request: its body after the header, and the response it expects.
public protocol ServiceRequest: Sendable {
    associatedtype Response: ServiceResponse
    /// The node id of the request's DefaultBinary encoding.
    static var encodingId: UInt32 { get }
    /// The fields after the request header.
    func encodeBody(to writer: inout UAWriter)
}

/// A service response: its fields after the header.
public protocol ServiceResponse: Sendable {
    static var encodingId: UInt32 { get }
    init(body reader: inout UAReader) throws(UADecodingError)
}

/// Node ids of DefaultBinary encodings the client needs beyond its requests and responses (Part 6, NodeIds.csv).
public enum EncodingId {
    public static let serviceFault: UInt32 = 397
    public static let anonymousIdentityToken: UInt32 = 321
    public static let userNameIdentityToken: UInt32 = 324
    public static let x509IdentityToken: UInt32 = 327
    public static let dataChangeFilter: UInt32 = 724
    public static let dataChangeNotification: UInt32 = 811
    public static let statusChangeNotification: UInt32 = 820
    public static let eventNotificationList: UInt32 = 916
}

/// A request as it travels: type id, header, body.
func encodeRequest<R: ServiceRequest>(_ request: R, header: RequestHeader) -> [UInt8] {
    var writer = UAWriter()
    NodeId(R.encodingId).encode(to: &writer)
    header.encode(to: &writer)
    request.encodeBody(to: &writer)
    return writer.bytes
}

/// Reads a response of the expected type, or the server's ServiceFault, or a bad service result, as an error.
func decodeResponse<R: ServiceResponse>(_: R.Type, from body: [UInt8]) throws(OPCUAError) -> (ResponseHeader, R) {
    var reader = UAReader(body)
    do {
        let typeId = try NodeId(from: &reader)
        let header = try ResponseHeader(from: &reader)
        if typeId == NodeId(EncodingId.serviceFault) || header.serviceResult.isBad {
            throw OPCUAError(.service, "the server refused the request", status: header.serviceResult)
        }
        guard typeId == NodeId(R.encodingId) else {
            throw OPCUAError(.protocolViolation, "expected a response of type \(R.encodingId), got \(typeId)")
        }
        return (header, try R(body: &reader))
    } catch let error as UADecodingError {
        throw OPCUAError(.protocolViolation, "\(error)")
    } catch let error as OPCUAError {
        throw error
    } catch {
        throw OPCUAError(.protocolViolation, "\(error)")
    }
}
