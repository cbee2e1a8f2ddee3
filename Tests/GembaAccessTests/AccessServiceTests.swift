import Foundation
import GRDB
import GembaAccess
import GembaCore
@testable import GembaStorage
@testable import GembaPostgres
import GembaTestSupport
import PostgresNIO
import Logging
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let milliseconds = Mutex<Int64>(1_800_000_000_000)
    var now: Timestamp { Timestamp(millisecondsSinceEpoch: milliseconds.withLock { $0 }) }
    func advance(minutes: Int64) { milliseconds.withLock { $0 += minutes * 60_000 } }
}

/// The access service over a real identity store (SQLite, or PostgreSQL when the test server is
/// there), with a manual clock and cheap bcrypt.
struct AccessFixture {
    let clock = ManualClock()
    let store: any IdentityStore
    let service: AccessService
    static let origin = RequestOrigin(ip: "192.0.2.7", requestID: "req-1")
    static let password = "correct horse battery"

    init(_ backend: Backend = .sqlite, key: [UInt8] = Array(repeating: 7, count: 32)) async throws {
        store = try await backend.makeIdentityStore()
        var configuration = AccessService.Configuration()
        configuration.passwords = PasswordPolicy(cost: 4)
        let clock = self.clock
        service = AccessService(store: store, signer: try await TokenSigner(key: key), configuration: configuration,
                                clock: { clock.now }, logger: Logger(label: "test"))
    }

    /// A tenant "acme" with an owner.
    func withOwner() async throws -> Caller {
        _ = try await service.bootstrap(tenant: TenantID("acme")!, email: "owner@acme.test", password: Self.password)
        let pair = try await service.login(email: "owner@acme.test", password: Self.password, tenant: nil, origin: Self.origin)
        return try await service.authenticate(accessToken: pair.accessToken)
    }
}

@Suite struct AccessServiceTests {
    let acme = TenantID("acme")!

