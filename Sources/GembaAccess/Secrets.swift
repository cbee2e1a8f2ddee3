internal import Crypto
internal import Foundation

/// Random secrets and their stored form. Secrets handed to clients (refresh tokens, API keys, device
/// secrets, invitation tokens) carry 256 bits from the system's CSPRNG; only their SHA-256 is stored.
public enum Secrets {
    /// `bytes` random bytes, base64url without padding.
    public static func random(bytes: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<bytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        return data.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// A random identifier for ids that appear in URLs and logs (not secret): 16 hex digits.
    public static func identifier() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex(withUnsafeBytes(of: (generator.next() as UInt64).bigEndian) { Array($0) })
    }

    /// The hex SHA-256 of a secret: what is stored and compared (on every request with a key).
    public static func hash(_ secret: String) -> String {
        hex(Array(SHA256.hash(data: Array(secret.utf8))))
    }

    /// Lower-case hex of `bytes`, without a formatted string per byte.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Compares two strings in time independent of where they differ.
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8), b = Array(rhs.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
