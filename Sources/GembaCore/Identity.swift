/// A person who signs in. Users exist once across tenants; what they may do in each tenant is a ``Membership``.
public struct User: Sendable, Hashable {
    public var id: String
    /// Lower-cased; unique.
    public var email: String
    public var displayName: String
    /// bcrypt hash; nil until an invitation is accepted.
    public var passwordHash: String?
    public var disabled: Bool
    public var createdAt: Timestamp

    public init(id: String, email: String, displayName: String, passwordHash: String?, disabled: Bool = false,
                createdAt: Timestamp) {
        self.id = id
        self.email = email
        self.displayName = displayName
        self.passwordHash = passwordHash
        self.disabled = disabled
        self.createdAt = createdAt
    }
}

/// A user's role in one tenant.
public struct Membership: Sendable, Hashable {
    public var tenant: TenantID
    public var userID: String
    public var role: Role

    public init(tenant: TenantID, userID: String, role: Role) {
        self.tenant = tenant
        self.userID = userID
        self.role = role
    }
}

/// One sign-in: the family of refresh tokens that rotate from one login. Revoking it ends the session.
public struct Session: Sendable, Hashable {
    public var id: String
    public var userID: String
    public var tenant: TenantID
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?

    public init(id: String, userID: String, tenant: TenantID, createdAt: Timestamp, revokedAt: Timestamp? = nil) {
        self.id = id
        self.userID = userID
        self.tenant = tenant
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// A refresh token as stored: only the hash of the secret the client holds.
public struct RefreshToken: Sendable, Hashable {
    public var hash: String
    public var sessionID: String
    public var issuedAt: Timestamp
    public var expiresAt: Timestamp
    /// Set when the token was exchanged for a new one; presenting it again means it leaked.
    public var usedAt: Timestamp?

    public init(hash: String, sessionID: String, issuedAt: Timestamp, expiresAt: Timestamp, usedAt: Timestamp? = nil) {
        self.hash = hash
        self.sessionID = sessionID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
        self.usedAt = usedAt
    }
}

/// A credential for services and scripts, acting with a role in one tenant.
public struct APIKey: Sendable, Hashable {
    public var id: String
    public var tenant: TenantID
    public var name: String
    public var role: Role
    /// SHA-256 of the secret part (the secret is random, so a fast hash is enough).
    public var secretHash: String
    public var createdBy: String
    public var createdAt: Timestamp
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?
    public var lastUsedAt: Timestamp?

    public init(id: String, tenant: TenantID, name: String, role: Role, secretHash: String, createdBy: String,
                createdAt: Timestamp, expiresAt: Timestamp? = nil, revokedAt: Timestamp? = nil, lastUsedAt: Timestamp? = nil) {
        self.id = id
        self.tenant = tenant
        self.name = name
        self.role = role
        self.secretHash = secretHash
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }

    public func isActive(at now: Timestamp) -> Bool {
        revokedAt == nil && (expiresAt.map { now < $0 } ?? true)
    }
}

/// What a gateway or machine signs in with over MQTT or HTTP ingest: bound to a tenant and an asset subtree.
public struct DeviceCredential: Sendable, Hashable {
    public var id: String
    public var tenant: TenantID
    /// Unique across tenants (it is the MQTT username).
    public var username: String
    /// SHA-256 of the generated secret.
    public var secretHash: String
    /// Where the device may write; nil: anywhere in its tenant.
    public var subtree: AssetSubtree?
    public var createdBy: String
    public var createdAt: Timestamp
    public var revokedAt: Timestamp?
    public var lastUsedAt: Timestamp?

    public init(id: String, tenant: TenantID, username: String, secretHash: String, subtree: AssetSubtree?,
                createdBy: String, createdAt: Timestamp, revokedAt: Timestamp? = nil, lastUsedAt: Timestamp? = nil) {
        self.id = id
        self.tenant = tenant
        self.username = username
        self.secretHash = secretHash
        self.subtree = subtree
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.revokedAt = revokedAt
        self.lastUsedAt = lastUsedAt
    }
}

/// An admin's invitation of an email address to a role; accepted once, before it expires.
public struct Invitation: Sendable, Hashable {
    public var id: String
    public var tenant: TenantID
    public var email: String
    public var role: Role
    public var tokenHash: String
    public var createdBy: String
    public var createdAt: Timestamp
    public var expiresAt: Timestamp
    public var acceptedAt: Timestamp?

    public init(id: String, tenant: TenantID, email: String, role: Role, tokenHash: String, createdBy: String,
                createdAt: Timestamp, expiresAt: Timestamp, acceptedAt: Timestamp? = nil) {
        self.id = id
        self.tenant = tenant
        self.email = email
        self.role = role
        self.tokenHash = tokenHash
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.acceptedAt = acceptedAt
    }
}

/// One line of the audit log: who did what to which object, when, from where, and how it ended.
public struct AuditEvent: Sendable, Hashable {
    public var id: Int64
    public var tenant: TenantID
    public var time: Timestamp
    /// `user`, `api_key`, `device`, `anonymous` or `system`.
    public var actorKind: String
    public var actorID: String
    public var actorName: String
    /// A dotted verb: `auth.login`, `auth.refresh_reuse`, `api_key.create`, `http.post`…
    public var action: String
    public var target: String
    /// `success`, `failure` or `denied`, or an HTTP status for requests.
    public var outcome: String
    public var sourceIP: String
    public var requestID: String
    /// Free text without secrets.
    public var detail: String

    public init(id: Int64 = 0, tenant: TenantID, time: Timestamp, actorKind: String, actorID: String, actorName: String,
                action: String, target: String, outcome: String, sourceIP: String, requestID: String, detail: String = "") {
        self.id = id
        self.tenant = tenant
        self.time = time
        self.actorKind = actorKind
        self.actorID = actorID
        self.actorName = actorName
        self.action = action
        self.target = target
        self.outcome = outcome
        self.sourceIP = sourceIP
        self.requestID = requestID
        self.detail = detail
    }
}
