public import GembaCore
public import GembaStorage
internal import Foundation
public import Logging
internal import Synchronization

/// Where a request came from, for rate limits and the audit log.
public struct RequestOrigin: Sendable, Hashable {
    public var ip: String
    public var requestID: String

    public init(ip: String, requestID: String) {
        self.ip = ip
        self.requestID = requestID
    }

    public static let local = RequestOrigin(ip: "local", requestID: "")
}

/// What a sign-in or refresh hands the client.
public struct TokenPair: Sendable, Hashable {
    public var accessToken: String
    public var accessExpiresAt: Timestamp
    public var refreshToken: String
    public var refreshExpiresAt: Timestamp
    public var userID: String
    public var tenant: TenantID
    public var role: Role
}

/// Authentication and account security: sign-in, token refresh with rotation and reuse detection,
/// sign-out, access tokens, API keys, device credentials, rate limits and the security events of
/// the audit log. Management of users, keys and devices is in `AccessService+Management.swift`.
public final class AccessService: Sendable {
    public struct Configuration: Sendable {
        /// Lifetime of an access token (JWT), ms.
        public var accessTokenLifetime: Int64 = 15 * 60_000
        /// Lifetime of each refresh token, ms; every refresh issues a new one.
        public var refreshTokenLifetime: Int64 = 14 * 86_400_000
        /// Lifetime of an invitation, ms.
        public var invitationLifetime: Int64 = 7 * 86_400_000
        /// API keys' and devices' last-used time is written at most this often, ms.
        public var lastUsedInterval: Int64 = 60_000
        public var passwords = PasswordPolicy()
        /// Sign-in attempts per client IP.
        public var loginPerIP = RateLimiter.Rule(perMinute: 10, burst: 10)
        /// Sign-in attempts per account (email).
        public var loginPerAccount = RateLimiter.Rule(perMinute: 5, burst: 5)
        /// Refreshes and invitation acceptances per client IP.
        public var refreshPerIP = RateLimiter.Rule(perMinute: 30, burst: 30)
        /// API requests per principal (user, key or device).
        public var apiPerPrincipal = RateLimiter.Rule(perMinute: 6_000, burst: 1_000)

        public init() {}
    }

    struct Limiters {
        var loginIP: RateLimiter
        var loginAccount: RateLimiter
        var refreshIP: RateLimiter
        var api: RateLimiter
    }

    let store: any IdentityStore
    let signer: TokenSigner
    let configuration: Configuration
    let clock: @Sendable () -> Timestamp
    let logger: Logger
    private let limiters: Mutex<Limiters>
    /// When each key or device's last-used time was last written (bounded: cleared past 10,000 entries).
    private let touched = Mutex<[String: Int64]>([:])
    /// API keys read from the store in the last ``keyCacheLifetime`` ms, by id, so that a service
    /// polling the API does not cost a database read per request. Revocations through this
    /// process drop the entry at once; through `gemba admin` they apply within the lifetime.
    private let keyCache = Mutex<[String: (key: APIKey, readAt: Int64)]>([:])
    static let keyCacheLifetime: Int64 = 5_000
    /// Verified against when an email is unknown, so that the response time does not reveal which accounts exist.
    private let decoyHash: String

