public import GembaCore
internal import Foundation
internal import JWTKit
internal import Crypto

/// The claims of an access token: who, in which tenant, in which session, until when.
struct AccessClaims: JWTPayload {
    var sub: SubjectClaim
    var tid: String
    var sid: String
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var jti: IDClaim

    /// Expiry is checked by ``TokenSigner`` against the injected clock, not here against the wall clock.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// What a verified access token says.
public struct AccessTokenContent: Sendable, Hashable {
    public var userID: String
    public var tenant: TenantID
    public var sessionID: String
    public var expiresAt: Timestamp
}

/// Signs and verifies access tokens (JWT, HS256) with one secret key. Tokens with another
/// algorithm (`none` included), another key, a bad shape or past their expiry are refused.
public struct TokenSigner: Sendable {
    private let keys: JWTKeyCollection

    /// `key` must hold at least 32 bytes.
    public init(key: [UInt8]) async throws {
        guard key.count >= 32 else { throw AccessError(.invalid, "the token signing key must be at least 32 bytes") }
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(key: SymmetricKey(data: key)), digestAlgorithm: .sha256)
    }

    public func sign(userID: String, tenant: TenantID, sessionID: String, issuedAt: Timestamp, expiresAt: Timestamp) async throws -> String {
        let claims = AccessClaims(
            sub: SubjectClaim(value: userID), tid: tenant.rawValue, sid: sessionID,
            iat: IssuedAtClaim(value: Self.date(issuedAt)), exp: ExpirationClaim(value: Self.date(expiresAt)),
            jti: IDClaim(value: Secrets.identifier()))
        return try await keys.sign(claims)
    }

    /// The token's content, or ``AccessError`` (unauthorized) saying why it is refused.
    public func verify(_ token: String, now: Timestamp) async throws(AccessError) -> AccessTokenContent {
        let claims: AccessClaims
        do {
            claims = try await keys.verify(token, as: AccessClaims.self)
        } catch {
            throw AccessError(.unauthorized, "invalid access token")
        }
        let expires = Timestamp(millisecondsSinceEpoch: Int64((claims.exp.value.timeIntervalSince1970 * 1000).rounded()))
        guard now < expires else { throw AccessError(.unauthorized, "access token expired") }
        guard let tenant = TenantID(claims.tid) else { throw AccessError(.unauthorized, "invalid access token") }
        return AccessTokenContent(userID: claims.sub.value, tenant: tenant, sessionID: claims.sid, expiresAt: expires)
    }

    private static func date(_ time: Timestamp) -> Date { Date(timeIntervalSince1970: Double(time.millisecondsSinceEpoch) / 1000) }
}
