public import PostgresNIO
internal import Foundation
internal import Logging
internal import NIOSSL

/// Where a PostgreSQL database is and how to reach it, from a `postgres://` URL:
///
///     postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require&pool=N&writers=N&host=/socket/dir]
///
/// The password may also come from `PGPASSWORD` when the URL has none, so it need not appear
/// in a process list or a shell history. A `host` query item naming a directory connects over
/// that directory's Unix socket instead of TCP.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// How the connection is encrypted (libpq's `sslmode` names).
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode
    /// Most connections the pool opens.
    public var poolSize: Int
    /// How many transactions a large commit is split into, run at once on separate connections
    /// (each series in one of them): PostgreSQL runs each statement on one core.
    public var writers: Int
    /// A directory holding the server's Unix socket, used instead of `host` when set.
    public var socketDirectory: String?

    /// Parses `text` (`environment` defaults to the process's); throws ``PostgresURLError`` naming what is wrong.
    public init(_ text: String, environment: [String: String]? = nil) throws {
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard let components = URLComponents(string: text), let scheme = components.scheme,
              ["postgres", "postgresql"].contains(scheme.lowercased())
        else { throw PostgresURLError("expected postgres://user@host:port/database, got '\(Self.redacted(text))'") }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw PostgresURLError("the URL names no user (postgres://user@host/database)")
        }
        let database = String(components.path.drop { $0 == "/" }).removingPercentEncoding ?? ""
        guard !database.isEmpty, !database.contains("/") else {
            throw PostgresURLError("the URL names no database (postgres://user@host/database)")
        }
        self.user = user
        password = components.percentEncodedPassword?.removingPercentEncoding ?? environment["PGPASSWORD"]
        host = components.host ?? "localhost"
        port = components.port ?? 5432
        self.database = database
        tls = .prefer
        poolSize = 8
        writers = 2
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                // libpq's verify-* modes check the certificate, which `require` does here too.
                let mode = value.hasPrefix("verify") ? "require" : value == "allow" ? "prefer" : value
                guard let tls = TLSMode(rawValue: mode) else { throw PostgresURLError("sslmode '\(value)' is not disable, prefer or require") }
                self.tls = tls
            case "pool":
                guard let size = Int(value), (1...500).contains(size) else { throw PostgresURLError("pool '\(value)' is not 1 to 500") }
                poolSize = size
            case "writers":
                guard let count = Int(value), (1...16).contains(count) else { throw PostgresURLError("writers '\(value)' is not 1 to 16") }
                writers = count
            case "host":
                guard value.hasPrefix("/") else { throw PostgresURLError("host '\(value)' in the query must be a socket directory") }
                socketDirectory = value
            default:
                throw PostgresURLError("unknown URL parameter '\(item.name)' (known: sslmode, pool, writers, host)")
            }
        }
    }

    /// The URL without its password: what logs and messages show.
    public var description: String {
        let query = tls == .prefer ? "" : "?sslmode=\(tls.rawValue)"
        return "postgres://\(user)@\(socketDirectory ?? host):\(port)/\(database)\(query)"
    }

    /// The URL as libpq's programs (`psql`, `pg_dump`, `pg_restore`) take it, without the password
    /// (give it to them as `PGPASSWORD`) and without Gemba's own parameters.
    public var libpqURI: String {
        var components = URLComponents()
        components.scheme = "postgresql"
        components.user = user
        components.host = socketDirectory == nil ? host : nil
        components.port = port
        components.path = "/" + database
        var query = [URLQueryItem(name: "sslmode", value: tls.rawValue)]
        if let socketDirectory { query.append(URLQueryItem(name: "host", value: socketDirectory)) }
        components.queryItems = query
        return components.string ?? "postgresql:///\(database)"
    }

    /// `text` with any password replaced, for error messages about a URL that did not parse.
    static func redacted(_ text: String) -> String {
        text.replacingOccurrences(of: #"(://[^:/@]*:)[^@]*@"#, with: "$1***@", options: .regularExpression)
    }

    /// The client configuration for this URL (pool size included).
    public func clientConfiguration() throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password,
                                  database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.maximumConnections = poolSize
        configuration.options.minimumConnections = 1
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "gemba")]
        return configuration
    }

    /// The configuration of one connection of its own, outside the pool (the singleton lock, the
    /// change feed's `LISTEN`), named `name` in `pg_stat_activity`.
    func connectionConfiguration(name: String) throws -> PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS = switch self.tls {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.additionalStartupParameters = [("application_name", name)]
        return configuration
    }

    /// Opens one connection of its own named `name`, answering within `deadline` or throwing (a
    /// connect to a vanished server can hang without an error); a connection that comes after the
    /// caller gave up is closed.
    func connect(_ name: String, id: Int, within deadline: Duration, logger: Logger) async throws -> PostgresConnection {
        let configuration = try connectionConfiguration(name: name)
        return try await answer(within: deadline, expired: { Unanswered() }, discard: { $0.closeUnanswered() }) {
            try await PostgresConnection.connect(on: PostgresClient.defaultEventLoopGroup.any(), configuration: configuration,
                                                 id: id, logger: logger).get()
        }
    }
}

/// A connect or a statement that did not answer in time.
struct Unanswered: Error, CustomStringConvertible {
    var description: String { "PostgreSQL did not answer in time" }
}

/// A `postgres://` URL that does not parse, with what is wrong.
public struct PostgresURLError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }

    /// No URL was given where one is needed.
    public static let missing = PostgresURLError("no postgres:// URL is set")
}
