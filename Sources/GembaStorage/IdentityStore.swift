public import GembaCore

/// Why an identity write was refused.
public struct IdentityStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A unique name (email, device username, tenant id) is taken.
        case conflict
        /// The object does not exist (in that tenant).
        case notFound
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// What an access token's holder currently is: read on every request, so that a disabled user,
/// a removed membership or a revoked session takes effect at once, not when the token expires.
public struct SessionStanding: Sendable, Hashable {
    public var user: User
    public var role: Role?
    public var sessionRevoked: Bool

    public init(user: User, role: Role?, sessionRevoked: Bool) {
        self.user = user
        self.role = role
        self.sessionRevoked = sessionRevoked
    }
}

/// Filters for reading the audit log; all optional.
public struct AuditQuery: Sendable, Hashable {
    public var from: Timestamp?
    public var to: Timestamp?
    public var actor: String?
    /// An action or a prefix ending in `.` (`auth.` matches every auth event).
    public var action: String?
    public var limit: Int

    public init(from: Timestamp? = nil, to: Timestamp? = nil, actor: String? = nil, action: String? = nil, limit: Int = 1000) {
        self.from = from
        self.to = to
        self.actor = actor
        self.action = action
        self.limit = limit
    }
}

/// Tenants, users, memberships, sessions, keys, device credentials, invitations and the audit log.
/// Secrets are never stored: only hashes. Every tenant-owned object is read and written with its tenant.
public protocol IdentityStore: Sendable {
    // Tenants
    func createTenant(_ tenant: TenantID, name: String, at: Timestamp) async throws
    func tenants() async throws -> [(id: TenantID, name: String)]

    // Users and memberships
    /// Creates a user and, when given, its first membership, in one transaction (nobody ever sees
    /// the user without it); a taken email is a conflict.
    func createUser(_ user: User, membership: Membership?) async throws
    func user(id: String) async throws -> User?
    func user(email: String) async throws -> User?
    func userCount() async throws -> Int
    func setPassword(userID: String, hash: String) async throws
    func setDisabled(userID: String, _ disabled: Bool) async throws
    /// Adds or changes a membership.
    func setMembership(_ membership: Membership) async throws
    /// Returns whether there was one.
    func removeMembership(tenant: TenantID, userID: String) async throws -> Bool
    func memberships(userID: String) async throws -> [Membership]
    func members(tenant: TenantID) async throws -> [(user: User, role: Role)]

    // Sessions and refresh tokens
    func createSession(_ session: Session, token: RefreshToken) async throws
    func refreshToken(hash: String) async throws -> RefreshToken?
    func session(id: String) async throws -> Session?
    /// Marks `old` used and stores `new`, atomically; false (and nothing stored) when `old` was already used.
    func rotate(old: String, usedAt: Timestamp, new: RefreshToken) async throws -> Bool
    func revokeSession(id: String, at: Timestamp) async throws
    /// Revokes every live session of the user, but `except`; returns how many.
    func revokeSessions(userID: String, except: String?, at: Timestamp) async throws -> Int
    /// The user, their role in `tenant` and whether `sessionID` is revoked; nil for an unknown user.
    func standing(userID: String, tenant: TenantID, sessionID: String) async throws -> SessionStanding?

    // API keys
    func createAPIKey(_ key: APIKey) async throws
    func apiKey(id: String) async throws -> APIKey?
    func apiKeys(tenant: TenantID) async throws -> [APIKey]
    /// Returns false when the tenant has no such active key.
    func revokeAPIKey(tenant: TenantID, id: String, at: Timestamp) async throws -> Bool
    func touchAPIKey(id: String, at: Timestamp) async throws

    // Device credentials
    func createDevice(_ device: DeviceCredential) async throws
    func device(username: String) async throws -> DeviceCredential?
    func devices(tenant: TenantID) async throws -> [DeviceCredential]
    func revokeDevice(tenant: TenantID, id: String, at: Timestamp) async throws -> Bool
    func touchDevice(id: String, at: Timestamp) async throws

    // Invitations
    func createInvitation(_ invitation: Invitation) async throws
    func invitation(tokenHash: String) async throws -> Invitation?
    func invitations(tenant: TenantID) async throws -> [Invitation]
    /// Marks it accepted; false when it already was.
    func acceptInvitation(id: String, at: Timestamp) async throws -> Bool
    /// Deletes a tenant's invitation nobody has accepted; false when the tenant has no such open one.
    func withdrawInvitation(tenant: TenantID, id: String) async throws -> Bool

    // Audit log (append-only)
    func append(_ events: [AuditEvent]) async throws
    func audit(tenant: TenantID, _ query: AuditQuery) async throws -> [AuditEvent]
}
