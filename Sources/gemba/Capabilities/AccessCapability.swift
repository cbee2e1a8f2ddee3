import ArgumentParser
import Foundation
import GembaAccess
import GembaServer
import Logging

/// Tenants, users, sessions, API keys, device credentials, rate limits and the audit log. Serves
/// sign-in and administration; the MQTT capability authenticates devices through it.
struct AccessCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: "Email of the owner created on first start (default admin@gemba.local). Env: GEMBA_ADMIN_EMAIL. Its password comes from GEMBA_ADMIN_PASSWORD or is generated and printed once.")
        var adminEmail: String?

        @Option(help: "Sign-in attempts per minute per client IP (default 10); per account it is half. Env: GEMBA_LOGIN_RATE.")
        var loginRate: Int?

        @Option(help: "API requests per minute per user, key or device (default 6000). Env: GEMBA_API_RATE.")
        var apiRate: Int?

        @Option(help: "File holding the access-token signing key (default: <data-dir>/jwt.key, generated). Env: GEMBA_JWT_KEY_FILE.")
        var jwtKeyFile: String?
    }

    let service: AccessService

    /// The validated settings.
    struct Resolved {
        var configuration: AccessService.Configuration
        var keyFile: String?
        var adminEmail: String
    }

    static func resolve(_ options: Options, _ settings: Settings) throws -> Resolved {
        var configuration = AccessService.Configuration()
        let loginRate = try settings.int("login-rate", flag: options.loginRate, default: 10, range: 1...100_000)
        configuration.loginPerIP = .init(perMinute: Double(loginRate), burst: Double(loginRate))
        configuration.loginPerAccount = .init(perMinute: Double(max(1, loginRate / 2)), burst: Double(max(1, loginRate / 2)))
        let apiRate = try settings.int("api-rate", flag: options.apiRate, default: 6_000, range: 1...10_000_000)
        configuration.apiPerPrincipal = .init(perMinute: Double(apiRate), burst: Double(max(1, apiRate / 6)))
        return Resolved(configuration: configuration, keyFile: settings.string("jwt-key-file", flag: options.jwtKeyFile)?.value,
                        adminEmail: settings.string("admin-email", flag: options.adminEmail)?.value ?? "admin@gemba.local")
    }

    /// The access service over the backend's identity store; creates the owner on first start
    /// (with `demo`, resets and prints the owner's password at every start).
    init(_ resolved: Resolved, telemetry: TelemetryCapability, demo: Bool, logger: Logger) async throws {
        service = try await AccessSetup.service(store: telemetry.identity, dataDirectory: telemetry.dataDirectory, keyFile: resolved.keyFile,
                                                configuration: resolved.configuration, logger: logger)
        try await AccessSetup.bootstrap(service, email: resolved.adminEmail,
                                        password: ProcessInfo.processInfo.environment["GEMBA_ADMIN_PASSWORD"], demo: demo)
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.access] }
}
