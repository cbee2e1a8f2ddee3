public import Crypto
internal import Foundation

/// Signs webhook messages per the Standard Webhooks specification: the signed content is
/// `<webhook-id>.<webhook-timestamp>.<body>`, the signature `v1,<base64 HMAC-SHA256>` with the
/// secret's bytes (the base64 after `whsec_`); several signatures (a rotation) are space-separated.
public enum StandardWebhook {
    public static let secretPrefix = "whsec_"

    /// A new secret: `whsec_` and 32 random bytes in base64.
    public static func newSecret() -> String {
        secretPrefix + Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString()
    }

    /// The key bytes of a `whsec_…` secret; nil when it is not one.
    public static func key(of secret: String) -> SymmetricKey? {
        guard secret.hasPrefix(secretPrefix), let bytes = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))),
              !bytes.isEmpty else { return nil }
        return SymmetricKey(data: bytes)
    }

    /// `v1,<signature>` for each secret, space-separated (the header's value).
    public static func signature(id: String, timestamp: Int64, body: String, secrets: [String]) -> String {
        secrets.compactMap(key(of:)).map { key in
            let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).\(body)".utf8), using: key)
            return "v1," + Data(mac).base64EncodedString()
        }.joined(separator: " ")
    }

    /// The three headers of a signed message.
    public static func headers(id: String, timestamp: Int64, body: String, secrets: [String]) -> [(String, String)] {
        [("webhook-id", id), ("webhook-timestamp", String(timestamp)),
         ("webhook-signature", signature(id: id, timestamp: timestamp, body: body, secrets: secrets))]
    }
}
