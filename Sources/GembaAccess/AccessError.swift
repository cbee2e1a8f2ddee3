/// Why an access operation was refused; the server maps the code to an HTTP status.
public struct AccessError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// No valid credentials (401).
        case unauthorized
        /// Authenticated, but the role does not allow it (403).
        case forbidden
        /// No such object in the caller's tenant (404).
        case notFound
        /// Bad input (400).
        case invalid
        /// A unique name is taken (409).
        case conflict
        /// Too many attempts (429).
        case rateLimited
    }

    public var code: Code
    public var message: String
    /// For ``Code/rateLimited``: seconds until a retry can succeed.
    public var retryAfter: Int?

    public init(_ code: Code, _ message: String, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { message }
}
