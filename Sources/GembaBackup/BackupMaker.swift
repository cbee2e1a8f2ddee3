public import Foundation
internal import GRDB

/// Writes a backup of a data directory: one ustar archive with `manifest.json` first, then each
/// file of the layout. Databases are copied with SQLite's online backup API in one step, so each
/// is a consistent snapshot while `gemba serve` keeps writing (WAL lets readers and the writer run
/// side by side); they are copied one after another, so two databases may be a moment apart.
///
/// The copies are staged beside the archive, hashed, then streamed into `<archive>.partial`,
/// which is synced and renamed: a crash leaves no file that looks like a finished backup.
/// The archive holds the data directory's keys, so it is created with mode 0600.
public struct BackupMaker: Sendable {
    public let layout: DataDirectoryLayout
    public let gembaVersion: String

    public init(layout: DataDirectoryLayout, gembaVersion: String) {
        self.layout = layout
        self.gembaVersion = gembaVersion
    }

    /// Backs up `dataDirectory` into a new file at `archivePath`. With `rawSamplesSince` (ms since
    /// 1970), raw samples older than it are left out of the copy; rollups are kept.
    @discardableResult
    public func write(dataDirectory: String, to archivePath: String, rawSamplesSince: Int64? = nil,
                      now: Date = Date()) throws -> BackupManifest {
        let fileManager = FileManager.default
        guard !fileManager.fileExists(atPath: archivePath) else { throw BackupError.alreadyExists(archivePath) }
        for item in layout.items where item.required && item.isInDataDirectory {
            guard fileManager.fileExists(atPath: join(dataDirectory, item.path)) else { throw BackupError.noData(dataDirectory, missing: item.path) }
        }
        let staging = archivePath + ".staging-\(ProcessInfo.processInfo.processIdentifier)"
        try? fileManager.removeItem(atPath: staging)
        try fileManager.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? fileManager.removeItem(atPath: staging) }

        var files: [BackupManifest.File] = []
        for item in layout.items {
            let source = join(dataDirectory, item.path)
            guard !item.isInDataDirectory || fileManager.fileExists(atPath: source) else { continue }
            let staged = join(staging, item.path)
            try fileManager.createDirectory(atPath: (staged as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            switch item.kind {
            case .dump(_, let produce):
                let facts = try produce(staged)
                files.append(.init(path: item.path, kind: .dump, digest: try FileDigest.of(file: staged), migrations: facts.migrations,
                                   counts: facts.counts))
            case .database(_, let prepare, let counts, let trim):
                let copy = try DatabaseCopy.make(from: source, to: staged, prepare: prepare,
                                                  trim: rawSamplesSince.flatMap { since in trim.map { ($0, since) } }, counts: counts)
                files.append(.init(path: item.path, kind: .database, digest: try FileDigest.of(file: staged),
                                   migrations: copy.migrations, counts: copy.counts))
            case .file:
                try fileManager.copyItem(atPath: source, toPath: staged)
                files.append(.init(path: item.path, kind: .file, digest: try FileDigest.of(file: staged)))
            }
        }
        let manifest = BackupManifest(gembaVersion: gembaVersion, createdAt: Self.rfc3339(now),
                                      rawSamplesSince: rawSamplesSince.map { Self.rfc3339(Date(timeIntervalSince1970: Double($0) / 1000)) },
                                      files: files)
        try writeArchive(manifest, staging: staging, to: archivePath, time: Int64(now.timeIntervalSince1970))
        return manifest
    }

    private func writeArchive(_ manifest: BackupManifest, staging: String, to archivePath: String, time: Int64) throws {
        let fileManager = FileManager.default
        let partial = archivePath + ".partial"
        try? fileManager.removeItem(atPath: partial)
        guard fileManager.createFile(atPath: partial, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: partial) else { throw BackupError.unwritable(partial) }
        do {
            defer { try? handle.close() }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let writer = TarWriter(handle: handle)
            try writer.add(name: BackupManifest.entryName, modificationTime: time, data: try encoder.encode(manifest))
            for file in manifest.files {
                let secret = layout.item(file.path)?.isSecret ?? false
                let digest = try writer.add(name: file.path, mode: secret ? 0o600 : 0o644, modificationTime: time,
                                            file: join(staging, file.path), size: file.bytes)
                guard digest == file.digest else { throw BackupError.changedWhileWriting(file.path) }
            }
            try writer.finish()
            try fileManager.moveItem(atPath: partial, toPath: archivePath)
        } catch {
            try? fileManager.removeItem(atPath: partial)
            throw error
        }
    }

    static func rfc3339(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(identifier: "UTC")!))
    }
}

/// One database copied with SQLite's backup API, readied by its owner, then made self-contained (rollback journal, so
/// no `-wal` file belongs to it) and, when asked, trimmed of old raw samples and vacuumed.
enum DatabaseCopy {
    struct Result {
        var migrations: [String]
        var counts: [String: Int]
    }

    static func make(from source: String, to destination: String, prepare: (@Sendable (String) throws -> Void)?,
                     trim: (sql: String, since: Int64)?, counts: [String: String]) throws -> Result {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        let sourceQueue = try DatabaseQueue(path: source, configuration: configuration)
        let snapshot = try DatabaseQueue(path: destination)
        try sourceQueue.backup(to: snapshot)
        try sourceQueue.close()
        try snapshot.close()
        try prepare?(destination)
        let copy = try DatabaseQueue(path: destination)
        let result = try copy.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = DELETE")
            if let trim {
                try db.execute(sql: trim.sql, arguments: [trim.since])
                try db.execute(sql: "VACUUM")
            }
            let migrations = try db.tableExists("grdb_migrations")
                ? try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") : []
            var values: [String: Int] = [:]
            for (name, sql) in counts { values[name] = try Int.fetchOne(db, sql: sql) ?? 0 }
            return Result(migrations: migrations, counts: values)
        }
        try copy.close()
        return result
    }
}

func join(_ directory: String, _ path: String) -> String { (directory as NSString).appendingPathComponent(path) }
