import ArgumentParser
import Foundation
import GembaBackup
import GembaPostgres
import GembaIngest
import GembaRules
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// `--backup-every`: scheduled online backups of the data directory into `--backup-dir`, the
/// newest `--backup-keep` kept. The schedule follows the newest backup in the directory (a restart
/// does not reset it); each backup runs on a thread of its own, so serving and ingest go on.
struct BackupCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: "Write a backup this often (e.g. 6h, 1d; at least 10s); none when unset. Env: GEMBA_BACKUP_EVERY.")
        var backupEvery: String?

        @Option(help: "Directory for scheduled backups (default <data-dir>/backups; better on another disk). Env: GEMBA_BACKUP_DIR.")
        var backupDir: String?

        @Option(help: "How many scheduled backups to keep (default 7). Env: GEMBA_BACKUP_KEEP.")
        var backupKeep: Int?

        @Option(help: "Leave raw samples older than this many days out of scheduled backups (rollups are kept). Env: GEMBA_BACKUP_RAW_DAYS.")
        var backupRawDays: Int?
    }

    struct Resolved {
        var rotation: BackupRotation
        var directory: String?
        var rawDays: Int?
    }

    static func resolve(_ options: Options, _ settings: Settings) throws -> Resolved? {
        guard let every = settings.string("backup-every", flag: options.backupEvery) else { return nil }
        guard let milliseconds = RuleText.parseDuration(every.value), milliseconds >= 10_000 else {
            throw ConfigurationError("\(every.source) must be a duration of at least 10s (e.g. 6h, 1d), got '\(every.value)'")
        }
        let keep = try settings.int("backup-keep", flag: options.backupKeep, default: 7, range: 1...10_000)
        let rawDays = try settings.string("backup-raw-days", flag: options.backupRawDays.map(String.init)).map { raw in
            guard let days = Int(raw.value), days >= 1 else { throw ConfigurationError("\(raw.source) must be a number of days ≥ 1, got '\(raw.value)'") }
            return days
        }
        return Resolved(rotation: BackupRotation(interval: TimeInterval(milliseconds) / 1000, keep: keep),
                        directory: settings.string("backup-dir", flag: options.backupDir)?.value, rawDays: rawDays)
    }

    let schedule: BackupSchedule?
    /// Backups of a shared database are taken by one node at a time.
    let singleton: SingletonGate

    init(_ resolved: Resolved?, telemetry: TelemetryCapability, logger: Logger) throws {
        singleton = telemetry.singleton
        guard let resolved else {
            schedule = nil
            return
        }
        if telemetry.postgres != nil, resolved.rawDays != nil {
            throw ConfigurationError("--backup-raw-days applies to SQLite data directories; a PostgreSQL dump holds every sample")
        }
        let dataDirectory = telemetry.dataDirectory
        let directory = resolved.directory ?? (dataDirectory as NSString).appendingPathComponent("backups")
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ConfigurationError("cannot create the backup directory \(directory): \(error.localizedDescription)")
        }
        schedule = BackupSchedule(rotation: resolved.rotation, directory: directory, dataDirectory: dataDirectory,
                                  rawDays: resolved.rawDays, postgres: telemetry.postgres, logger: logger)
    }

    var services: [any Service] {
        guard let schedule else { return [] }
        return [PeriodicService("scheduled backups", every: .seconds(min(schedule.rotation.interval, 30)), logger: schedule.logger) { [singleton] in
            guard singleton.mayRun else { return }
            try await schedule.pass()
        }]
    }
}

/// One pass of the schedule: a backup when one is due, then the oldest beyond the count deleted.
/// A failed backup is logged and counted, and tried again after a tenth of the interval.
final class BackupSchedule: Sendable {
    let rotation: BackupRotation
    let directory: String
    let dataDirectory: String
    let rawDays: Int?
    /// The database to dump (`pg_dump`) when the node keeps its data in PostgreSQL.
    let postgres: PostgresStore?
    let logger: Logger
    private let lastFailure = Mutex<Date?>(nil)
    private let written = Counter(label: "gemba_backup_written_total")
    private let failures = Counter(label: "gemba_backup_failures_total")
    private let lastSuccess = Gauge(label: "gemba_backup_last_success_timestamp_seconds")
    private let duration = Gauge(label: "gemba_backup_duration_seconds")
    private let size = Gauge(label: "gemba_backup_size_bytes")

    init(rotation: BackupRotation, directory: String, dataDirectory: String, rawDays: Int?, postgres: PostgresStore?, logger: Logger) {
        self.rotation = rotation
        self.directory = directory
        self.dataDirectory = dataDirectory
        self.rawDays = rawDays
        self.postgres = postgres
        self.logger = logger
        removeLeftovers()
    }

    func pass(now: Date = Date()) async throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        guard rotation.isDue(now: now, existing: names) else { return }
        if let failed = lastFailure.withLock({ $0 }), now.timeIntervalSince(failed) < rotation.interval / 10 { return }
        let path = (directory as NSString).appendingPathComponent(BackupRotation.name(at: now))
        let since = rawDays.map { Int64(now.timeIntervalSince1970 * 1000) - Int64($0) * 86_400_000 }
        let (dataDirectory, started) = (self.dataDirectory, Date())
        do {
            var layout = DataDirectory.layout
            if let postgres { layout = DataDirectory.postgresLayout(postgres.url, facts: try await postgres.backupFacts()) }
            let manifest = try await onOwnThread { [layout] in
                try BackupMaker(layout: layout, gembaVersion: Gemba.version)
                    .write(dataDirectory: dataDirectory, to: path, rawSamplesSince: since, now: now)
            }
            let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0
            let seconds = Date().timeIntervalSince(started)
            lastFailure.withLock { $0 = nil }
            written.increment()
            lastSuccess.record(Date().timeIntervalSince1970)
            duration.record(seconds)
            size.record(Double(bytes))
            logger.info("backup written", metadata: ["backup.path": "\(path)", "backup.bytes": "\(bytes)",
                                                     "backup.seconds": "\(String(format: "%.1f", seconds))", "backup.files": "\(manifest.files.count)"])
        } catch {
            lastFailure.withLock { $0 = now }
            failures.increment()
            logger.error("backup failed; will try again", metadata: ["backup.path": "\(path)", "error": "\(error)"])
            return
        }
        for name in rotation.expired(among: try FileManager.default.contentsOfDirectory(atPath: directory)) {
            do {
                try FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
            } catch {
                logger.warning("cannot delete an old backup", metadata: ["backup.name": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// What a backup interrupted by a crash left: its unfinished archive and staging copies.
    private func removeLeftovers() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(BackupRotation.prefix) && (name.hasSuffix(".tar.partial") || name.contains(".tar.staging-")) {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }
}

/// Runs blocking work (minutes of file I/O) on a thread of its own, off the cooperative pool.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.name = "gemba-backup"
        thread.start()
    }
}
