import Foundation
import GembaAccess
import GembaCore
import GembaStorage
import Logging

/// Opens the identity store and the token signing key of a data directory, for `serve` and `admin`.
enum AccessSetup {
    /// The signing key's file in the data directory.
    static let keyFileName = "jwt.key"

    /// The signing key: from `keyFile` when given, else `<data-dir>/jwt.key`, created with 32 random
    /// bytes (mode 0600) on first start. Never a built-in constant.
    static func signingKey(dataDirectory: String, keyFile: String?) throws -> [UInt8] {
        let path = keyFile ?? (dataDirectory as NSString).appendingPathComponent(keyFileName)
        if let data = FileManager.default.contents(atPath: path) {
            guard data.count >= 32 else { throw ConfigurationError("the token signing key \(path) must hold at least 32 bytes") }
            return Array(data)
        }
        guard keyFile == nil else { throw ConfigurationError("cannot read the token signing key \(path)") }
        // With PostgreSQL storage, the data directory holds only node-local files: make it on demand.
        try? FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        guard FileManager.default.createFile(atPath: path, contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot write the token signing key \(path)")
        }
        return key
    }

    /// The access service over `store` (the identity store of the chosen backend).
    static func service(store: any IdentityStore, dataDirectory: String, keyFile: String?, configuration: AccessService.Configuration = .init(),
                        logger: Logger) async throws -> AccessService {
        let signer = try await TokenSigner(key: try signingKey(dataDirectory: dataDirectory, keyFile: keyFile))
        return AccessService(store: store, signer: signer, configuration: configuration, logger: logger)
    }

    /// First start: creates the default tenant's owner. Prints a generated password once, on
    /// standard output (never to the log). With `demo`, the owner's password is reset and printed
    /// at every start so the demo stays zero-setup.
    static func bootstrap(_ access: AccessService, email: String, password: String?, demo: Bool) async throws {
        if let generated = try await access.bootstrap(tenant: .default, email: email, password: password) {
            print("Gemba: created the owner \(email) with the password \(generated) (shown once; change it after signing in)")
        } else if demo {
            let chosen = password ?? Secrets.random(bytes: 12)
            try await access.resetPassword(email: email, password: chosen)
            print(password == nil ? "Gemba demo: sign in as \(email) with the password \(chosen)"
                  : "Gemba demo: sign in as \(email) with the password in GEMBA_ADMIN_PASSWORD")
        }
        fflush(nil)  // shown now, also when standard output is a pipe (containers, service managers)
    }
}