    @Test(arguments: Backend.available) func loginIssuesTokensThatExpireWithTheClock(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        let owner = try await fixture.withOwner()
        #expect(owner.role == .owner && owner.tenant == acme && owner.kind == .user)
        let pair = try await fixture.service.login(email: "OWNER@acme.test", password: AccessFixture.password, tenant: acme,
                                                   origin: AccessFixture.origin)
        #expect(pair.accessExpiresAt.millisecondsSinceEpoch - fixture.clock.now.millisecondsSinceEpoch == 15 * 60_000)
        fixture.clock.advance(minutes: 14)
        _ = try await fixture.service.authenticate(accessToken: pair.accessToken)
        fixture.clock.advance(minutes: 2)
        await #expect(throws: AccessError(.unauthorized, "access token expired")) {
            try await fixture.service.authenticate(accessToken: pair.accessToken)
        }
        await #expect(throws: AccessError(.unauthorized, "wrong email or password")) {
            try await fixture.service.login(email: "owner@acme.test", password: "wrong password!", tenant: nil, origin: AccessFixture.origin)
        }
        await #expect(throws: AccessError(.unauthorized, "wrong email or password")) {
            try await fixture.service.login(email: "nobody@acme.test", password: AccessFixture.password, tenant: nil, origin: AccessFixture.origin)
        }
        let events = try await fixture.store.audit(tenant: acme, AuditQuery(action: "auth."))
        #expect(events.map(\.outcome).filter { $0 == "success" }.count == 2)
        #expect(events.contains { $0.outcome == "failure" && $0.detail == "wrong password" && $0.sourceIP == "192.0.2.7" })
    }

    @Test(arguments: Backend.available) func refreshRotatesAndReuseRevokesTheSession(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        _ = try await fixture.withOwner()
        let first = try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil,
                                                    origin: AccessFixture.origin)
        let second = try await fixture.service.refresh(first.refreshToken, origin: AccessFixture.origin)
        #expect(second.refreshToken != first.refreshToken)
        let third = try await fixture.service.refresh(second.refreshToken, origin: AccessFixture.origin)
        _ = try await fixture.service.authenticate(accessToken: third.accessToken)
        // The first token again: it leaked. The session ends, including its newest tokens.
        await #expect(throws: AccessError.self) { try await fixture.service.refresh(first.refreshToken, origin: AccessFixture.origin) }
        await #expect(throws: AccessError.self) { try await fixture.service.refresh(third.refreshToken, origin: AccessFixture.origin) }
        await #expect(throws: AccessError(.unauthorized, "the session has ended; sign in again")) {
            try await fixture.service.authenticate(accessToken: third.accessToken)
        }
        #expect(try await fixture.store.audit(tenant: acme, AuditQuery(action: "auth.refresh_reuse")).count == 1)
        // A refresh token expires too.
        let fresh = try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil,
                                                    origin: AccessFixture.origin)
        fixture.clock.advance(minutes: 15 * 24 * 60)
        await #expect(throws: AccessError.self) { try await fixture.service.refresh(fresh.refreshToken, origin: AccessFixture.origin) }
    }

    @Test(arguments: Backend.available) func logoutEverywhereAndPasswordChangeEndSessions(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        let owner = try await fixture.withOwner()
        let phone = try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil,
                                                    origin: AccessFixture.origin)
        try await fixture.service.changePassword(owner, current: AccessFixture.password, new: "a brand new passphrase",
                                                 origin: AccessFixture.origin)
        await #expect(throws: AccessError.self) { try await fixture.service.authenticate(accessToken: phone.accessToken) }
        _ = try await fixture.service.authenticate(accessToken: try await fixture.service.login(
            email: "owner@acme.test", password: "a brand new passphrase", tenant: nil, origin: AccessFixture.origin).accessToken)
        try await fixture.service.logoutEverywhere(owner, origin: AccessFixture.origin)
        await #expect(throws: AccessError.self) { try await fixture.service.authenticate(accessToken: phone.accessToken) }
        await #expect(throws: AccessError(.invalid, "the password must have at least 12 characters")) {
            try await fixture.service.changePassword(owner, current: "a brand new passphrase", new: "short", origin: AccessFixture.origin)
        }
    }

    @Test(arguments: Backend.available) func aDisabledUserIsLockedOutAtOnce(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        _ = try await fixture.withOwner()
        let pair = try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil,
                                                   origin: AccessFixture.origin)
        try await fixture.service.setDisabled(email: "owner@acme.test", true)
        await #expect(throws: AccessError.self) { try await fixture.service.authenticate(accessToken: pair.accessToken) }
        await #expect(throws: AccessError.self) { try await fixture.service.refresh(pair.refreshToken, origin: AccessFixture.origin) }
        await #expect(throws: AccessError(.unauthorized, "this account is disabled")) {
            try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil, origin: AccessFixture.origin)
        }
        try await fixture.service.setDisabled(email: "owner@acme.test", false)
        _ = try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil, origin: AccessFixture.origin)
    }

    @Test(arguments: Backend.available) func passwordsAndSecretsAreStoredOnlyAsHashes(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        let owner = try await fixture.withOwner()
        let key = try await fixture.service.createAPIKey(owner, name: "telegraf", role: .engineer, expiresAt: nil, origin: AccessFixture.origin)
        let device = try await fixture.service.createDevice(owner, username: "gw-1", subtree: try AssetSubtree("plant1/line3"),
                                                            origin: AccessFixture.origin)
        let user = try #require(try await fixture.store.user(email: "owner@acme.test"))
        #expect(user.passwordHash?.hasPrefix("$2b$04$") == true)
        // Everything stored, as bytes: the database files, or every row of every table.
        var stored: [(String, Data)] = []
        switch fixture.store {
        case let store as SQLiteIdentityStore:
            let directory = (store.path as NSString).deletingLastPathComponent
            for file in try FileManager.default.contentsOfDirectory(atPath: directory) {
                stored.append((file, try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))))
            }
        case let store as PostgresIdentityStore:
            let tables = try await store.client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").rows
            for row in tables {
                let table = try row.decode(String.self)
                let rows = try await store.client.query(PostgresQuery(unsafeSQL: "SELECT t::text FROM \"\(table)\" t")).rows
                stored.append((table, Data(try rows.map { try $0.decode(String.self) }.joined(separator: "\n").utf8)))
            }
        default:
            Issue.record("an identity store of another kind")
        }
        #expect(!stored.isEmpty)
        for (name, bytes) in stored {
            for secret in [AccessFixture.password, key.secret, device.secret] {
                #expect(bytes.range(of: Data(secret.utf8)) == nil, "\(name) holds a secret in clear")
            }
        }
    }

    @Test(arguments: Backend.available) func apiKeysAreScopedRevocableAndNeverAboveTheirCreator(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        let owner = try await fixture.withOwner()
        let issued = try await fixture.service.createAPIKey(owner, name: "reporting", role: .viewer,
                                                            expiresAt: fixture.clock.now.adding(milliseconds: 3_600_000),
                                                            origin: AccessFixture.origin)
        let caller = try await fixture.service.authenticate(authorization: "Token \(issued.secret)")
        #expect(caller.kind == .apiKey && caller.role == .viewer && caller.tenant == acme)
        #expect(caller.may(.readData) && !caller.may(.ingest))
        #expect(try await fixture.service.authenticate(authorization: "Bearer \(issued.secret)") == caller)
        let listed = try await fixture.service.apiKeys(owner)
        #expect(listed.first?.lastUsedAt != nil)
        await #expect(throws: AccessError(.forbidden, "you cannot grant the role admin, which is above your own")) {
            try await fixture.service.createAPIKey(caller, name: "escalate", role: .admin, expiresAt: nil, origin: AccessFixture.origin)
        }
        // A key of another secret with the same id, and the key after its expiry, are refused.
        let forged = String(issued.secret.dropLast(4)) + "AAAA"
        await #expect(throws: AccessError.self) { try await fixture.service.authenticate(authorization: "Token \(forged)") }
        fixture.clock.advance(minutes: 61)
        await #expect(throws: AccessError.self) { try await fixture.service.authenticate(authorization: "Token \(issued.secret)") }
        let other = try await fixture.service.createAPIKey(owner, name: "ci", role: .engineer, expiresAt: nil, origin: AccessFixture.origin)
        try await fixture.service.revokeAPIKey(owner, id: other.object.id, origin: AccessFixture.origin)
        await #expect(throws: AccessError.self) { try await fixture.service.authenticate(authorization: "Token \(other.secret)") }
        await #expect(throws: AccessError(.notFound, "no such active API key")) {
            try await fixture.service.revokeAPIKey(owner, id: other.object.id, origin: AccessFixture.origin)
        }
        let actions = try await fixture.store.audit(tenant: acme, AuditQuery(action: "api_key.")).map(\.action)
        #expect(actions.sorted() == ["api_key.create", "api_key.create", "api_key.revoke"])
    }

    @Test(arguments: Backend.available) func devicesWriteOnlyInTheirSubtree(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        let owner = try await fixture.withOwner()
        let issued = try await fixture.service.createDevice(owner, username: "gw-line3", subtree: try AssetSubtree("plant1/press-shop/line3"),
                                                            origin: AccessFixture.origin)
        let device = try await fixture.service.authenticateDevice(username: "gw-line3", secret: issued.secret)
        #expect(device.kind == .device && device.tenant == acme)
        #expect(device.mayWrite(try AssetPath("plant1/press-shop/line3/press-7")))
        #expect(!device.mayWrite(try AssetPath("plant1/press-shop/line4/press-1")))
        #expect(!device.mayWrite(try AssetPath("plant1/line3/press-7")))
        #expect(!device.may(.readData))
        let basic = Data("gw-line3:\(issued.secret)".utf8).base64EncodedString()
        #expect(try await fixture.service.authenticate(authorization: "Basic \(basic)") == device)
        #expect(try await fixture.service.authenticate(authorization: "Token gw-line3:\(issued.secret)") == device)
        await #expect(throws: AccessError.self) { try await fixture.service.authenticateDevice(username: "gw-line3", secret: "guess") }
        await #expect(throws: AccessError(.conflict, "the device username gw-line3 is taken")) {
            try await fixture.service.createDevice(owner, username: "gw-line3", subtree: nil, origin: AccessFixture.origin)
        }
        try await fixture.service.revokeDevice(owner, id: issued.object.id, origin: AccessFixture.origin)
        await #expect(throws: AccessError.self) { try await fixture.service.authenticateDevice(username: "gw-line3", secret: issued.secret) }
    }

    @Test(arguments: Backend.available) func invitationsAreAcceptedOnceBeforeTheyExpire(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        let owner = try await fixture.withOwner()
        let invite = try await fixture.service.invite(owner, email: "Op@Acme.test", role: .operator, origin: AccessFixture.origin)
        let pair = try await fixture.service.acceptInvitation(token: invite.secret, password: "operator passphrase", displayName: "Op",
                                                              origin: AccessFixture.origin)
        #expect(pair.role == .operator && pair.tenant == acme)
        let op = try await fixture.service.authenticate(accessToken: pair.accessToken)
        #expect(op.name == "op@acme.test" && op.may(.operate) && !op.may(.configure))
        await #expect(throws: AccessError.self) {
            try await fixture.service.acceptInvitation(token: invite.secret, password: "operator passphrase", displayName: nil,
                                                       origin: AccessFixture.origin)
        }
        // A withdrawn invitation's code stops working; an accepted one cannot be withdrawn.
        let withdrawn = try await fixture.service.invite(owner, email: "gone@acme.test", role: .viewer, origin: AccessFixture.origin)
        try await fixture.service.withdrawInvitation(owner, id: withdrawn.object.id, origin: AccessFixture.origin)
        #expect(try await fixture.service.invitations(owner).map(\.id) == [invite.object.id])
        await #expect(throws: AccessError(.unauthorized, "this invitation is invalid, used or expired")) {
            try await fixture.service.acceptInvitation(token: withdrawn.secret, password: "viewer passphrase", displayName: nil,
                                                       origin: AccessFixture.origin)
        }
        await #expect(throws: AccessError(.notFound, "no such open invitation")) {
            try await fixture.service.withdrawInvitation(owner, id: invite.object.id, origin: AccessFixture.origin)
        }
        let late = try await fixture.service.invite(owner, email: "late@acme.test", role: .viewer, origin: AccessFixture.origin)
        fixture.clock.advance(minutes: 7 * 24 * 60 + 1)
        await #expect(throws: AccessError.self) {
            try await fixture.service.acceptInvitation(token: late.secret, password: "viewer passphrase", displayName: nil,
                                                       origin: AccessFixture.origin)
        }
        // An operator cannot invite an admin, change an owner, or remove the last owner.
        await #expect(throws: AccessError.self) {
            try await fixture.service.invite(op, email: "x@acme.test", role: .admin, origin: AccessFixture.origin)
        }
        await #expect(throws: AccessError(.forbidden, "only an owner can change an owner")) {
            try await fixture.service.setRole(op, userID: owner.id, role: .viewer, origin: AccessFixture.origin)
        }
        await #expect(throws: AccessError(.invalid, "a tenant must keep at least one owner")) {
            try await fixture.service.setRole(owner, userID: owner.id, role: .admin, origin: AccessFixture.origin)
        }
        let session = try await fixture.service.login(email: "op@acme.test", password: "operator passphrase", tenant: nil,
                                                      origin: AccessFixture.origin)
        try await fixture.service.setRole(owner, userID: op.id, role: .engineer, origin: AccessFixture.origin)
        #expect(try await fixture.service.authenticate(accessToken: session.accessToken).role == .engineer)  // at once
        try await fixture.service.removeMember(owner, userID: op.id, origin: AccessFixture.origin)
        await #expect(throws: AccessError.self) { try await fixture.service.authenticate(accessToken: session.accessToken) }
    }

    @Test(arguments: Backend.available) func loginIsRateLimitedPerAccountAndPerIP(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        _ = try await fixture.withOwner()  // one attempt used
        for _ in 0..<4 {
            _ = try? await fixture.service.login(email: "owner@acme.test", password: "wrong password!", tenant: nil, origin: AccessFixture.origin)
        }
        do {
            _ = try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil, origin: AccessFixture.origin)
            Issue.record("the sixth attempt in a minute went through")
        } catch let error as AccessError {
            #expect(error.code == .rateLimited && (error.retryAfter ?? 0) >= 1)
        }
        fixture.clock.advance(minutes: 1)
        _ = try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil, origin: AccessFixture.origin)
        // Per IP: ten attempts a minute across accounts.
        for index in 0..<4 { _ = try? await fixture.service.login(email: "u\(index)@acme.test", password: "x", tenant: nil, origin: AccessFixture.origin) }
        await #expect(throws: AccessError.self) {
            try await fixture.service.login(email: "u9@acme.test", password: "x", tenant: nil, origin: AccessFixture.origin)
        }
        let elsewhere = RequestOrigin(ip: "198.51.100.1", requestID: "r")
        await #expect(throws: AccessError(.unauthorized, "wrong email or password")) {
            try await fixture.service.login(email: "u9@acme.test", password: "x", tenant: nil, origin: elsewhere)
        }
    }

    @Test(arguments: Backend.available) func forgedAndMalformedTokensAreRefused(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        _ = try await fixture.withOwner()
        let pair = try await fixture.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil,
                                                   origin: AccessFixture.origin)
        let parts = pair.accessToken.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        func base64url(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        let unsigned = base64url(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + "."
        let otherKey = try await AccessFixture(backend, key: Array(repeating: 9, count: 32))
        _ = try await otherKey.withOwner()
        let foreign = try await otherKey.service.login(email: "owner@acme.test", password: AccessFixture.password, tenant: nil,
                                                       origin: AccessFixture.origin).accessToken
        for token in [unsigned, foreign, parts[0] + "." + parts[1], "not a token", "", parts[0] + "." + parts[1] + ".AAAA",
                      String(repeating: "a", count: 100_000)] {
            await #expect(throws: AccessError.self) { try await fixture.service.authenticate(accessToken: token) }
        }
        for header in ["Bearer", "Digest abc", "Basic !!!", "Token nothing", "Bearer gak_", "Basic " + Data("x".utf8).base64EncodedString()] {
            await #expect(throws: AccessError.self) { try await fixture.service.authenticate(authorization: header) }
        }
        _ = try await fixture.service.authenticate(accessToken: pair.accessToken)  // the genuine one still works
    }
}

