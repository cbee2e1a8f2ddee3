/// What went wrong talking to an OPC UA server, with the server's status code where it gave one.
public struct OPCUAError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The connection could not be made, or it closed.
        case connection
        /// The server sent something the protocol does not allow (a malformed message, a sequence gap…).
        case protocolViolation
        /// The server answered a service with a bad status.
        case service
        /// No answer in time.
        case timeout
        /// Security: a policy, certificate or identity was refused.
        case security
        /// The request cannot be made as asked (a limit, a bad node id text…).
        case invalidRequest
    }

    public var kind: Kind
    public var status: StatusCode?
    public var message: String

    public init(_ kind: Kind, _ message: String, status: StatusCode? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
    }

    public var description: String { status.map { "\(message): \($0)" } ?? message }
}
