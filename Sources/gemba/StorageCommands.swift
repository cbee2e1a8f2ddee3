import ArgumentParser
import Foundation
import GembaPostgres
import GembaStorage
import GRDB
import Logging

/// `gemba storage …`: moving a plant's data between backends.
struct StorageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Move a plant's data between storage backends.", subcommands: [StorageMigrate.self])
}

/// `gemba storage migrate --from <data dir> --to postgres://…`: every table of a SQLite data
/// directory (telemetry, rollups, OEE data, alarms, maintenance, detectors, identity and audit)
/// copied into a new PostgreSQL database, then every table's rows counted on both sides.
struct StorageMigrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy a SQLite data directory into an empty PostgreSQL database and check the counts.",
        discussion: """
            Stop gemba serve on the data directory first: what it writes during the copy is not copied. \
            The target database must hold no Gemba data (a new database, or one gemba serve --storage made \
            but never fed). The copy is not one transaction: after a failure, drop the database, create it \
            again and run the command again. Keys (jwt.key, notifications.key) stay in the data directory: \
            point gemba serve --storage at it with --data-dir (or --jwt-key-file) to keep tokens and \
            notification secrets valid.
            """)

    @Option(help: "The SQLite data directory to copy (default ./gemba-data). Env: GEMBA_DATA_DIR.")
    var from: String?

    @Option(help: "The PostgreSQL database to fill: postgres://user@host:port/db (password from PGPASSWORD or the URL).")
    var to: String

    func run() async throws {
        do {
            try await migrate()
        } catch let error as PostgresStoreError {
            throw CommandFailure(error.description)
        }
    }

    private func migrate() async throws {
        let settings = try Settings(configFile: nil)
        let directory = settings.string("data-dir", flag: from)?.value ?? "gemba-data"
        guard let url = try TelemetryCapability.storage((to, "--to")) else { throw ConfigurationError("--to must be a postgres:// URL") }
        var logger = Logger(label: "gemba-storage")
        logger.logLevel = .warning
        let sources = try SQLiteSources(directory: directory, logger: logger)
        let target: PostgresStore
        do {
            target = try await PostgresStore.open(url, logger: logger, startupTimeout: .seconds(10))
        } catch {
            throw ConfigurationError("cannot open the PostgreSQL database \(url): \(error)")
        }
        defer { target.close() }
        guard try await target.holdsNoData() else {
            throw ConfigurationError("\(url) holds Gemba data already: migrate into a new, empty database")
        }
        let started = Date()
        let copier = TableCopier(target: target, types: try await target.columnTypes())
        var report: [(table: String, source: Int, target: Int)] = []
        for (database, name) in [(sources.identity, SQLiteIdentityStore.fileName), (sources.telemetry, SQLiteStore.fileName)] {
            for table in try copier.tables(of: database, file: name) {
                let copied = try await copier.copy(table, from: database)
                report.append((copied.target, copied.rows, try await target.rowCount(copied.target)))
            }
        }
        let samples = try await copier.copySamples(from: sources.telemetry)
        report.append(("sample", samples.rows, try await target.rowCount("sample")))
        // The rollups came along whole: they hold every sample copied, and the job goes on from there.
        try await target.setRollupWatermark(max(samples.newest + 1, Int64(Date().timeIntervalSince1970 * 1000) - 60_000))
        for table in TableCopier.identityTables { try await target.resetIdentity(of: table) }
        let mismatched = report.filter { $0.source != $0.target }
        for entry in report where entry.source > 0 || entry.target > 0 {
            print("\(entry.table): \(entry.source) rows copied, \(entry.target) in PostgreSQL\(entry.source == entry.target ? "" : "  ← MISMATCH")")
        }
        guard mismatched.isEmpty else {
            throw CommandFailure("the counts differ in \(mismatched.map(\.table).joined(separator: ", ")): drop the database and run again")
        }
        print("migrated \(directory) into \(url) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; all counts match")
    }
}

/// The data directory's databases, brought up to date (migrations run, the inbox moved into the
/// sample table) and then opened read-only.
struct SQLiteSources {
    let telemetry: DatabaseQueue
    let identity: DatabaseQueue

    init(directory: String, logger: Logger) throws {
        let files = [SQLiteStore.fileName, SQLiteIdentityStore.fileName].map { (directory as NSString).appendingPathComponent($0) }
        guard files.allSatisfy(FileManager.default.fileExists(atPath:)) else {
            throw ConfigurationError("\(directory) is not a Gemba data directory (it has no \(SQLiteStore.fileName) and \(SQLiteIdentityStore.fileName))")
        }
        do {
            // Opening each store once applies its migrations and moves samples left in the inbox.
            _ = try SQLiteStore(directory: directory, logger: logger)
            _ = try SQLiteIdentityStore(directory: directory)
            var configuration = Configuration()
            configuration.readonly = true
            telemetry = try DatabaseQueue(path: files[0], configuration: configuration)
            identity = try DatabaseQueue(path: files[1], configuration: configuration)
        } catch {
            throw ConfigurationError("cannot read the data directory \(directory): \(error)")
        }
    }
}

