import ArgumentParser
import Foundation
import GembaAccess
import GembaCore
import GembaPostgres
import GembaStorage
import Logging

/// `gemba admin …`: manage tenants, users, API keys and device credentials directly on a data
/// directory (the server may be running: SQLite serialises the writes). Secrets are printed once;
/// passwords are read from standard input (`--password-stdin`), never from the command line.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage tenants, users, API keys and device credentials in a data directory.",
        subcommands: [TenantCommand.self, UserCommand.self, APIKeyCommand.self, DeviceCommand.self])
}

/// Where the identity data lives.
struct AdminTarget: ParsableArguments {
    @Option(help: "Gemba's data directory (default ./gemba-data). Env: GEMBA_DATA_DIR.")
    var dataDir: String?

    @Option(help: "File holding the access-token signing key (default: <data-dir>/jwt.key). Env: GEMBA_JWT_KEY_FILE.")
    var jwtKeyFile: String?

    @Option(help: "sqlite (default: the data directory's identity database) or the postgres:// URL `gemba serve --storage` uses. Env: GEMBA_STORAGE.")
    var storage: String?

    func service() async throws -> AccessService {
        let settings = try Settings(configFile: nil)
        let directory = settings.string("data-dir", flag: dataDir)?.value ?? "gemba-data"
        var logger = Logger(label: "gemba-admin")
        logger.logLevel = .error
        let store: any IdentityStore
        if let url = try TelemetryCapability.storage(settings.string("storage", flag: storage)) {
            do {
                store = PostgresIdentityStore(try await PostgresStore.open(url, logger: logger, startupTimeout: .seconds(10)))
            } catch {
                throw ConfigurationError("cannot open the PostgreSQL database \(url): \(error)")
            }
        } else {
            do {
                store = try SQLiteIdentityStore(directory: directory)
            } catch {
                throw ConfigurationError("cannot open the identity database in \(directory): \(error)")
            }
        }
        return try await AccessSetup.service(store: store, dataDirectory: directory,
                                             keyFile: settings.string("jwt-key-file", flag: jwtKeyFile)?.value, logger: logger)
    }

    /// The caller the command acts as in `tenant`, which must exist (`default` is created on demand).
    func system(_ service: AccessService, tenant name: String) async throws -> Caller {
        guard let tenant = TenantID(name) else { throw ConfigurationError("'\(name)' is not a tenant id (a-z, 0-9, - and _)") }
        try await adminOperation { try await service.ensureTenant(tenant, createDefault: true) }
        return .system(tenant)
    }
}

/// Runs an admin operation, turning refusals into configuration errors (exit code 2, one line).
@discardableResult
func adminOperation<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as AccessError {
        throw ConfigurationError(error.message)
    } catch let error as IdentityStoreError {
        throw ConfigurationError(error.message)
    }
}

func parseRole(_ name: String) throws -> Role {
    do { return try Role(parsing: name) } catch { throw ConfigurationError(error.message) }
}

/// Reads a password from standard input (first line), or generates one and says so.
func readPassword(fromStandardInput: Bool) -> (password: String, generated: Bool) {
    if fromStandardInput, let line = readLine(strippingNewline: true), !line.isEmpty { return (line, false) }
    return (Secrets.random(bytes: 15), true)
}

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tenant", abstract: "Create and list tenants.",
                                                    subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Argument(help: "The tenant id (a-z, 0-9, - and _).") var id: String
        @Option(help: "A display name.") var name: String?

        func run() async throws {
            guard let tenant = TenantID(id) else { throw ConfigurationError("'\(id)' is not a tenant id (a-z, 0-9, - and _)") }
            let service = try await target.service()
            try await adminOperation { try await service.createTenant(tenant, name: name ?? id) }
            print("created tenant \(id)")
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget

        func run() async throws {
            for tenant in try await target.service().allTenants() { print("\(tenant.id)\t\(tenant.name)") }
        }
    }
}

struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Create users and reset passwords.",
                                                    subcommands: [Create.self, ResetPassword.self, Disable.self, Enable.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Option(help: "The tenant the user joins.") var tenant = "default"
        @Option(help: "Email address (the sign-in name).") var email: String
        @Option(help: "Role: viewer, operator, engineer, admin, owner.") var role: String
        @Option(help: "Display name.") var displayName: String?
        @Flag(help: "Read the password from the first line of standard input (else one is generated and printed).")
        var passwordStdin = false

        func run() async throws {
            let service = try await target.service()
            let caller = try await target.system(service, tenant: tenant)
            let role = try parseRole(role)
            let (password, generated) = readPassword(fromStandardInput: passwordStdin)
            try await adminOperation {
                try await service.createUser(email: email, displayName: displayName ?? email, password: password, tenant: caller.tenant, role: role)
            }
            print(generated ? "created \(email) (\(role.rawValue) in \(tenant)) with the password \(password) (shown once)"
                            : "created \(email) (\(role.rawValue) in \(tenant))")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a user in every tenant and end their sessions.")
        @OptionGroup var target: AdminTarget
        @Option(help: "Email address.") var email: String

        func run() async throws {
            let service = try await target.service()
            try await adminOperation { try await service.setDisabled(email: email, true) }
            print("disabled \(email); every session ended")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled user again.")
        @OptionGroup var target: AdminTarget
        @Option(help: "Email address.") var email: String

        func run() async throws {
            let service = try await target.service()
            try await adminOperation { try await service.setDisabled(email: email, false) }
            print("enabled \(email)")
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Option(help: "Email address.") var email: String
        @Flag(help: "Read the password from the first line of standard input (else one is generated and printed).")
        var passwordStdin = false

        func run() async throws {
            let service = try await target.service()
            let (password, generated) = readPassword(fromStandardInput: passwordStdin)
            try await adminOperation { try await service.resetPassword(email: email, password: password) }
            print(generated ? "new password for \(email): \(password) (shown once); every session ended"
                            : "password of \(email) changed; every session ended")
        }
    }
}

struct APIKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "api-key", abstract: "Create, list and revoke API keys.",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Option(help: "The tenant the key acts in.") var tenant = "default"
        @Option(help: "A name saying what uses the key.") var name: String
        @Option(help: "Role: viewer, operator, engineer, admin, owner.") var role: String
        @Option(help: "Days until the key expires (default: never).") var expiresDays: Int?

        func run() async throws {
            let service = try await target.service()
            let caller = try await target.system(service, tenant: tenant)
            let role = try parseRole(role)
            let expiry = try expiresDays.map { days -> Timestamp in
                guard days > 0 else { throw ConfigurationError("--expires-days must be positive") }
                return Timestamp.now().adding(milliseconds: Int64(days) * 86_400_000)
            }
            let issued = try await adminOperation {
                try await service.createAPIKey(caller, name: name, role: role, expiresAt: expiry, origin: .local)
            }
            print(issued.secret)
            FileHandle.standardError.write(Data("API key \(issued.object.id) (\(role.rawValue) in \(tenant)); the key above is shown once\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Option(help: "The tenant.") var tenant = "default"

        func run() async throws {
            let service = try await target.service()
            for key in try await service.apiKeys(try await target.system(service, tenant: tenant)) {
                let state = key.revokedAt != nil ? "revoked" : key.isActive(at: .now()) ? "active" : "expired"
                print("\(key.id)\t\(key.name)\t\(key.role.rawValue)\t\(state)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Option(help: "The tenant.") var tenant = "default"
        @Option(help: "The key id.") var id: String

        func run() async throws {
            let service = try await target.service()
            let caller = try await target.system(service, tenant: tenant)
            try await adminOperation { try await service.revokeAPIKey(caller, id: id, origin: .local) }
            print("revoked API key \(id)")
        }
    }
}

struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "device", abstract: "Create, list and revoke device credentials.",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Option(help: "The tenant the device writes to.") var tenant = "default"
        @Option(help: "The device's username (MQTT username).") var username: String
        @Option(help: "Asset subtree it may write to: site[/area][/line][/machine] (default: the whole tenant).") var subtree: String?

        func run() async throws {
            let service = try await target.service()
            let caller = try await target.system(service, tenant: tenant)
            let scope: AssetSubtree?
            do { scope = try subtree.map { try AssetSubtree($0) } } catch let error as ModelError { throw ConfigurationError(error.message) }
            let issued = try await adminOperation {
                try await service.createDevice(caller, username: username, subtree: scope, origin: .local)
            }
            print(issued.secret)
            FileHandle.standardError.write(Data("device \(username) (\(issued.object.id)) in \(tenant); the secret above is shown once\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Option(help: "The tenant.") var tenant = "default"

        func run() async throws {
            let service = try await target.service()
            for device in try await service.devices(try await target.system(service, tenant: tenant)) {
                print("\(device.id)\t\(device.username)\t\(device.subtree?.description ?? "*")\t\(device.revokedAt == nil ? "active" : "revoked")")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        @OptionGroup var target: AdminTarget
        @Option(help: "The tenant.") var tenant = "default"
        @Option(help: "The device credential id.") var id: String

        func run() async throws {
            let service = try await target.service()
            let caller = try await target.system(service, tenant: tenant)
            try await adminOperation { try await service.revokeDevice(caller, id: id, origin: .local) }
            print("revoked device credential \(id)")
        }
    }
}
