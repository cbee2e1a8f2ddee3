public import GembaCore
internal import Foundation
internal import GRDB

/// The identity store in its own SQLite file (`identity.sqlite` beside the telemetry database), so
/// that sign-ins and audit writes never queue behind ingest commits. Every commit is fsynced.
/// The audit table refuses UPDATE and DELETE through triggers: it is append-only even to SQL.
public final class SQLiteIdentityStore: IdentityStore {
    private let pool: DatabasePool
    /// The database file.
    let path: String

    /// Opens (creating if needed) `identity.sqlite` in `directory` and runs the migrations.
    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-identity") { db in
            try db.execute(sql: """
                CREATE TABLE tenant (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_ms INTEGER NOT NULL);
                CREATE TABLE user (
                    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
                    password_hash TEXT, disabled INTEGER NOT NULL, created_ms INTEGER NOT NULL
                );
                CREATE TABLE membership (
                    tenant TEXT NOT NULL, user_id TEXT NOT NULL REFERENCES user(id), role TEXT NOT NULL,
                    PRIMARY KEY (tenant, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX membership_user ON membership(user_id);
                CREATE TABLE session (
                    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, tenant TEXT NOT NULL,
                    created_ms INTEGER NOT NULL, revoked_ms INTEGER
                );
                CREATE INDEX session_user ON session(user_id);
                CREATE TABLE refresh_token (
                    hash TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES session(id),
                    issued_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, used_ms INTEGER
                ) WITHOUT ROWID;
                CREATE TABLE api_key (
                    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
                    secret_hash TEXT NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,
                    expires_ms INTEGER, revoked_ms INTEGER, last_used_ms INTEGER
                );
                CREATE TABLE device (
                    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, username TEXT NOT NULL UNIQUE,
                    secret_hash TEXT NOT NULL, subtree TEXT, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,
                    revoked_ms INTEGER, last_used_ms INTEGER
                );
                CREATE TABLE invitation (
                    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, email TEXT NOT NULL, role TEXT NOT NULL,
                    token_hash TEXT NOT NULL UNIQUE, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,
                    expires_ms INTEGER NOT NULL, accepted_ms INTEGER
                );
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, t INTEGER NOT NULL,
                    actor_kind TEXT NOT NULL, actor_id TEXT NOT NULL, actor_name TEXT NOT NULL,
                    action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL,
                    source_ip TEXT NOT NULL, request_id TEXT NOT NULL, detail TEXT NOT NULL
                );
                CREATE INDEX audit_tenant_time ON audit(tenant, t);
                CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                """)
        }
        return migrator
    }

    /// Runs a write, turning unique-constraint violations into ``IdentityStoreError/Code/conflict``.
    private func write<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE
                                               || error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw IdentityStoreError(.conflict, "\(what) already exists")
        }
    }

    // MARK: Tenants

    public func createTenant(_ tenant: TenantID, name: String, at: Timestamp) async throws {
        try await write("tenant \(tenant)") { db in
            try db.execute(sql: "INSERT INTO tenant (id, name, created_ms) VALUES (?, ?, ?)",
                           arguments: [tenant.rawValue, name, at.millisecondsSinceEpoch])
        }
    }

    public func tenants() async throws -> [(id: TenantID, name: String)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, name FROM tenant ORDER BY id").compactMap { row in
                TenantID(row["id"] as String).map { (id: $0, name: row["name"] as String) }
            }
        }
    }

    // MARK: Users and memberships

    public func createUser(_ user: User, membership: Membership?) async throws {
        try await write("a user with email \(user.email)") { db in
            try db.execute(sql: """
                INSERT INTO user (id, email, display_name, password_hash, disabled, created_ms) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [user.id, user.email, user.displayName, user.passwordHash, user.disabled,
                                 user.createdAt.millisecondsSinceEpoch])
            if let membership {
                try db.execute(sql: "INSERT INTO membership (tenant, user_id, role) VALUES (?, ?, ?)",
                               arguments: [membership.tenant.rawValue, membership.userID, membership.role.rawValue])
            }
        }
    }

    public func user(id: String) async throws -> User? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM user WHERE id = ?", arguments: [id]).map(Self.user) }
    }

    public func user(email: String) async throws -> User? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM user WHERE email = ?", arguments: [email.lowercased()]).map(Self.user)
        }
    }

    public func userCount() async throws -> Int {
        try await pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM user") ?? 0 }
    }

    public func setPassword(userID: String, hash: String) async throws {
        try await update("user", sql: "UPDATE user SET password_hash = ? WHERE id = ?", [hash, userID])
    }

    public func setDisabled(userID: String, _ disabled: Bool) async throws {
        try await update("user", sql: "UPDATE user SET disabled = ? WHERE id = ?", [disabled, userID])
    }

    /// Runs an UPDATE that must change one row; throws not found otherwise.
    private func update(_ what: String, sql: String, _ arguments: StatementArguments) async throws {
        let changed = try await pool.write { db in
            try db.execute(sql: sql, arguments: arguments)
            return db.changesCount
        }
        guard changed > 0 else { throw IdentityStoreError(.notFound, "no such \(what)") }
    }

    public func setMembership(_ membership: Membership) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO membership (tenant, user_id, role) VALUES (?, ?, ?)
                ON CONFLICT (tenant, user_id) DO UPDATE SET role = excluded.role
                """, arguments: [membership.tenant.rawValue, membership.userID, membership.role.rawValue])
        }
    }

    public func removeMembership(tenant: TenantID, userID: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM membership WHERE tenant = ? AND user_id = ?", arguments: [tenant.rawValue, userID])
            return db.changesCount > 0
        }
    }

    public func memberships(userID: String) async throws -> [Membership] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT tenant, user_id, role FROM membership WHERE user_id = ? ORDER BY tenant",
                             arguments: [userID]).compactMap { row in
                guard let tenant = TenantID(row["tenant"] as String), let role = Role(rawValue: row["role"]) else { return nil }
                return Membership(tenant: tenant, userID: row["user_id"], role: role)
            }
        }
    }

    public func members(tenant: TenantID) async throws -> [(user: User, role: Role)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT user.*, membership.role AS member_role FROM membership JOIN user ON user.id = membership.user_id
                WHERE membership.tenant = ? ORDER BY user.email
                """, arguments: [tenant.rawValue]).compactMap { row in
                Role(rawValue: row["member_role"]).map { (Self.user(row), $0) }
            }
        }
    }

    // MARK: Sessions

    public func createSession(_ session: Session, token: RefreshToken) async throws {
        try await write("session") { db in
            try db.execute(sql: "INSERT INTO session (id, user_id, tenant, created_ms) VALUES (?, ?, ?, ?)",
                           arguments: [session.id, session.userID, session.tenant.rawValue, session.createdAt.millisecondsSinceEpoch])
            try Self.insert(token, db)
        }
    }

    private static func insert(_ token: RefreshToken, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO refresh_token (hash, session_id, issued_ms, expires_ms) VALUES (?, ?, ?, ?)",
                       arguments: [token.hash, token.sessionID, token.issuedAt.millisecondsSinceEpoch, token.expiresAt.millisecondsSinceEpoch])
    }

    public func refreshToken(hash: String) async throws -> RefreshToken? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM refresh_token WHERE hash = ?", arguments: [hash]).map { row in
                RefreshToken(hash: row["hash"], sessionID: row["session_id"], issuedAt: Self.time(row["issued_ms"])!,
                             expiresAt: Self.time(row["expires_ms"])!, usedAt: Self.time(row["used_ms"]))
            }
        }
    }

    public func session(id: String) async throws -> Session? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM session WHERE id = ?", arguments: [id]).flatMap { row in
                TenantID(row["tenant"] as String).map { tenant in
                    Session(id: row["id"], userID: row["user_id"], tenant: tenant, createdAt: Self.time(row["created_ms"])!,
                            revokedAt: Self.time(row["revoked_ms"]))
                }
            }
        }
    }

    public func rotate(old: String, usedAt: Timestamp, new: RefreshToken) async throws -> Bool {
        try await write("refresh token") { db in
            try db.execute(sql: "UPDATE refresh_token SET used_ms = ? WHERE hash = ? AND used_ms IS NULL",
                           arguments: [usedAt.millisecondsSinceEpoch, old])
            guard db.changesCount == 1 else { return false }
            try Self.insert(new, db)
            return true
        }
    }

    public func revokeSession(id: String, at: Timestamp) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE session SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                           arguments: [at.millisecondsSinceEpoch, id])
        }
    }

    public func revokeSessions(userID: String, except: String?, at: Timestamp) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE session SET revoked_ms = ? WHERE user_id = ? AND revoked_ms IS NULL AND id IS NOT ?",
                           arguments: [at.millisecondsSinceEpoch, userID, except])
            return db.changesCount
        }
    }

    public func standing(userID: String, tenant: TenantID, sessionID: String) async throws -> SessionStanding? {
        try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT user.*, membership.role AS member_role,
                       (SELECT revoked_ms IS NOT NULL OR user_id != user.id OR tenant != ? FROM session WHERE id = ?) AS revoked
                FROM user LEFT JOIN membership ON membership.user_id = user.id AND membership.tenant = ?
                WHERE user.id = ?
                """, arguments: [tenant.rawValue, sessionID, tenant.rawValue, userID]) else { return nil }
            let revoked: Bool? = row["revoked"]
            return SessionStanding(user: Self.user(row), role: (row["member_role"] as String?).flatMap(Role.init(rawValue:)),
                                   sessionRevoked: revoked ?? true)
        }
    }

    // MARK: API keys

    public func createAPIKey(_ key: APIKey) async throws {
        try await write("API key") { db in
            try db.execute(sql: """
                INSERT INTO api_key (id, tenant, name, role, secret_hash, created_by, created_ms, expires_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [key.id, key.tenant.rawValue, key.name, key.role.rawValue, key.secretHash, key.createdBy,
                                 key.createdAt.millisecondsSinceEpoch, key.expiresAt?.millisecondsSinceEpoch])
        }
    }

    public func apiKey(id: String) async throws -> APIKey? {
        try await pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE id = ?", arguments: [id]).flatMap(Self.apiKey) }
    }

    public func apiKeys(tenant: TenantID) async throws -> [APIKey] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_key WHERE tenant = ? ORDER BY created_ms", arguments: [tenant.rawValue])
                .compactMap(Self.apiKey)
        }
    }

    public func revokeAPIKey(tenant: TenantID, id: String, at: Timestamp) async throws -> Bool {
        try await revoke(in: "api_key", tenant: tenant, id: id, at: at)
    }

    public func touchAPIKey(id: String, at: Timestamp) async throws {
        try await touch(in: "api_key", id: id, at: at)
    }

    // MARK: Devices

    public func createDevice(_ device: DeviceCredential) async throws {
        try await write("device \(device.username)") { db in
            try db.execute(sql: """
                INSERT INTO device (id, tenant, username, secret_hash, subtree, created_by, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [device.id, device.tenant.rawValue, device.username, device.secretHash, device.subtree?.description,
                                 device.createdBy, device.createdAt.millisecondsSinceEpoch])
        }
    }

    public func device(username: String) async throws -> DeviceCredential? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM device WHERE username = ?", arguments: [username]).flatMap(Self.device)
        }
    }

    public func devices(tenant: TenantID) async throws -> [DeviceCredential] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM device WHERE tenant = ? ORDER BY username", arguments: [tenant.rawValue])
                .compactMap(Self.device)
        }
    }

    public func revokeDevice(tenant: TenantID, id: String, at: Timestamp) async throws -> Bool {
        try await revoke(in: "device", tenant: tenant, id: id, at: at)
    }

    public func touchDevice(id: String, at: Timestamp) async throws {
        try await touch(in: "device", id: id, at: at)
    }

    /// Marks a tenant's credential (API key or device) revoked; false when it has no such active one.
    private func revoke(in table: String, tenant: TenantID, id: String, at: Timestamp) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE \(table) SET revoked_ms = ? WHERE tenant = ? AND id = ? AND revoked_ms IS NULL",
                           arguments: [at.millisecondsSinceEpoch, tenant.rawValue, id])
            return db.changesCount > 0
        }
    }

    /// Records when a credential was last used.
    private func touch(in table: String, id: String, at: Timestamp) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE \(table) SET last_used_ms = ? WHERE id = ?", arguments: [at.millisecondsSinceEpoch, id])
        }
    }

    // MARK: Invitations

    public func createInvitation(_ invitation: Invitation) async throws {
        try await write("invitation") { db in
            try db.execute(sql: """
                INSERT INTO invitation (id, tenant, email, role, token_hash, created_by, created_ms, expires_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [invitation.id, invitation.tenant.rawValue, invitation.email, invitation.role.rawValue,
                                 invitation.tokenHash, invitation.createdBy, invitation.createdAt.millisecondsSinceEpoch,
                                 invitation.expiresAt.millisecondsSinceEpoch])
        }
    }

    public func invitation(tokenHash: String) async throws -> Invitation? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM invitation WHERE token_hash = ?", arguments: [tokenHash]).flatMap(Self.invitation)
        }
    }

    public func invitations(tenant: TenantID) async throws -> [Invitation] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM invitation WHERE tenant = ? ORDER BY created_ms", arguments: [tenant.rawValue])
                .compactMap(Self.invitation)
        }
    }

    public func acceptInvitation(id: String, at: Timestamp) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "UPDATE invitation SET accepted_ms = ? WHERE id = ? AND accepted_ms IS NULL",
                           arguments: [at.millisecondsSinceEpoch, id])
            return db.changesCount > 0
        }
    }

    public func withdrawInvitation(tenant: TenantID, id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM invitation WHERE tenant = ? AND id = ? AND accepted_ms IS NULL", arguments: [tenant.rawValue, id])
            return db.changesCount > 0
        }
    }

    // MARK: Audit

    public func append(_ events: [AuditEvent]) async throws {
        guard !events.isEmpty else { return }
        try await pool.write { db in
            let statement = try db.cachedStatement(sql: """
                INSERT INTO audit (tenant, t, actor_kind, actor_id, actor_name, action, target, outcome, source_ip, request_id, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for event in events {
                try statement.execute(arguments: [event.tenant.rawValue, event.time.millisecondsSinceEpoch, event.actorKind,
                                                  event.actorID, event.actorName, event.action, event.target, event.outcome,
                                                  event.sourceIP, event.requestID, event.detail])
            }
        }
    }

    public func audit(tenant: TenantID, _ query: AuditQuery) async throws -> [AuditEvent] {
        var sql = "SELECT * FROM audit WHERE tenant = ?"
        var arguments: StatementArguments = [tenant.rawValue]
        if let from = query.from { sql += " AND t >= ?"; _ = arguments.append(contentsOf: [from.millisecondsSinceEpoch]) }
        if let to = query.to { sql += " AND t < ?"; _ = arguments.append(contentsOf: [to.millisecondsSinceEpoch]) }
        if let actor = query.actor { sql += " AND (actor_name = ? OR actor_id = ?)"; _ = arguments.append(contentsOf: [actor, actor]) }
        if let action = query.action {
            if action.hasSuffix(".") {
                sql += " AND substr(action, 1, ?) = ?"
                _ = arguments.append(contentsOf: [action.utf8.count, action])
            } else {
                sql += " AND action = ?"
                _ = arguments.append(contentsOf: [action])
            }
        }
        sql += " ORDER BY id DESC LIMIT ?"
        _ = arguments.append(contentsOf: [query.limit])
        let (finalSQL, finalArguments) = (sql, arguments)
        return try await pool.read { db in
            try Row.fetchAll(db, sql: finalSQL, arguments: finalArguments).compactMap { row in
                guard let tenant = TenantID(row["tenant"] as String) else { return nil }
                return AuditEvent(id: row["id"], tenant: tenant, time: Self.time(row["t"])!, actorKind: row["actor_kind"],
                                  actorID: row["actor_id"], actorName: row["actor_name"], action: row["action"],
                                  target: row["target"], outcome: row["outcome"], sourceIP: row["source_ip"],
                                  requestID: row["request_id"], detail: row["detail"])
            }
        }
    }

    // MARK: Rows

    private static func time(_ milliseconds: Int64?) -> Timestamp? { milliseconds.map(Timestamp.init(millisecondsSinceEpoch:)) }

    private static func user(_ row: Row) -> User {
        User(id: row["id"], email: row["email"], displayName: row["display_name"], passwordHash: row["password_hash"],
             disabled: row["disabled"], createdAt: time(row["created_ms"])!)
    }

    private static func apiKey(_ row: Row) -> APIKey? {
        guard let tenant = TenantID(row["tenant"] as String), let role = Role(rawValue: row["role"]) else { return nil }
        return APIKey(id: row["id"], tenant: tenant, name: row["name"], role: role, secretHash: row["secret_hash"],
                      createdBy: row["created_by"], createdAt: time(row["created_ms"])!, expiresAt: time(row["expires_ms"]),
                      revokedAt: time(row["revoked_ms"]), lastUsedAt: time(row["last_used_ms"]))
    }

    private static func device(_ row: Row) -> DeviceCredential? {
        guard let tenant = TenantID(row["tenant"] as String) else { return nil }
        let subtree = (row["subtree"] as String?).flatMap { try? AssetSubtree($0) }
        return DeviceCredential(id: row["id"], tenant: tenant, username: row["username"], secretHash: row["secret_hash"],
                                subtree: subtree, createdBy: row["created_by"], createdAt: time(row["created_ms"])!,
                                revokedAt: time(row["revoked_ms"]), lastUsedAt: time(row["last_used_ms"]))
    }

    private static func invitation(_ row: Row) -> Invitation? {
        guard let tenant = TenantID(row["tenant"] as String), let role = Role(rawValue: row["role"]) else { return nil }
        return Invitation(id: row["id"], tenant: tenant, email: row["email"], role: role, tokenHash: row["token_hash"],
                          createdBy: row["created_by"], createdAt: time(row["created_ms"])!, expiresAt: time(row["expires_ms"])!,
                          acceptedAt: time(row["accepted_ms"]))
    }
}
