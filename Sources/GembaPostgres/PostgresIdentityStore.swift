public import GembaCore
public import GembaStorage
internal import Logging
internal import PostgresNIO

/// The identity store in PostgreSQL: users, memberships, sessions, keys, devices, invitations
/// and the audit log, in the same database as the rest (its own tables, see ``PostgresSchema``),
/// through the store's pool. The audit table refuses UPDATE, DELETE and TRUNCATE through triggers.
public final class PostgresIdentityStore: IdentityStore {
    /// The store whose pool this one uses (held: the pool lives as long as its store).
    private let store: PostgresStore
    var client: PostgresPool { store.client }
    private var logger: Logger { store.logger }

    /// The identity store of `store`'s database.
    public init(_ store: PostgresStore) {
        self.store = store
    }

    /// Runs a statement, turning unique-constraint violations into ``IdentityStoreError/Code/conflict``.
    private func write(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws {
        do {
            try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch where PostgresStoreError.sqlState(of: error) == "23505" {
            throw IdentityStoreError(.conflict, "\(what) already exists")
        }
    }

    private static func time(_ milliseconds: Int64?) -> Timestamp? { milliseconds.map(Timestamp.init(millisecondsSinceEpoch:)) }

    // MARK: Tenants

    public func createTenant(_ tenant: TenantID, name: String, at: Timestamp) async throws {
        try await write("tenant \(tenant)") { connection in
            try await connection.query("""
                INSERT INTO identity_tenant (id, name, created_ms) VALUES (\(tenant.rawValue), \(name), \(at.millisecondsSinceEpoch))
                """, logger: self.logger)
        }
    }

    public func tenants() async throws -> [(id: TenantID, name: String)] {
        var result: [(id: TenantID, name: String)] = []
        for try await (id, name) in try await client.query("SELECT id, name FROM identity_tenant ORDER BY id", logger: logger)
            .decode((String, String).self) {
            if let tenant = TenantID(id) { result.append((tenant, name)) }
        }
        return result
    }

    // MARK: Users and memberships

    static let userColumns = "u.id, u.email, u.display_name, u.password_hash, u.disabled, u.created_ms"
    typealias UserRow = (String, String, String, String?, Bool, Int64)

    private static func user(_ row: UserRow) -> User {
        User(id: row.0, email: row.1, displayName: row.2, passwordHash: row.3, disabled: row.4, createdAt: Timestamp(millisecondsSinceEpoch: row.5))
    }

    public func createUser(_ user: User, membership: Membership?) async throws {
        try await write("a user with email \(user.email)") { connection in
            try await connection.query("""
                INSERT INTO app_user (id, email, display_name, password_hash, disabled, created_ms)
                VALUES (\(user.id), \(user.email), \(user.displayName), \(user.passwordHash), \(user.disabled), \(user.createdAt.millisecondsSinceEpoch))
                """, logger: self.logger)
            if let membership {
                try await connection.query("""
                    INSERT INTO membership (tenant, user_id, role) VALUES (\(membership.tenant.rawValue), \(membership.userID), \(membership.role.rawValue))
                    """, logger: self.logger)
            }
        }
    }

    private func users(_ query: PostgresQuery) async throws -> [User] {
        var result: [User] = []
        for try await row in try await client.query(query, logger: logger).decode(UserRow.self) { result.append(Self.user(row)) }
        return result
    }

    public func user(id: String) async throws -> User? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.userColumns) FROM app_user u WHERE u.id = \(id)"
        return try await users(query).first
    }