    public init(store: any IdentityStore, signer: TokenSigner, configuration: Configuration = Configuration(),
                clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() }, logger: Logger) {
        self.store = store
        self.signer = signer
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        limiters = Mutex(Limiters(loginIP: RateLimiter(configuration.loginPerIP), loginAccount: RateLimiter(configuration.loginPerAccount),
                                  refreshIP: RateLimiter(configuration.refreshPerIP), api: RateLimiter(configuration.apiPerPrincipal)))
        decoyHash = configuration.passwords.hash(Secrets.random())
    }

    // MARK: Sign-in and sessions

    /// Signs a user in to `tenant` (or their only or first tenant); throws unauthorized with one
    /// message for every wrong email/password case, rate-limited per IP and per account.
    public func login(email: String, password: String, tenant requested: TenantID?, origin: RequestOrigin) async throws -> TokenPair {
        let email = email.lowercased()
        try limit(\.loginIP, "ip:\(origin.ip)", action: "auth.login", origin: origin)
        try limit(\.loginAccount, "account:\(email)", action: "auth.login", origin: origin)
        let refused = AccessError(.unauthorized, "wrong email or password")
        guard let user = try await store.user(email: email), let hash = user.passwordHash else {
            _ = configuration.passwords.verify(password, hash: decoyHash)
            await audit(requested ?? .default, actor: ("anonymous", "", email), "auth.login", target: email, outcome: "failure",
                        origin: origin, detail: "unknown account")
            throw refused
        }
        let memberships = try await store.memberships(userID: user.id)
        guard configuration.passwords.verify(password, hash: hash) else {
            await audit(requested ?? memberships.first?.tenant ?? .default, actor: ("user", user.id, email), "auth.login", target: email, outcome: "failure",
                        origin: origin, detail: "wrong password")
            throw refused
        }
        guard !user.disabled,
              let membership = requested.map({ tenant in memberships.first { $0.tenant == tenant } }) ?? memberships.first else {
            await audit(requested ?? .default, actor: ("user", user.id, email), "auth.login", target: email, outcome: "denied",
                        origin: origin, detail: user.disabled ? "account disabled" : "no membership in the tenant")
            throw AccessError(.unauthorized, user.disabled ? "this account is disabled" : "this account has no access to the tenant")
        }
        let pair = try await startSession(user: user, membership: membership)
        await audit(membership.tenant, actor: ("user", user.id, email), "auth.login", target: email, outcome: "success", origin: origin)
        return pair
    }

    /// Opens a session for a user who has just proven who they are.
    func startSession(user: User, membership: Membership) async throws -> TokenPair {
        let now = clock()
        let session = Session(id: Secrets.identifier(), userID: user.id, tenant: membership.tenant, createdAt: now)
        let (secret, token) = newRefreshToken(session: session.id, now: now)
        try await store.createSession(session, token: token)
        return try await pair(user: user.id, tenant: membership.tenant, role: membership.role, session: session.id,
                              refresh: secret, refreshExpires: token.expiresAt, now: now)
    }

    /// Exchanges a refresh token for a new pair. A token presented a second time has leaked (or was
    /// stolen): the whole session is revoked and the event audited.
    public func refresh(_ refreshToken: String, origin: RequestOrigin) async throws -> TokenPair {
        try limitRefresh(origin)
        let now = clock()
        let refused = AccessError(.unauthorized, "invalid or expired refresh token; sign in again")
        guard let stored = try await store.refreshToken(hash: Secrets.hash(refreshToken)),
              let session = try await store.session(id: stored.sessionID) else { throw refused }
        let actor = ("user", session.userID, session.userID)
        guard session.revokedAt == nil else { throw refused }
        if stored.usedAt != nil {
            try await revokeForReuse(session, actor: actor, origin: origin)
            throw refused
        }
        guard now < stored.expiresAt else { throw refused }
        guard let standing = try await store.standing(userID: session.userID, tenant: session.tenant, sessionID: session.id),
              !standing.user.disabled, let role = standing.role else {
            try await store.revokeSession(id: session.id, at: now)
            throw refused
        }
        let (secret, next) = newRefreshToken(session: session.id, now: now)
        guard try await store.rotate(old: stored.hash, usedAt: now, new: next) else {
            // Used concurrently by someone else between our read and our write: the same leak.
            try await revokeForReuse(session, actor: actor, origin: origin)
            throw refused
        }
        return try await pair(user: session.userID, tenant: session.tenant, role: role, session: session.id,
                              refresh: secret, refreshExpires: next.expiresAt, now: now)
    }

    private func revokeForReuse(_ session: Session, actor: (String, String, String), origin: RequestOrigin) async throws {
        try await store.revokeSession(id: session.id, at: clock())
        logger.warning("refresh token reused; session revoked", metadata: ["auth.session": "\(session.id)", "auth.user": "\(session.userID)"])
        await audit(session.tenant, actor: actor, "auth.refresh_reuse", target: "session \(session.id)", outcome: "denied",
                    origin: origin, detail: "a rotated refresh token was presented again; the session was revoked")
    }

    /// Ends the caller's session (their refresh token stops working; so do access tokens of it).
    public func logout(_ caller: Caller, origin: RequestOrigin) async throws {
        guard caller.kind == .user, let session = caller.session else { throw AccessError(.invalid, "only a signed-in user can sign out") }
        try await store.revokeSession(id: session, at: clock())
        await audit(caller, "auth.logout", target: "session \(session)", outcome: "success", origin: origin)
    }

    /// Ends every session of the caller, on every device.
    public func logoutEverywhere(_ caller: Caller, origin: RequestOrigin) async throws {
        guard caller.kind == .user else { throw AccessError(.invalid, "only a signed-in user can sign out") }
        let count = try await store.revokeSessions(userID: caller.id, except: nil, at: clock())
        await audit(caller, "auth.logout_everywhere", target: caller.name, outcome: "success", origin: origin, detail: "\(count) sessions")
    }

    /// Changes the caller's password; every other session of theirs is ended.
    public func changePassword(_ caller: Caller, current: String, new: String, origin: RequestOrigin) async throws {
        guard caller.kind == .user, let user = try await store.user(id: caller.id), let hash = user.passwordHash else {
            throw AccessError(.invalid, "only a signed-in user can change their password")
        }
        guard configuration.passwords.verify(current, hash: hash) else {
            await audit(caller, "auth.password_change", target: user.email, outcome: "failure", origin: origin, detail: "wrong current password")
            throw AccessError(.forbidden, "the current password is wrong")
        }
        try configuration.passwords.check(new)
        try await store.setPassword(userID: user.id, hash: configuration.passwords.hash(new))
        let count = try await store.revokeSessions(userID: user.id, except: caller.session, at: clock())
        await audit(caller, "auth.password_change", target: user.email, outcome: "success", origin: origin,
                    detail: "\(count) other sessions ended")
    }

    private func newRefreshToken(session: String, now: Timestamp) -> (secret: String, token: RefreshToken) {
        let secret = "grt_" + Secrets.random()
        return (secret, RefreshToken(hash: Secrets.hash(secret), sessionID: session, issuedAt: now,
                                     expiresAt: now.adding(milliseconds: configuration.refreshTokenLifetime)))
    }

    private func pair(user: String, tenant: TenantID, role: Role, session: String, refresh: String, refreshExpires: Timestamp,
                      now: Timestamp) async throws -> TokenPair {
        let expires = now.adding(milliseconds: configuration.accessTokenLifetime)
        let access = try await signer.sign(userID: user, tenant: tenant, sessionID: session, issuedAt: now, expiresAt: expires)
        return TokenPair(accessToken: access, accessExpiresAt: expires, refreshToken: refresh, refreshExpiresAt: refreshExpires,
                         userID: user, tenant: tenant, role: role)
    }

    // MARK: Authenticating requests

    /// The caller an `Authorization` header names: `Bearer <access token or API key>`,
    /// `Token <API key or device username:secret>` (what InfluxDB clients send), or
    /// `Basic` with a device's username and secret (or any username and an API key as password).
    public func authenticate(authorization: String) async throws(AccessError) -> Caller {
        try await credentials(authorization: authorization).caller
    }

    /// Like ``authenticate(authorization:)``, with the access token's expiry for users (nil for keys and devices).
    public func credentials(authorization: String) async throws(AccessError) -> (caller: Caller, expiresAt: Timestamp?) {
        let parts = authorization.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw AccessError(.unauthorized, "malformed Authorization header") }
        let credential = parts[1].trimmingCharacters(in: .whitespaces)
        switch parts[0].lowercased() {
        case "bearer":
            if credential.hasPrefix(APIKeyToken.prefix) { return (try await authenticate(apiKey: credential), nil) }
            let (caller, expiry) = try await authenticateWithExpiry(accessToken: credential)
            return (caller, expiry)
        case "token":
            if credential.hasPrefix(APIKeyToken.prefix) { return (try await authenticate(apiKey: credential), nil) }
            guard let colon = credential.firstIndex(of: ":") else { throw AccessError(.unauthorized, "unknown token") }
            return (try await authenticateDevice(username: String(credential[..<colon]),
                                                 secret: String(credential[credential.index(after: colon)...])), nil)
        case "basic":
            guard let data = Data(base64Encoded: credential), let text = String(data: data, encoding: .utf8),
                  let colon = text.firstIndex(of: ":") else { throw AccessError(.unauthorized, "malformed Basic credentials") }
            return (try await authenticate(username: String(text[..<colon]), secret: String(text[text.index(after: colon)...])), nil)
        default:
            throw AccessError(.unauthorized, "unsupported Authorization scheme \(parts[0])")
        }
    }

    /// The user behind an access token, as they stand now (disabled users, removed memberships and
    /// ended sessions are refused at once); also returns the token's expiry.
    public func authenticate(accessToken: String) async throws(AccessError) -> Caller {
        try await authenticateWithExpiry(accessToken: accessToken).caller
    }

    public func authenticateWithExpiry(accessToken: String) async throws(AccessError) -> (caller: Caller, expiresAt: Timestamp) {
        let content = try await signer.verify(accessToken, now: clock())
        let standing = try await readIdentity {
            try await store.standing(userID: content.userID, tenant: content.tenant, sessionID: content.sessionID)
        }
        guard let standing, !standing.sessionRevoked else { throw AccessError(.unauthorized, "the session has ended; sign in again") }
        guard !standing.user.disabled, let role = standing.role else {
            throw AccessError(.unauthorized, "this account has no access to the tenant")
        }
        let caller = Caller(kind: .user, id: standing.user.id, name: standing.user.email, tenant: content.tenant, role: role,
                            session: content.sessionID)
        return (caller, content.expiresAt)
    }

    public func authenticate(apiKey token: String) async throws(AccessError) -> Caller {
        let refused = AccessError(.unauthorized, "invalid, expired or revoked API key")
        guard let parsed = APIKeyToken(token) else { throw refused }
        let now = clock()
        guard let key = try await cachedAPIKey(id: parsed.id, now: now),
              Secrets.constantTimeEquals(key.secretHash, Secrets.hash(parsed.secret)), key.isActive(at: now) else { throw refused }
        await touch("key:\(key.id)", now) { try await self.store.touchAPIKey(id: key.id, at: now) }
        return Caller(kind: .apiKey, id: key.id, name: key.name, tenant: key.tenant, role: key.role)
    }

    private func cachedAPIKey(id: String, now: Timestamp) async throws(AccessError) -> APIKey? {
        let time = now.millisecondsSinceEpoch
        if let entry = keyCache.withLock({ $0[id] }), time - entry.readAt < Self.keyCacheLifetime { return entry.key }
        guard let key = try await readIdentity({ try await store.apiKey(id: id) }) else { return nil }
        keyCache.withLock { cache in
            if cache.count >= 10_000 { cache.removeAll() }
            cache[id] = (key, time)
        }
        return key
    }

    /// A read of the identity store behind a credential check; a store that cannot be read makes
    /// the check ``AccessError/unavailable`` (503), never a refusal of the credentials.
    private func readIdentity<T>(_ read: () async throws -> T) async throws(AccessError) -> T {
        do {
            return try await read()
        } catch {
            logger.error("identity store read failed", metadata: ["error": "\(error)"])
            throw AccessError.unavailable
        }
    }

    /// Forgets a cached key (after a revocation).
    func forgetAPIKey(id: String) { _ = keyCache.withLock { $0.removeValue(forKey: id) } }

    /// The caller behind a username and password pair (HTTP Basic, MQTT CONNECT): a device's
    /// username and secret, or any username with an API key as the password (what InfluxDB v1
    /// clients and MQTT scripts can send).
    public func authenticate(username: String, secret: String) async throws(AccessError) -> Caller {
        secret.hasPrefix(APIKeyToken.prefix) ? try await authenticate(apiKey: secret)
                                             : try await authenticateDevice(username: username, secret: secret)
    }

    /// A device's caller from its username and secret (HTTP ingest and the MQTT broker).
    public func authenticateDevice(username: String, secret: String) async throws(AccessError) -> Caller {
        let refused = AccessError(.unauthorized, "wrong device username or secret")
        guard let device = try await readIdentity({ try await store.device(username: username) }) else {
            _ = Secrets.constantTimeEquals(Secrets.hash(secret), Secrets.hash(""))
            throw refused
        }
        guard Secrets.constantTimeEquals(device.secretHash, Secrets.hash(secret)), device.revokedAt == nil else { throw refused }
        let now = clock()
        await touch("device:\(device.id)", now) { try await self.store.touchDevice(id: device.id, at: now) }
        return Caller(kind: .device, id: device.id, name: device.username, tenant: device.tenant, role: nil, subtree: device.subtree)
    }

    /// Records a last-used time unless one was written for `key` within the configured interval.
    private func touch(_ key: String, _ now: Timestamp, _ write: @Sendable () async throws -> Void) async {
        let due = touched.withLock { touched -> Bool in
            if let last = touched[key], now.millisecondsSinceEpoch - last < configuration.lastUsedInterval { return false }
            if touched.count >= 10_000 { touched.removeAll() }
            touched[key] = now.millisecondsSinceEpoch
            return true
        }
        guard due else { return }
        do { try await write() } catch { logger.warning("could not record last use", metadata: ["error": "\(error)"]) }
    }

    // MARK: Rate limits

    /// Counts an API request of `caller`; throws rate-limited past the per-principal budget.
    public func limitAPI(_ caller: Caller) throws(AccessError) {
        let key = "\(caller.kind.rawValue):\(caller.id)"
        if let retry = limiters.withLock({ $0.api.take(key, now: clock()) }) {
            throw AccessError(.rateLimited, "too many requests; retry in \(retry) s", retryAfter: retry)
        }
    }

    /// Refreshes and invitation acceptances, per client IP.
    func limitRefresh(_ origin: RequestOrigin) throws(AccessError) {
        try limit(\.refreshIP, "ip:\(origin.ip)", action: "auth.refresh", origin: origin)
    }

    private func limit(_ which: WritableKeyPath<Limiters, RateLimiter>, _ key: String, action: String,
                       origin: RequestOrigin) throws(AccessError) {
        let now = clock()
        if let retry = limiters.withLock({ $0[keyPath: which].take(key, now: now) }) {
            logger.notice("rate limited", metadata: ["auth.action": "\(action)", "http.client_ip": "\(origin.ip)"])
            throw AccessError(.rateLimited, "too many attempts; retry in \(retry) s", retryAfter: retry)
        }
    }

    // MARK: Audit

    /// Appends a security event to the audit log; a failure to write is logged, never hidden.
    func audit(_ tenant: TenantID, actor: (kind: String, id: String, name: String), _ action: String, target: String,
               outcome: String, origin: RequestOrigin, detail: String = "") async {
        let event = AuditEvent(tenant: tenant, time: clock(), actorKind: actor.kind, actorID: actor.id, actorName: actor.name,
                               action: action, target: target, outcome: outcome, sourceIP: origin.ip, requestID: origin.requestID,
                               detail: detail)
        do {
            try await store.append([event])
        } catch {
            logger.error("audit write failed", metadata: ["audit.action": "\(action)", "error": "\(error)"])
        }
    }

    func audit(_ caller: Caller, _ action: String, target: String, outcome: String, origin: RequestOrigin, detail: String = "") async {
        await audit(caller.tenant, actor: (caller.kind.rawValue, caller.id, caller.name), action, target: target, outcome: outcome,
                    origin: origin, detail: detail)
    }

    /// Appends an event the server observed (a mutating request and its status).
    public func record(_ event: AuditEvent) async {
        do { try await store.append([event]) } catch {
            logger.error("audit write failed", metadata: ["audit.action": "\(event.action)", "error": "\(error)"])
        }
    }
}

/// An API key as handed out: `gak_<id>_<secret>`; the id finds the key, the secret proves it.
struct APIKeyToken {
    static let prefix = "gak_"
    var id: String
    var secret: String

    init(id: String, secret: String) {
        self.id = id
        self.secret = secret
    }

    init?(_ token: String) {
        guard token.hasPrefix(Self.prefix) else { return nil }
        let body = token.dropFirst(Self.prefix.count)
        guard let separator = body.firstIndex(of: "_") else { return nil }
        id = String(body[..<separator])
        secret = String(body[body.index(after: separator)...])
        guard !id.isEmpty, !secret.isEmpty else { return nil }
    }

    var text: String { "\(Self.prefix)\(id)_\(secret)" }
}
