public import GembaCore
public import GembaStorage
internal import Foundation

/// A secret shown once, with what it belongs to.
public struct Issued<Object: Sendable>: Sendable {
    public var object: Object
    /// The secret (API key, device secret, invitation token): shown once, stored only as a hash.
    public var secret: String
}

/// Managing people, keys and devices. The route decides whether the caller may manage at all;
/// these methods add the rules that depend on the object: nobody grants more than they hold,
/// only owners touch owners, a tenant keeps at least one owner, and everything is in the caller's tenant.
extension AccessService {
    // MARK: Bootstrap

    /// On a store without users: creates the tenant and its owner. Returns the password when it
    /// was generated (to be shown once), nil when `password` was given or users already exist.
    /// Several nodes starting together on one database race here: the one that finds the tenant or
    /// the owner already made by another leaves them be.
    public func bootstrap(tenant: TenantID, email: String, password: String?) async throws -> String? {
        guard try await store.userCount() == 0 else { return nil }
        let chosen = password ?? Secrets.random(bytes: 15)
        do {
            if try await !store.tenants().contains(where: { $0.id == tenant }) {
                try await store.createTenant(tenant, name: tenant.rawValue, at: clock())
            }
            try await createUser(email: email, displayName: "Owner", password: chosen, tenant: tenant, role: .owner)
        } catch let error as IdentityStoreError where error.code == .conflict {
            try await awaitOwner()
            return nil
        } catch let error as AccessError where error.code == .conflict {
            try await awaitOwner()
            return nil
        }
        return password == nil ? chosen : nil
    }

    /// Another node is creating the owner (it made the tenant or the user first): waits, up to
    /// 30 s, until the owner is there, so that this node answers sign-ins only once it can.
    private func awaitOwner() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while try await store.userCount() == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Creates a tenant; refuses an id that exists.
    public func createTenant(_ tenant: TenantID, name: String) async throws {
        do {
            try await store.createTenant(tenant, name: name, at: clock())
        } catch let error as IdentityStoreError where error.code == .conflict {
            throw AccessError(.conflict, "tenant \(tenant) already exists")
        }
        await audit(.system(tenant), "tenant.create", target: tenant.rawValue, outcome: "success", origin: .local)
    }

    public func allTenants() async throws -> [(id: TenantID, name: String)] { try await store.tenants() }

    /// Throws not found unless the tenant exists; with `createDefault`, the default tenant is made on demand.
    public func ensureTenant(_ tenant: TenantID, createDefault: Bool) async throws {
        guard try await !store.tenants().contains(where: { $0.id == tenant }) else { return }
        guard createDefault, tenant == .default else { throw AccessError(.notFound, "no tenant \(tenant); create it first") }
        try await store.createTenant(tenant, name: tenant.rawValue, at: clock())
    }

    /// Creates a user with a password and a membership (`gemba admin`, bootstrap).
    @discardableResult
    public func createUser(email: String, displayName: String, password: String, tenant: TenantID, role: Role) async throws -> User {
        try configuration.passwords.check(password)
        let email = try Self.normalized(email: email)
        let user = User(id: Secrets.identifier(), email: email, displayName: displayName,
                        passwordHash: configuration.passwords.hash(password), createdAt: clock())
        try await store.createUser(user, membership: Membership(tenant: tenant, userID: user.id, role: role))
        await audit(.system(tenant), "user.create", target: email, outcome: "success", origin: .local, detail: "role \(role.rawValue)")
        return user
    }

    /// Sets a new password (`gemba admin user reset-password`) and ends every session of the user.
    public func resetPassword(email: String, password: String) async throws {
        try configuration.passwords.check(password)
        guard let user = try await store.user(email: email.lowercased()) else { throw AccessError(.notFound, "no user \(email)") }
        try await store.setPassword(userID: user.id, hash: configuration.passwords.hash(password))
        let ended = try await store.revokeSessions(userID: user.id, except: nil, at: clock())
        for membership in try await store.memberships(userID: user.id) {
            await audit(.system(membership.tenant), "user.password_reset", target: user.email, outcome: "success", origin: .local,
                        detail: "\(ended) sessions ended")
        }
    }

    /// Disables (or enables) a user everywhere; disabling ends every session at once.
    public func setDisabled(email: String, _ disabled: Bool) async throws {
        guard let user = try await store.user(email: email.lowercased()) else { throw AccessError(.notFound, "no user \(email)") }
        try await store.setDisabled(userID: user.id, disabled)
        if disabled { _ = try await store.revokeSessions(userID: user.id, except: nil, at: clock()) }
        for membership in try await store.memberships(userID: user.id) {
            await audit(.system(membership.tenant), disabled ? "user.disable" : "user.enable", target: user.email, outcome: "success",
                        origin: .local)
        }
    }