    public func user(email: String) async throws -> User? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.userColumns) FROM app_user u WHERE u.email = \(email.lowercased())"
        return try await users(query).first
    }

    public func userCount() async throws -> Int {
        for try await count in try await client.query("SELECT count(*) FROM app_user", logger: logger).decode(Int64.self) { return Int(count) }
        return 0
    }

    public func setPassword(userID: String, hash: String) async throws {
        guard try await store.execute("UPDATE app_user SET password_hash = \(hash) WHERE id = \(userID)") > 0 else {
            throw IdentityStoreError(.notFound, "no such user")
        }
    }

    public func setDisabled(userID: String, _ disabled: Bool) async throws {
        guard try await store.execute("UPDATE app_user SET disabled = \(disabled) WHERE id = \(userID)") > 0 else {
            throw IdentityStoreError(.notFound, "no such user")
        }
    }

    public func setMembership(_ membership: Membership) async throws {
        try await client.query("""
            INSERT INTO membership (tenant, user_id, role) VALUES (\(membership.tenant.rawValue), \(membership.userID), \(membership.role.rawValue))
            ON CONFLICT (tenant, user_id) DO UPDATE SET role = excluded.role
            """, logger: logger)
    }

    public func removeMembership(tenant: TenantID, userID: String) async throws -> Bool {
        try await store.execute("DELETE FROM membership WHERE tenant = \(tenant.rawValue) AND user_id = \(userID)") > 0
    }

    public func memberships(userID: String) async throws -> [Membership] {
        var result: [Membership] = []
        let rows = try await client.query("SELECT tenant, role FROM membership WHERE user_id = \(userID) ORDER BY tenant", logger: logger)
        for try await (tenant, role) in rows.decode((String, String).self) {
            guard let tenant = TenantID(tenant), let role = Role(rawValue: role) else { continue }
            result.append(Membership(tenant: tenant, userID: userID, role: role))
        }
        return result
    }

    public func members(tenant: TenantID) async throws -> [(user: User, role: Role)] {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.userColumns), m.role FROM membership m JOIN app_user u ON u.id = m.user_id WHERE m.tenant = \(tenant.rawValue) ORDER BY u.email
            """
        var result: [(user: User, role: Role)] = []
        for try await (id, email, name, hash, disabled, created, role)
            in try await client.query(query, logger: logger).decode((String, String, String, String?, Bool, Int64, String).self) {
            guard let role = Role(rawValue: role) else { continue }
            result.append((Self.user((id, email, name, hash, disabled, created)), role))
        }
        return result
    }

    // MARK: Sessions

    public func createSession(_ session: Session, token: RefreshToken) async throws {
        try await write("session") { connection in
            try await connection.query("""
                INSERT INTO session (id, user_id, tenant, created_ms)
                VALUES (\(session.id), \(session.userID), \(session.tenant.rawValue), \(session.createdAt.millisecondsSinceEpoch))
                """, logger: self.logger)
            try await self.insert(token, on: connection)
        }
    }

    private func insert(_ token: RefreshToken, on connection: PostgresConnection) async throws {
        try await connection.query("""
            INSERT INTO refresh_token (hash, session_id, issued_ms, expires_ms)
            VALUES (\(token.hash), \(token.sessionID), \(token.issuedAt.millisecondsSinceEpoch), \(token.expiresAt.millisecondsSinceEpoch))
            """, logger: logger)
    }

    public func refreshToken(hash: String) async throws -> RefreshToken? {
        let rows = try await client.query("SELECT session_id, issued_ms, expires_ms, used_ms FROM refresh_token WHERE hash = \(hash)", logger: logger)
        for try await (session, issued, expires, used) in rows.decode((String, Int64, Int64, Int64?).self) {
            return RefreshToken(hash: hash, sessionID: session, issuedAt: Timestamp(millisecondsSinceEpoch: issued),
                                expiresAt: Timestamp(millisecondsSinceEpoch: expires), usedAt: Self.time(used))
        }
        return nil
    }

    public func session(id: String) async throws -> Session? {
        let rows = try await client.query("SELECT user_id, tenant, created_ms, revoked_ms FROM session WHERE id = \(id)", logger: logger)
        for try await (user, tenant, created, revoked) in rows.decode((String, String, Int64, Int64?).self) {
            guard let tenant = TenantID(tenant) else { return nil }
            return Session(id: id, userID: user, tenant: tenant, createdAt: Timestamp(millisecondsSinceEpoch: created), revokedAt: Self.time(revoked))
        }
        return nil
    }

    /// Marks `old` used and stores `new`, in one transaction; false when `old` was used already.
    public func rotate(old: String, usedAt: Timestamp, new: RefreshToken) async throws -> Bool {
        try await client.withTransaction(logger: logger) { connection in
            let used = try await self.store.execute("""
                UPDATE refresh_token SET used_ms = \(usedAt.millisecondsSinceEpoch) WHERE hash = \(old) AND used_ms IS NULL
                """, on: connection)
            guard used == 1 else { return false }
            try await self.insert(new, on: connection)
            return true
        }
    }

    public func revokeSession(id: String, at: Timestamp) async throws {
        try await client.query("UPDATE session SET revoked_ms = \(at.millisecondsSinceEpoch) WHERE id = \(id) AND revoked_ms IS NULL",
                               logger: logger)
    }

    public func revokeSessions(userID: String, except: String?, at: Timestamp) async throws -> Int {
        try await store.execute("""
            UPDATE session SET revoked_ms = \(at.millisecondsSinceEpoch)
            WHERE user_id = \(userID) AND revoked_ms IS NULL AND id IS DISTINCT FROM \(except)
            """)
    }

    public func standing(userID: String, tenant: TenantID, sessionID: String) async throws -> SessionStanding? {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.userColumns), m.role,
                   (SELECT s.revoked_ms IS NOT NULL OR s.user_id <> u.id OR s.tenant <> \(tenant.rawValue) FROM session s WHERE s.id = \(sessionID))
            FROM app_user u LEFT JOIN membership m ON m.user_id = u.id AND m.tenant = \(tenant.rawValue)
            WHERE u.id = \(userID)
            """
        for try await (id, email, name, hash, disabled, created, role, revoked)
            in try await client.query(query, logger: logger).decode((String, String, String, String?, Bool, Int64, String?, Bool?).self) {
            return SessionStanding(user: Self.user((id, email, name, hash, disabled, created)), role: role.flatMap(Role.init(rawValue:)),
                                   sessionRevoked: revoked ?? true)
        }
        return nil
    }

    // MARK: API keys

    public func createAPIKey(_ key: APIKey) async throws {
        try await write("API key") { connection in
            try await connection.query("""
                INSERT INTO api_key (id, tenant, name, role, secret_hash, created_by, created_ms, expires_ms)
                VALUES (\(key.id), \(key.tenant.rawValue), \(key.name), \(key.role.rawValue), \(key.secretHash), \(key.createdBy),
                        \(key.createdAt.millisecondsSinceEpoch), \(key.expiresAt?.millisecondsSinceEpoch))
                """, logger: self.logger)
        }
    }

    static let keyColumns = "id, tenant, name, role, secret_hash, created_by, created_ms, expires_ms, revoked_ms, last_used_ms"

    private func apiKeys(_ query: PostgresQuery) async throws -> [APIKey] {
        var result: [APIKey] = []
        for try await (id, tenant, name, role, hash, createdBy, created, expires, revoked, used)
            in try await client.query(query, logger: logger).decode((String, String, String, String, String, String, Int64, Int64?, Int64?, Int64?).self) {
            guard let tenant = TenantID(tenant), let role = Role(rawValue: role) else { continue }
            result.append(APIKey(id: id, tenant: tenant, name: name, role: role, secretHash: hash, createdBy: createdBy,
                                 createdAt: Timestamp(millisecondsSinceEpoch: created), expiresAt: Self.time(expires), revokedAt: Self.time(revoked),
                                 lastUsedAt: Self.time(used)))
        }
        return result
    }

    public func apiKey(id: String) async throws -> APIKey? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.keyColumns) FROM api_key WHERE id = \(id)"
        return try await apiKeys(query).first
    }

    public func apiKeys(tenant: TenantID) async throws -> [APIKey] {
        let query: PostgresQuery = "SELECT \(unescaped: Self.keyColumns) FROM api_key WHERE tenant = \(tenant.rawValue) ORDER BY created_ms"
        return try await apiKeys(query)
    }

    public func revokeAPIKey(tenant: TenantID, id: String, at: Timestamp) async throws -> Bool {
        try await revoke(in: "api_key", tenant: tenant, id: id, at: at)
    }

    public func touchAPIKey(id: String, at: Timestamp) async throws {
        try await touch(in: "api_key", id: id, at: at)
    }

    // MARK: Devices

    public func createDevice(_ device: DeviceCredential) async throws {
        try await write("device \(device.username)") { connection in
            try await connection.query("""
                INSERT INTO device (id, tenant, username, secret_hash, subtree, created_by, created_ms)
                VALUES (\(device.id), \(device.tenant.rawValue), \(device.username), \(device.secretHash), \(device.subtree?.description),
                        \(device.createdBy), \(device.createdAt.millisecondsSinceEpoch))
                """, logger: self.logger)
        }
    }

    static let deviceColumns = "id, tenant, username, secret_hash, subtree, created_by, created_ms, revoked_ms, last_used_ms"

    private func devices(_ query: PostgresQuery) async throws -> [DeviceCredential] {
        var result: [DeviceCredential] = []
        for try await (id, tenant, username, hash, subtree, createdBy, created, revoked, used)
            in try await client.query(query, logger: logger).decode((String, String, String, String, String?, String, Int64, Int64?, Int64?).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(DeviceCredential(id: id, tenant: tenant, username: username, secretHash: hash,
                                           subtree: subtree.flatMap { try? AssetSubtree($0) }, createdBy: createdBy,
                                           createdAt: Timestamp(millisecondsSinceEpoch: created), revokedAt: Self.time(revoked),
                                           lastUsedAt: Self.time(used)))
        }
        return result
    }

    public func device(username: String) async throws -> DeviceCredential? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.deviceColumns) FROM device WHERE username = \(username)"
        return try await devices(query).first
    }

    public func devices(tenant: TenantID) async throws -> [DeviceCredential] {
        let query: PostgresQuery = "SELECT \(unescaped: Self.deviceColumns) FROM device WHERE tenant = \(tenant.rawValue) ORDER BY username"
        return try await devices(query)
    }

    public func revokeDevice(tenant: TenantID, id: String, at: Timestamp) async throws -> Bool {
        try await revoke(in: "device", tenant: tenant, id: id, at: at)
    }

    public func touchDevice(id: String, at: Timestamp) async throws {
        try await touch(in: "device", id: id, at: at)
    }

    /// Marks a tenant's credential (API key or device) revoked; false when it has no such active one.
    private func revoke(in table: String, tenant: TenantID, id: String, at: Timestamp) async throws -> Bool {
        let query: PostgresQuery = """
            UPDATE \(unescaped: table) SET revoked_ms = \(at.millisecondsSinceEpoch) WHERE tenant = \(tenant.rawValue) AND id = \(id) AND revoked_ms IS NULL
            """
        return try await store.execute(query) > 0
    }

    /// Records when a credential was last used.
    private func touch(in table: String, id: String, at: Timestamp) async throws {
        let query: PostgresQuery = "UPDATE \(unescaped: table) SET last_used_ms = \(at.millisecondsSinceEpoch) WHERE id = \(id)"
        try await client.query(query, logger: logger)
    }

    // MARK: Invitations

    public func createInvitation(_ invitation: Invitation) async throws {
        try await write("invitation") { connection in
            try await connection.query("""
                INSERT INTO invitation (id, tenant, email, role, token_hash, created_by, created_ms, expires_ms)
                VALUES (\(invitation.id), \(invitation.tenant.rawValue), \(invitation.email), \(invitation.role.rawValue),
                        \(invitation.tokenHash), \(invitation.createdBy), \(invitation.createdAt.millisecondsSinceEpoch),
                        \(invitation.expiresAt.millisecondsSinceEpoch))
                """, logger: self.logger)
        }
    }

    static let invitationColumns = "id, tenant, email, role, token_hash, created_by, created_ms, expires_ms, accepted_ms"

    private func invitations(_ query: PostgresQuery) async throws -> [Invitation] {
        var result: [Invitation] = []
        for try await (id, tenant, email, role, hash, createdBy, created, expires, accepted)
            in try await client.query(query, logger: logger).decode((String, String, String, String, String, String, Int64, Int64, Int64?).self) {
            guard let tenant = TenantID(tenant), let role = Role(rawValue: role) else { continue }
            result.append(Invitation(id: id, tenant: tenant, email: email, role: role, tokenHash: hash, createdBy: createdBy,
                                     createdAt: Timestamp(millisecondsSinceEpoch: created), expiresAt: Timestamp(millisecondsSinceEpoch: expires),
                                     acceptedAt: Self.time(accepted)))
        }
        return result
    }

    public func invitation(tokenHash: String) async throws -> Invitation? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.invitationColumns) FROM invitation WHERE token_hash = \(tokenHash)"
        return try await invitations(query).first
    }

    public func invitations(tenant: TenantID) async throws -> [Invitation] {
        let query: PostgresQuery = "SELECT \(unescaped: Self.invitationColumns) FROM invitation WHERE tenant = \(tenant.rawValue) ORDER BY created_ms"
        return try await invitations(query)
    }

    public func acceptInvitation(id: String, at: Timestamp) async throws -> Bool {
        try await store.execute("UPDATE invitation SET accepted_ms = \(at.millisecondsSinceEpoch) WHERE id = \(id) AND accepted_ms IS NULL") > 0
    }

    public func withdrawInvitation(tenant: TenantID, id: String) async throws -> Bool {
        try await store.execute("DELETE FROM invitation WHERE tenant = \(tenant.rawValue) AND id = \(id) AND accepted_ms IS NULL") > 0
    }

    // MARK: Audit

    public func append(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        try await client.withTransaction(logger: logger) { connection in
            for event in events {
                try await connection.query("""
                    INSERT INTO audit (tenant, t, actor_kind, actor_id, actor_name, action, target, outcome, source_ip, request_id, detail)
                    VALUES (\(event.tenant.rawValue), \(event.time.millisecondsSinceEpoch), \(event.actorKind), \(event.actorID),
                            \(event.actorName), \(event.action), \(event.target), \(event.outcome), \(event.sourceIP), \(event.requestID),
                            \(event.detail))
                    """, logger: self.logger)
            }
        }
    }

    public func audit(tenant: TenantID, _ query: AuditQuery) async throws -> [AuditEvent] {
        // An action ending in "." is a prefix (`auth.` takes every auth event).
        let prefix = query.action?.hasSuffix(".") == true
        let (from, to) = (query.from?.millisecondsSinceEpoch, query.to?.millisecondsSinceEpoch)
        let statement: PostgresQuery = """
            SELECT id, tenant, t, actor_kind, actor_id, actor_name, action, target, outcome, source_ip, request_id, detail FROM audit
            WHERE tenant = \(tenant.rawValue) AND (\(from)::int8 IS NULL OR t >= \(from)) AND (\(to)::int8 IS NULL OR t < \(to))
                AND (\(query.actor)::text IS NULL OR actor_name = \(query.actor) OR actor_id = \(query.actor))
                AND (\(query.action)::text IS NULL OR action = \(query.action)
                     OR (\(prefix) AND left(action, length(\(query.action))) = \(query.action)))
            ORDER BY id DESC LIMIT \(Int64(query.limit))
            """
        var result: [AuditEvent] = []
        for try await (id, tenantID, time, kind, actorID, actorName, action, target, outcome, ip, request, detail)
            in try await client.query(statement, logger: logger)
            .decode((Int64, String, Int64, String, String, String, String, String, String, String, String, String).self) {
            guard let tenant = TenantID(tenantID) else { continue }
            result.append(AuditEvent(id: id, tenant: tenant, time: Timestamp(millisecondsSinceEpoch: time), actorKind: kind, actorID: actorID,
                                     actorName: actorName, action: action, target: target, outcome: outcome, sourceIP: ip,
                                     requestID: request, detail: detail))
        }
        return result
    }
}
