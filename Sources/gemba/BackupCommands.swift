import ArgumentParser
import Foundation
import GembaBackup
import GembaNotifications
import GembaPostgres
import GembaStorage
import Logging
import MQTTBroker

/// The files of a data directory that a backup holds, from the stores that own them. A capability
/// that keeps a new file in the data directory adds it here, or backups silently leave it out.
enum DataDirectory {
    static var layout: DataDirectoryLayout {
        DataDirectoryLayout(items: [
            .init(path: SQLiteStore.fileName,
                  kind: .database(migrations: SQLiteStore.migrationIdentifiers, prepare: SQLiteStore.prepareBackupCopy,
                                  counts: SQLiteStore.backupCounts,
                                  rawSampleTrim: SQLiteStore.rawSampleTrim),
                  required: true),
            .init(path: SQLiteIdentityStore.fileName,
                  kind: .database(migrations: SQLiteIdentityStore.migrationIdentifiers, counts: SQLiteIdentityStore.backupCounts,
                                  rawSampleTrim: nil),
                  required: true),
        ] + nodeFiles)
    }

    /// What is the node's own whatever the storage: the broker's sessions, the keys, the detectors' state.
    static var nodeFiles: [DataDirectoryLayout.Item] {
        [
            .init(path: "mqtt/" + SQLiteBrokerStore.fileName,
                  kind: .database(migrations: SQLiteBrokerStore.migrationIdentifiers, counts: SQLiteBrokerStore.backupCounts,
                                  rawSampleTrim: nil),
                  required: false),
            .init(path: AccessSetup.keyFileName, kind: .file(secret: true), required: false),
            .init(path: SecretBox.fileName, kind: .file(secret: true), required: false),
            .init(path: DetectionCapability.stateFilePath, kind: .file(secret: false), required: false),
        ]
    }

    /// The name of the dump in a PostgreSQL backup.
    static let dumpName = "postgres.dump"

    /// A backup of a PostgreSQL-backed node: the database dumped by `pg_dump` (a consistent
    /// snapshot while the nodes write), and the data directory's node-local files.
    static func postgresLayout(_ url: PostgresURL, facts: DumpSummary?) -> DataDirectoryLayout {
        DataDirectoryLayout(items: [
            .init(path: dumpName, kind: .dump(migrations: PostgresStore.migrationIdentifiers) { path in
                try PostgresTools.run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", "--file=\(path)", "--dbname=\(url.libpqURI)"],
                                      password: url.password)
                return DumpFacts(migrations: facts?.migrations ?? [], counts: facts?.counts ?? [:])
            }, required: true),
        ] + nodeFiles)
    }

    /// Every file either kind of backup may hold, none required: what `gemba restore --check` reads.
    static var anyLayout: DataDirectoryLayout {
        let dump = DataDirectoryLayout.Item(path: dumpName, kind: .dump(migrations: PostgresStore.migrationIdentifiers) { _ in
            DumpFacts(migrations: [], counts: [:])
        }, required: false)
        return DataDirectoryLayout(items: (layout.items + [dump]).map { DataDirectoryLayout.Item(path: $0.path, kind: $0.kind, required: false) })
    }

    /// One line per file of a manifest: its size and counts.
    static func describe(_ manifest: BackupManifest) -> [String] {
        manifest.files.map { file in
            let counts = (file.counts ?? [:]).sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            return "  \(file.path): \(megabytes(file.bytes))" + (counts.isEmpty ? "" : ", " + counts.joined(separator: ", "))
        }
    }

    static func megabytes(_ bytes: UInt64) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
}

