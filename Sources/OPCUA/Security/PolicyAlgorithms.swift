import Crypto
import _CryptoExtras

/// The algorithms of the secured policies this client speaks (Part 7, the policies' profiles):
/// asymmetric RSA-OAEP (SHA-1) encryption and RSA-PKCS#1 v1.5 SHA-256 signatures for
/// OpenSecureChannel, HMAC-SHA256 and AES-CBC for messages, keys derived with P_SHA256.
public struct PolicyAlgorithms: Sendable {
    let policy: SecurityPolicy
    /// Bytes of the derived symmetric signing key.
    let signingKeyLength: Int
    /// Bytes of the derived AES key (32: AES-256, 16: AES-128).
    let encryptionKeyLength: Int
    let nonceLength: Int
    /// RSA-OAEP with SHA-1 takes 42 bytes of each block.
    let oaepOverhead = 42
    static let asymmetricSignatureURI = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    static let asymmetricEncryptionURI = "http://www.w3.org/2001/04/xmlenc#rsa-oaep"

    /// The secured policies spoken here.
    public static let supported: [SecurityPolicy] = [.basic256Sha256, .aes128Sha256RsaOaep]

    /// The algorithms of `policy`; nil for None and for policies not spoken here.
    static func of(_ policy: SecurityPolicy) -> PolicyAlgorithms? {
        switch policy {
        case .basic256Sha256: PolicyAlgorithms(policy: policy, signingKeyLength: 32, encryptionKeyLength: 32, nonceLength: 32)
        case .aes128Sha256RsaOaep: PolicyAlgorithms(policy: policy, signingKeyLength: 32, encryptionKeyLength: 16, nonceLength: 32)
        default: nil
        }
    }

    /// The keys one side uses for messages: P_SHA256(secret, seed) cut into signing key, encryption key and IV (Part 6 §6.7.5).
    func deriveKeys(secret: [UInt8], seed: [UInt8]) -> SymmetricKeys {
        let bytes = Self.pSHA256(secret: secret, seed: seed, length: signingKeyLength + encryptionKeyLength + 16)
        return SymmetricKeys(signing: SymmetricKey(data: bytes[0..<signingKeyLength]),
                             encryption: SymmetricKey(data: bytes[signingKeyLength..<signingKeyLength + encryptionKeyLength]),
                             iv: Array(bytes[(signingKeyLength + encryptionKeyLength)...]))
    }

    /// P_SHA256 of RFC 2246 §5: A(i) = HMAC(secret, A(i-1)), output HMAC(secret, A(i) + seed)…
    static func pSHA256(secret: [UInt8], seed: [UInt8], length: Int) -> [UInt8] {
        let key = SymmetricKey(data: secret)
        var output: [UInt8] = []
        var a = seed
        while output.count < length {
            a = Array(HMAC<SHA256>.authenticationCode(for: a, using: key))
            output += HMAC<SHA256>.authenticationCode(for: a + seed, using: key)
        }
        return Array(output.prefix(length))
    }
}

/// One direction's message keys.
struct SymmetricKeys: Sendable {
    let signing: SymmetricKey
    let encryption: SymmetricKey
    let iv: [UInt8]
}