/// Copies SQLite tables into the PostgreSQL tables of the same name and columns.
struct TableCopier {
    let target: PostgresStore
    /// PostgreSQL's tables with their columns' types.
    let types: [String: [String: String]]

    /// SQLite's tables that are not copied as they are: GRDB's bookkeeping, the inbox (moved on
    /// opening) and the samples (copied by ``copySamples(from:)``).
    static let skipped: Set<String> = ["grdb_migrations", "inbox", "sample"]
    /// Identity's tables renamed in PostgreSQL (`user` is reserved; `tenant` is telemetry's there).
    static let renamed = [SQLiteIdentityStore.fileName: ["tenant": "identity_tenant", "user": "app_user"]]
    /// Tables whose `id` comes from an identity sequence, moved past the copied ids afterwards.
    static let identityTables = ["series", "alarm_journal", "notification_outbox", "work_order_decision", "detector_event", "audit"]
    /// Copied before the rest: others refer to them.
    static let first = ["app_user", "session"]

    /// The tables of one SQLite file to copy, as (SQLite name, PostgreSQL name), referenced ones first.
    func tables(of database: DatabaseQueue, file: String) throws -> [(source: String, target: String)] {
        let names = try database.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        }
        return try names.filter { !Self.skipped.contains($0) }.map { name in
            let target = Self.renamed[file]?[name] ?? name
            guard types[target] != nil else {
                throw ConfigurationError("PostgreSQL has no table for \(file)'s \(name): this gemba is older than the data directory")
            }
            return (name, target)
        }.sorted { (Self.first.firstIndex(of: $0.target) ?? Int.max) < (Self.first.firstIndex(of: $1.target) ?? Int.max) }
    }

    /// Copies one table whole, in chunks; answers the rows read.
    func copy(_ table: (source: String, target: String), from database: DatabaseQueue) async throws -> (target: String, rows: Int) {
        let columns = try await database.read { db in try db.columns(in: table.source).map(\.name) }
        let targetTypes = types[table.target] ?? [:]
        if let missing = columns.first(where: { targetTypes[$0] == nil }) {
            throw ConfigurationError("PostgreSQL's \(table.target) has no column \(missing): this gemba is older than the data directory")
        }
        let list = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        var copied = 0
        while true {
            let offset = copied
            let rows = try await database.read { db in
                try Row.fetchAll(db, sql: "SELECT \(list) FROM \"\(table.source)\" LIMIT \(Self.chunk) OFFSET \(offset)").map(Self.values)
            }
            copied += try await target.importRows(into: table.target, columns: columns, types: targetTypes, rows: rows)
            if rows.count < Self.chunk { return (table.target, copied) }
        }
    }

    static let chunk = 50_000

    /// The samples, in (series, time) order and chunks, each value into the column of its type;
    /// the day partitions they need are made first. Answers the rows and the newest time.
    func copySamples(from database: DatabaseQueue) async throws -> (rows: Int, newest: Int64) {
        let day: Int64 = 86_400_000
        let days = try await database.read { db in
            try Int64.fetchAll(db, sql: "SELECT DISTINCT t - ((t % \(day)) + \(day)) % \(day) FROM sample")
        }
        try await target.ensurePartitions(days: Set(days))
        let columns = ["series", "t", "f", "i", "s", "q"]
        let targetTypes = types["sample"] ?? [:]
        var after: (series: Int64, time: Int64) = (.min, .min)
        var copied = 0, newest = Int64.min
        while true {
            let start = after
            let rows = try await database.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT series, t, CASE typeof(v) WHEN 'real' THEN v END, CASE typeof(v) WHEN 'integer' THEN v END,
                           CASE typeof(v) WHEN 'text' THEN v END, q
                    FROM sample WHERE (series, t) > (?, ?) ORDER BY series, t LIMIT \(Self.chunk)
                    """, arguments: [start.series, start.time]).map(Self.values)
            }
            guard let last = rows.last, case .int(let series) = last[0], case .int(let time) = last[1] else { return (copied, newest) }
            copied += try await target.importRows(into: "sample", columns: columns, types: targetTypes, rows: rows)
            for row in rows { if case .int(let time) = row[1] { newest = max(newest, time) } }
            after = (series, time)
        }
    }

    /// A row's values as they are stored.
    static func values(_ row: Row) -> [ImportValue] {
        row.databaseValues.map { value in
            switch value.storage {
            case .null: .null
            case .int64(let number): .int(number)
            case .double(let number): .double(number)
            case .string(let text): .text(text)
            case .blob(let data): .blob([UInt8](data))
            }
        }
    }
}