@Suite struct AuditLogTests {
    @Test(arguments: Backend.available) func theAuditTableRefusesUpdatesAndDeletesEvenThroughSQL(_ backend: Backend) async throws {
        let fixture = try await AccessFixture(backend)
        _ = try await fixture.withOwner()
        let tenant = TenantID("acme")!
        let before = try await fixture.store.audit(tenant: tenant, AuditQuery())
        #expect(!before.isEmpty)
        switch fixture.store {
        case let store as SQLiteIdentityStore:
            let database = try DatabaseQueue(path: store.path)
            for sql in ["UPDATE audit SET outcome = 'success'", "DELETE FROM audit"] {
                #expect(throws: DatabaseError.self) { try database.write { try $0.execute(sql: sql) } }
            }
        case let store as PostgresIdentityStore:
            for sql in ["UPDATE audit SET outcome = 'success'", "DELETE FROM audit", "TRUNCATE audit"] {
                await #expect(throws: PSQLError.self) { try await store.client.query(PostgresQuery(unsafeSQL: sql)) }
            }
        default:
            Issue.record("an identity store of another kind")
        }
        #expect(try await fixture.store.audit(tenant: tenant, AuditQuery()) == before)
        #expect(try await fixture.store.audit(tenant: TenantID("other")!, AuditQuery()).isEmpty)
    }
}