/// `gemba backup`: one archive of a data directory, taken while `gemba serve` runs.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Write a backup of a data directory (online: gemba serve may keep running).",
        discussion: """
            The archive (a tar file) holds manifest.json first (Gemba's version, each database's schema \
            migrations, a SHA-256 and size per file, row counts), then every database copied as a \
            consistent snapshot, the keys (jwt.key, notifications.key) and the detectors' learnt state. \
            It holds secrets: it is written with mode 0600; keep it as safe as the data directory.
            """)

    @Option(help: "The archive to write (must not exist).")
    var to: String

    @Option(help: "Gemba's data directory (default ./gemba-data). Env: GEMBA_DATA_DIR.")
    var dataDir: String?

    @Option(help: "Leave out raw samples older than this many days (minute and hour rollups are kept whole).")
    var rawDays: Int?

    @Option(help: "sqlite (default) or the postgres:// URL gemba serve --storage uses: the database is dumped with pg_dump. Env: GEMBA_STORAGE.")
    var storage: String?

    func run() async throws {
        let settings = try Settings(configFile: nil)
        let directory = settings.string("data-dir", flag: dataDir)?.value ?? "gemba-data"
        if let rawDays, rawDays < 1 { throw ConfigurationError("--raw-days must be at least 1, got \(rawDays)") }
        let started = Date()
        let since = rawDays.map { Int64(started.timeIntervalSince1970 * 1000) - Int64($0) * 86_400_000 }
        var layout = DataDirectory.layout
        if let url = try TelemetryCapability.storage(settings.string("storage", flag: storage)) {
            guard rawDays == nil else { throw ConfigurationError("--raw-days applies to SQLite data directories; a PostgreSQL dump holds every sample") }
            var logger = Logger(label: "gemba-backup")
            logger.logLevel = .error
            let store = try await PostgresStore.open(url, logger: logger, startupTimeout: .seconds(10))
            let facts = try await store.backupFacts()
            store.close()
            layout = DataDirectory.postgresLayout(url, facts: facts)
        }
        let manifest: BackupManifest
        do {
            manifest = try BackupMaker(layout: layout, gembaVersion: Gemba.version)
                .write(dataDirectory: directory, to: to, rawSamplesSince: since, now: started)
        } catch let error as BackupError {
            throw CommandFailure(error.description)
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: to)[.size] as? UInt64) ?? 0
        print("backup written: \(to) (\(DataDirectory.megabytes(bytes)), \(manifest.files.count) files, \(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
        DataDirectory.describe(manifest).forEach { print($0) }
        if let cut = manifest.rawSamplesSince { print("raw samples before \(cut) left out; rollups kept") }
    }
}

/// `gemba restore`: a backup into a new data directory, after checking it whole.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup into a new (or empty) data directory, or only check it (--check).",
        discussion: """
            The manifest is checked first: a backup from a newer Gemba (a backup format or schema \
            migration this gemba does not know) is refused before anything is written. Every file is \
            checked against its SHA-256 as it is extracted; the directory appears only when all are intact. \
            A backup from an older Gemba is restored as it is and brought up to date when gemba serve starts.
            """)

    @Option(help: "The backup archive to read.")
    var from: String

    @Option(help: "The data directory to create (must not exist or be empty). Env: GEMBA_DATA_DIR.")
    var dataDir: String?

    @Flag(help: "Only check the archive (manifest, version, every checksum); write nothing.")
    var check = false

    @Option(help: "For a backup of a PostgreSQL-backed node: the empty database to restore into (postgres://…), with pg_restore. Env: GEMBA_STORAGE.")
    var storage: String?

    func run() async throws {
        let settings = try Settings(configFile: nil)
        let postgres = try TelemetryCapability.storage(settings.string("storage", flag: storage))
        if let postgres, !check {
            var logger = Logger(label: "gemba-restore")
            logger.logLevel = .error
            guard try await PostgresStore.databaseIsBare(postgres, logger: logger) else {
                throw ConfigurationError("\(postgres) has tables already: restore into a new, empty database")
            }
        }
        let layout = check ? DataDirectory.anyLayout : postgres.map { DataDirectory.postgresLayout($0, facts: nil) } ?? DataDirectory.layout
        let restorer = BackupRestorer(layout: layout, runningVersion: Gemba.version)
        do {
            if check {
                let manifest = try restorer.verify(archive: from)
                print("\(from): intact, written by Gemba \(manifest.gembaVersion) at \(manifest.createdAt)")
                DataDirectory.describe(manifest).forEach { print($0) }
                return
            }
            guard let directory = settings.string("data-dir", flag: dataDir)?.value else {
                throw ConfigurationError("--data-dir is required: the new data directory to restore into")
            }
            let manifest = try restorer.restore(archive: from, into: directory)
            if let postgres {
                let dump = (directory as NSString).appendingPathComponent(DataDirectory.dumpName)
                try PostgresTools.run("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "--dbname=\(postgres.libpqURI)", dump],
                                      password: postgres.password)
                try FileManager.default.removeItem(atPath: dump)
            }
            print("restored \(from) (Gemba \(manifest.gembaVersion), \(manifest.createdAt)) into \(postgres.map { "\($0) and " } ?? "")\(directory)")
            DataDirectory.describe(manifest).forEach { print($0) }
            print("start it with: gemba serve --data-dir \(directory)\(postgres.map { " --storage '\($0)'" } ?? "")")
        } catch let error as BackupError where postgres == nil && error.description.contains(DataDirectory.dumpName) {
            throw CommandFailure("\(from) is a backup of a PostgreSQL-backed node: restore it with --storage postgres://… (a new, empty database)")
        } catch let error as BackupError {
            throw CommandFailure(error.description)
        } catch let error as ArchiveError {
            throw CommandFailure("\(from): \(error.description)")
        }
    }
}