    static func normalized(email: String) throws(AccessError) -> String {
        let email = email.trimmingCharacters(in: .whitespaces).lowercased()
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), email.utf8.count <= 254,
              !email.contains(where: { $0.isWhitespace }) else {
            throw AccessError(.invalid, "\"\(email)\" is not an email address")
        }
        return email
    }

    // MARK: Members and invitations

    /// Invites an email to the caller's tenant with `role`; the token (shown once) sets the password.
    public func invite(_ caller: Caller, email: String, role: Role, origin: RequestOrigin) async throws -> Issued<Invitation> {
        try Self.mayGrant(role, caller)
        let email = try Self.normalized(email: email)
        let token = "gin_" + Secrets.random()
        let now = clock()
        let invitation = Invitation(id: Secrets.identifier(), tenant: caller.tenant, email: email, role: role,
                                    tokenHash: Secrets.hash(token), createdBy: caller.name, createdAt: now,
                                    expiresAt: now.adding(milliseconds: configuration.invitationLifetime))
        try await store.createInvitation(invitation)
        await audit(caller, "invitation.create", target: email, outcome: "success", origin: origin, detail: "role \(role.rawValue)")
        return Issued(object: invitation, secret: token)
    }

    /// Accepts an invitation: creates the user (setting the password) or, for an existing user,
    /// adds the membership; then signs them in. Expired or used invitations are refused.
    public func acceptInvitation(token: String, password: String, displayName: String?, origin: RequestOrigin) async throws -> TokenPair {
        try limitRefresh(origin)
        let refused = AccessError(.unauthorized, "this invitation is invalid, used or expired")
        guard let invitation = try await store.invitation(tokenHash: Secrets.hash(token)), invitation.acceptedAt == nil,
              clock() < invitation.expiresAt else { throw refused }
        let user: User
        if let existing = try await store.user(email: invitation.email) {
            guard let hash = existing.passwordHash, configuration.passwords.verify(password, hash: hash) else {
                throw AccessError(.unauthorized, "this email already has an account: give its password to accept")
            }
            user = existing
        } else {
            try configuration.passwords.check(password)
            user = User(id: Secrets.identifier(), email: invitation.email, displayName: displayName ?? invitation.email,
                        passwordHash: configuration.passwords.hash(password), createdAt: clock())
            try await store.createUser(user, membership: nil)
        }
        guard try await store.acceptInvitation(id: invitation.id, at: clock()) else { throw refused }
        let membership = Membership(tenant: invitation.tenant, userID: user.id, role: invitation.role)
        try await store.setMembership(membership)
        await audit(invitation.tenant, actor: ("user", user.id, user.email), "invitation.accept", target: user.email,
                    outcome: "success", origin: origin, detail: "role \(invitation.role.rawValue)")
        return try await startSession(user: user, membership: membership)
    }

    public func invitations(_ caller: Caller) async throws -> [Invitation] { try await store.invitations(tenant: caller.tenant) }

    /// Withdraws an invitation before anyone accepts it: its code stops working at once.
    public func withdrawInvitation(_ caller: Caller, id: String, origin: RequestOrigin) async throws {
        guard try await store.withdrawInvitation(tenant: caller.tenant, id: id) else {
            throw AccessError(.notFound, "no such open invitation")
        }
        await audit(caller, "invitation.withdraw", target: id, outcome: "success", origin: origin)
    }

    public func members(_ caller: Caller) async throws -> [(user: User, role: Role)] { try await store.members(tenant: caller.tenant) }

    /// Changes a member's role in the caller's tenant.
    public func setRole(_ caller: Caller, userID: String, role: Role, origin: RequestOrigin) async throws {
        let current = try await memberRole(caller, userID)
        try Self.mayGrant(role, caller)
        try Self.mayChange(current, caller)
        if current == .owner, role != .owner { try await keepAnOwner(caller.tenant) }
        try await store.setMembership(Membership(tenant: caller.tenant, userID: userID, role: role))
        await audit(caller, "member.role_change", target: userID, outcome: "success", origin: origin,
                    detail: "\(current.rawValue) -> \(role.rawValue)")
    }

    /// Removes a member from the caller's tenant and ends their sessions in it.
    public func removeMember(_ caller: Caller, userID: String, origin: RequestOrigin) async throws {
        let current = try await memberRole(caller, userID)
        try Self.mayChange(current, caller)
        if current == .owner { try await keepAnOwner(caller.tenant) }
        _ = try await store.removeMembership(tenant: caller.tenant, userID: userID)
        await audit(caller, "member.remove", target: userID, outcome: "success", origin: origin, detail: "was \(current.rawValue)")
    }

    private func memberRole(_ caller: Caller, _ userID: String) async throws -> Role {
        guard let membership = try await store.memberships(userID: userID).first(where: { $0.tenant == caller.tenant }) else {
            throw AccessError(.notFound, "no such member")
        }
        return membership.role
    }

    private func keepAnOwner(_ tenant: TenantID) async throws {
        guard try await store.members(tenant: tenant).filter({ $0.role == .owner }).count > 1 else {
            throw AccessError(.invalid, "a tenant must keep at least one owner")
        }
    }

    /// Nobody hands out a role above their own.
    static func mayGrant(_ role: Role, _ caller: Caller) throws(AccessError) {
        guard let own = caller.role, role <= own else {
            throw AccessError(.forbidden, "you cannot grant the role \(role.rawValue), which is above your own")
        }
    }

    /// Only owners change or remove owners.
    static func mayChange(_ current: Role, _ caller: Caller) throws(AccessError) {
        guard current != .owner || caller.role == .owner else { throw AccessError(.forbidden, "only an owner can change an owner") }
    }

    // MARK: API keys

    /// Creates an API key in the caller's tenant with at most the caller's role.
    public func createAPIKey(_ caller: Caller, name: String, role: Role, expiresAt: Timestamp?, origin: RequestOrigin) async throws -> Issued<APIKey> {
        try Self.mayGrant(role, caller)
        let name = name.trimmingCharacters(in: .whitespaces)
        guard (1...100).contains(name.count) else { throw AccessError(.invalid, "an API key needs a name of 1 to 100 characters") }
        if let expiresAt, expiresAt <= clock() { throw AccessError(.invalid, "the expiry must be in the future") }
        let token = APIKeyToken(id: Secrets.identifier(), secret: Secrets.random())
        let key = APIKey(id: token.id, tenant: caller.tenant, name: name, role: role, secretHash: Secrets.hash(token.secret),
                         createdBy: caller.name, createdAt: clock(), expiresAt: expiresAt)
        try await store.createAPIKey(key)
        await audit(caller, "api_key.create", target: "\(key.id) (\(name))", outcome: "success", origin: origin, detail: "role \(role.rawValue)")
        return Issued(object: key, secret: token.text)
    }

    public func apiKeys(_ caller: Caller) async throws -> [APIKey] { try await store.apiKeys(tenant: caller.tenant) }

    public func revokeAPIKey(_ caller: Caller, id: String, origin: RequestOrigin) async throws {
        guard try await store.revokeAPIKey(tenant: caller.tenant, id: id, at: clock()) else {
            throw AccessError(.notFound, "no such active API key")
        }
        forgetAPIKey(id: id)
        await audit(caller, "api_key.revoke", target: id, outcome: "success", origin: origin)
    }

    // MARK: Device credentials

    /// Creates a device credential in the caller's tenant, limited to `subtree` when given.
    public func createDevice(_ caller: Caller, username: String, subtree: AssetSubtree?, origin: RequestOrigin) async throws -> Issued<DeviceCredential> {
        guard (1...64).contains(username.utf8.count), username.utf8.allSatisfy(AssetPath.isAllowed) else {
            throw AccessError(.invalid, "a device username is 1 to 64 of letters, digits, '-', '_' and '.'")
        }
        let secret = Secrets.random()
        let device = DeviceCredential(id: Secrets.identifier(), tenant: caller.tenant, username: username, secretHash: Secrets.hash(secret),
                                      subtree: subtree, createdBy: caller.name, createdAt: clock())
        do {
            try await store.createDevice(device)
        } catch let error as IdentityStoreError where error.code == .conflict {
            throw AccessError(.conflict, "the device username \(username) is taken")
        }
        await audit(caller, "device.create", target: username, outcome: "success", origin: origin,
                    detail: "subtree \(subtree?.description ?? "(whole tenant)")")
        return Issued(object: device, secret: secret)
    }

    public func devices(_ caller: Caller) async throws -> [DeviceCredential] { try await store.devices(tenant: caller.tenant) }

    public func revokeDevice(_ caller: Caller, id: String, origin: RequestOrigin) async throws {
        guard try await store.revokeDevice(tenant: caller.tenant, id: id, at: clock()) else {
            throw AccessError(.notFound, "no such active device credential")
        }
        await audit(caller, "device.revoke", target: id, outcome: "success", origin: origin)
    }

    // MARK: Audit

    public func auditLog(_ caller: Caller, _ query: AuditQuery) async throws -> [AuditEvent] {
        try await store.audit(tenant: caller.tenant, query)
    }

    /// The caller's user record and memberships.
    public func profile(_ caller: Caller) async throws -> (user: User, memberships: [Membership])? {
        guard caller.kind == .user, let user = try await store.user(id: caller.id) else { return nil }
        return (user, try await store.memberships(userID: user.id))
    }
}