@Suite struct AccessModelTests {
    @Test func rolesHoldEveryPermissionOfTheRolesBelow() {
        for permission in Permission.allCases {
            let holders = Role.allCases.filter { $0.allows(permission) }
            #expect(holders == Array(Role.allCases.drop { $0 < permission.minimumRole }))
        }
        #expect(Role.viewer.allows(.readData) && !Role.viewer.allows(.operate))
        #expect(Role.operator.allows(.operate) && !Role.operator.allows(.ingest))
        #expect(Role.engineer.allows(.configure) && !Role.engineer.allows(.manageUsers))
        #expect(Role.admin.allows(.readAudit))
        #expect(throws: ModelError.self) { try Role(parsing: "superuser") }
    }

    @Test func subtreesMatchWholeSegments() throws {
        let line = try AssetSubtree("plant1/press")
        #expect(line.contains(try AssetPath("plant1/press/m1")))
        #expect(!line.contains(try AssetPath("plant1/press-shop/line/m1")))
        #expect(try AssetSubtree("plant1").contains(try AssetPath("plant1/a/l/m")))
        #expect(throws: ModelError.self) { try AssetSubtree("plant1//x") }
        #expect(throws: ModelError.self) { try AssetSubtree("a/b/c/d/e") }
        #expect(throws: ModelError.self) { try AssetSubtree("") }
    }

    @Test func secretsAreHashedWithSHA256InLowerCaseHex() {
        // FIPS 180-2's test vector for "abc".
        #expect(Secrets.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let id = Secrets.identifier()
        #expect(id.count == 16 && id.allSatisfy(\.isHexDigit) && id != Secrets.identifier())
    }

    @Test func rateLimiterRefillsAndStaysBounded() {
        var limiter = RateLimiter(RateLimiter.Rule(perMinute: 60, burst: 2), maxKeys: 10)
        let start = Timestamp(millisecondsSinceEpoch: 0)
        #expect(limiter.take("a", now: start) == nil)
        #expect(limiter.take("a", now: start) == nil)
        #expect(limiter.take("a", now: start) == 1)
        #expect(limiter.take("a", now: start.adding(milliseconds: 1000)) == nil)
        for index in 0..<100 { _ = limiter.take("k\(index)", now: start) }
        #expect(limiter.keyCount <= 10)
    }
}
