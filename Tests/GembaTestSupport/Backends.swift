import Foundation
public import GembaCore
public import GembaPostgres
public import GembaStorage
import Logging
import PostgresNIO
public import Testing

/// A PostgreSQL server for tests: `GEMBA_TEST_POSTGRES` names one of its databases with a user
/// that may create databases (scripts/test.sh starts a throwaway server and sets it). Each store
/// gets a database of its own.
public enum PostgresTestServer {
    public static let url = ProcessInfo.processInfo.environment["GEMBA_TEST_POSTGRES"]
    /// Whether the run must have the server (scripts/test.sh): then a missing one fails rather than skips.
    public static let required = ProcessInfo.processInfo.environment["GEMBA_REQUIRE_PEERS"] == "1"
    public static let enabled = url != nil || required

    /// A new, empty database on the test server.
    public static func makeDatabase() async throws -> PostgresURL {
        guard let url else { throw PostgresURLError.missing }
        let admin = try PostgresURL(url)
        let name = "gemba_test_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        let client = PostgresClient(configuration: try admin.clientConfiguration(), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
            group.cancelAll()
        }
        var database = admin
        database.database = name
        return database
    }

    public static func makeStore(defaultLimits: TenantLimits = TenantLimits()) async throws -> PostgresStore {
        try await PostgresStore.open(try await makeDatabase(), defaultLimits: defaultLimits, logger: Logger(label: "test"),
                                     startupTimeout: .seconds(10))
    }
}

/// A storage backend under test: SQLite always, PostgreSQL when the test server is there.
public enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    /// The backends this run tests (PostgreSQL is required where scripts/test.sh runs the tests).
    public static var available: [Backend] { PostgresTestServer.enabled ? allCases : [.sqlite] }

    public var testDescription: String { rawValue }

    /// A new, empty store of this backend.
    public func makeStore() async throws -> any GembaStore {
        switch self {
        case .sqlite: try SQLiteStore(directory: NSTemporaryDirectory() + "gemba-store-\(UUID().uuidString)", logger: Logger(label: "test"))
        case .postgres: try await PostgresTestServer.makeStore()
        }
    }

    /// A new, empty identity store of this backend.
    public func makeIdentityStore() async throws -> any IdentityStore {
        switch self {
        case .sqlite: try SQLiteIdentityStore(directory: NSTemporaryDirectory() + "gemba-identity-\(UUID().uuidString)")
        case .postgres: PostgresIdentityStore(try await PostgresTestServer.makeStore())
        }
    }
}
