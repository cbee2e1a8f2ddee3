import ArgumentParser
import Foundation
import GembaBackup
import GembaNotifications
import GembaStorage
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
            .init(path: "mqtt/" + SQLiteBrokerStore.fileName,
                  kind: .database(migrations: SQLiteBrokerStore.migrationIdentifiers, counts: SQLiteBrokerStore.backupCounts,
                                  rawSampleTrim: nil),
                  required: false),
            .init(path: AccessSetup.keyFileName, kind: .file(secret: true), required: false),
            .init(path: SecretBox.fileName, kind: .file(secret: true), required: false),
            .init(path: DetectionCapability.stateFilePath, kind: .file(secret: false), required: false),
        ])
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
struct BackupCommand: ParsableCommand {
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

    func run() throws {
        let settings = try Settings(configFile: nil)
        let directory = settings.string("data-dir", flag: dataDir)?.value ?? "gemba-data"
        if let rawDays, rawDays < 1 { throw ConfigurationError("--raw-days must be at least 1, got \(rawDays)") }
        let started = Date()
        let since = rawDays.map { Int64(started.timeIntervalSince1970 * 1000) - Int64($0) * 86_400_000 }
        let manifest: BackupManifest
        do {
            manifest = try BackupMaker(layout: DataDirectory.layout, gembaVersion: Gemba.version)
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
struct RestoreCommand: ParsableCommand {
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

    func run() throws {
        let restorer = BackupRestorer(layout: DataDirectory.layout, runningVersion: Gemba.version)
        do {
            if check {
                let manifest = try restorer.verify(archive: from)
                print("\(from): intact, written by Gemba \(manifest.gembaVersion) at \(manifest.createdAt)")
                DataDirectory.describe(manifest).forEach { print($0) }
                return
            }
            let settings = try Settings(configFile: nil)
            guard let directory = settings.string("data-dir", flag: dataDir)?.value else {
                throw ConfigurationError("--data-dir is required: the new data directory to restore into")
            }
            let manifest = try restorer.restore(archive: from, into: directory)
            print("restored \(from) (Gemba \(manifest.gembaVersion), \(manifest.createdAt)) into \(directory)")
            DataDirectory.describe(manifest).forEach { print($0) }
            print("start it with: gemba serve --data-dir \(directory)")
        } catch let error as BackupError {
            throw CommandFailure(error.description)
        } catch let error as ArchiveError {
            throw CommandFailure("\(from): \(error.description)")
        }
    }
}
