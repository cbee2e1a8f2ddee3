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
        /// The identity store cannot be read now (its database is down): 503, retry later.
        case unavailable
    }

    public var code: Code
    public var message: String
    /// For ``Code/rateLimited`` and ``Code/unavailable``: seconds until a retry can succeed.
    public var retryAfter: Int?

    public init(_ code: Code, _ message: String, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public var description: String { message }

    /// The store behind the credentials could not be read: nothing is known about them yet.
    static let unavailable = AccessError(.unavailable, "the identity store cannot be read now; retry shortly", retryAfter: 1)
}
