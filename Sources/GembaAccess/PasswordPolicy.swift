internal import HummingbirdBcrypt

/// Passwords: checked against a minimum policy, stored as bcrypt hashes, never kept or logged in clear.
public struct PasswordPolicy: Sendable {
    /// bcrypt's work factor; each step doubles the time of a hash (12 ≈ 250 ms on one core here).
    public var cost: UInt8
    public var minimumLength: Int

    public init(cost: UInt8 = 12, minimumLength: Int = 12) {
        self.cost = cost
        self.minimumLength = minimumLength
    }

    /// Throws ``AccessError`` (invalid) naming the rule a new password breaks.
    public func check(_ password: String) throws(AccessError) {
        guard password.count >= minimumLength else {
            throw AccessError(.invalid, "the password must have at least \(minimumLength) characters")
        }
        // bcrypt reads only the first 72 bytes: a longer password would be silently truncated.
        guard password.utf8.count <= 72 else { throw AccessError(.invalid, "the password must be at most 72 bytes long") }
    }

    public func hash(_ password: String) -> String { Bcrypt.hash(password, cost: cost) }

    public func verify(_ password: String, hash: String) -> Bool { Bcrypt.verify(password, hash: hash) }
}
