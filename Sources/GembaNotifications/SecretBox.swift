public import Crypto
internal import Foundation

/// Seals secrets at rest (webhook secrets, passwords) with AES-GCM under a key kept in the data
/// directory (`notifications.key`, readable by its owner only), so a copied database alone gives none away.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    public init(key: SymmetricKey) { self.key = key }

    /// The key's file in the data directory.
    public static let fileName = "notifications.key"

    /// The box of a data directory: its key file, created on first use.
    public static func open(directory: String) throws -> SecretBox {
        let path = (directory as NSString).appendingPathComponent(fileName)
        if let data = FileManager.default.contents(atPath: path), data.count == 32 { return SecretBox(key: SymmetricKey(data: data)) }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        return SecretBox(key: key)
    }

    public func seal(_ secrets: [String]) throws -> String {
        let plain = try JSONEncoder().encode(secrets)
        return try AES.GCM.seal(plain, using: key).combined!.base64EncodedString()
    }

    public func open(_ sealed: String) throws -> [String] {
        guard let data = Data(base64Encoded: sealed) else { throw CryptoKitError.incorrectParameterSize }
        return try JSONDecoder().decode([String].self, from: try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key))
    }
}
