import Foundation
import GRDB
import Testing
@testable import GembaBackup

/// Backups of a small data directory made of real SQLite databases (WAL, GRDB migrations).
@Suite struct BackupRestoreTests {
    static let layout = DataDirectoryLayout(items: [
        .init(path: "gemba.sqlite", kind: .database(migrations: ["v1", "v2"], counts: ["samples": "SELECT count(*) FROM sample"],
                                                     rawSampleTrim: "DELETE FROM sample WHERE t < ?"), required: true),
        .init(path: "mqtt/mqtt.sqlite", kind: .database(migrations: ["v1"], counts: [:], rawSampleTrim: nil), required: false),
        .init(path: "jwt.key", kind: .file(secret: true), required: false),
    ])

    /// A data directory: `gemba.sqlite` with migration v1 applied and `samples` rows at t = 0, 1000, …
    static func dataDirectory(in directory: TemporaryDirectory, samples: Int) throws -> (String, DatabasePool) {
        let data = directory.path("data")
        try FileManager.default.createDirectory(atPath: data + "/mqtt", withIntermediateDirectories: true)
        let pool = try DatabasePool(path: data + "/gemba.sqlite")
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: "CREATE TABLE sample (series INTEGER, t INTEGER, v REAL, PRIMARY KEY (series, t)) WITHOUT ROWID")
            try db.execute(sql: "CREATE TABLE total (n INTEGER NOT NULL)")
            try db.execute(sql: "INSERT INTO total VALUES (0)")
        }
        try migrator.migrate(pool)
        try pool.write { db in
            for index in 0..<samples { try db.execute(sql: "INSERT INTO sample VALUES (1, ?, ?)", arguments: [index * 1000, Double(index)]) }
            try db.execute(sql: "UPDATE total SET n = ?", arguments: [samples])
        }
        _ = FileManager.default.createFile(atPath: data + "/jwt.key", contents: Data(repeating: 7, count: 32), attributes: [.posixPermissions: 0o600])
        return (data, pool)
    }

    let maker = BackupMaker(layout: layout, gembaVersion: "1.0.0")
    let restorer = BackupRestorer(layout: layout, runningVersion: "1.0.0")

    @Test func restoresWhatWasBackedUp() throws {
        let directory = try TemporaryDirectory()
        let (data, pool) = try Self.dataDirectory(in: directory, samples: 500)
        let archive = directory.path("b.tar")
        let manifest = try maker.write(dataDirectory: data, to: archive)
        #expect(manifest.files.map(\.path) == ["gemba.sqlite", "jwt.key"])
        #expect(manifest.files[0].migrations == ["v1"] && manifest.files[0].counts == ["samples": 500])
        #expect(try FileManager.default.attributesOfItem(atPath: archive)[.posixPermissions] as? Int == 0o600)

        #expect(try restorer.verify(archive: archive) == manifest)
        let target = directory.path("restored")
        try restorer.restore(archive: archive, into: target)
        let copy = try DatabaseQueue(path: target + "/gemba.sqlite")
        let rows = try copy.read { try Row.fetchAll($0, sql: "SELECT * FROM sample ORDER BY t") }
        let original = try pool.read { try Row.fetchAll($0, sql: "SELECT * FROM sample ORDER BY t") }
        #expect(rows == original)
        #expect(FileManager.default.contents(atPath: target + "/jwt.key") == Data(repeating: 7, count: 32))
        #expect(try FileManager.default.attributesOfItem(atPath: target + "/jwt.key")[.posixPermissions] as? Int == 0o600)
        #expect(!FileManager.default.fileExists(atPath: target + "/gemba.sqlite-wal"))
    }

    @Test func leavesOutOldRawSamplesOnRequest() throws {
        let directory = try TemporaryDirectory()
        let (data, _) = try Self.dataDirectory(in: directory, samples: 100)
        let archive = directory.path("b.tar")
        let manifest = try maker.write(dataDirectory: data, to: archive, rawSamplesSince: 60_000)
        #expect(manifest.files[0].counts == ["samples": 40])
        #expect(manifest.rawSamplesSince == "1970-01-01T00:01:00.000Z")
        try restorer.restore(archive: archive, into: directory.path("restored"))
        let oldest = try DatabaseQueue(path: directory.path("restored/gemba.sqlite")).read { try Int.fetchOne($0, sql: "SELECT min(t) FROM sample") }
        #expect(oldest == 60_000)
    }

    /// Each database is one snapshot while a writer keeps committing: the running total always
    /// matches the rows it counts, however the copy and the commits interleave.
    @Test func aBackupUnderWritesIsConsistent() async throws {
        let directory = try TemporaryDirectory()
        let (data, pool) = try Self.dataDirectory(in: directory, samples: 20_000)
        let writer = Task.detached {
            var next = 20_000
            while !Task.isCancelled {
                let first = next
                try await pool.write { db in
                    for time in first..<first + 50 {
                        try db.execute(sql: "INSERT INTO sample VALUES (2, ?, 0)", arguments: [time])
                    }
                    try db.execute(sql: "UPDATE total SET n = n + 50")
                }
                next += 50
            }
        }
        var totals: [Int] = []
        for round in 0..<3 {
            let archive = directory.path("b\(round).tar")
            try maker.write(dataDirectory: data, to: archive)
            let target = directory.path("r\(round)")
            try restorer.restore(archive: archive, into: target)
            let (count, total) = try await DatabaseQueue(path: target + "/gemba.sqlite").read { db in
                (try Int.fetchOne(db, sql: "SELECT count(*) FROM sample")!, try Int.fetchOne(db, sql: "SELECT n FROM total")!)
            }
            #expect(count == total)
            totals.append(total)
        }
        writer.cancel()
        _ = await writer.result
        #expect(totals.last! > 20_000, "the writer committed while the backups ran")
    }

    @Test func refusesADamagedArchiveAndWritesNothing() throws {
        let directory = try TemporaryDirectory()
        let (data, _) = try Self.dataDirectory(in: directory, samples: 200)
        let archive = directory.path("b.tar")
        try maker.write(dataDirectory: data, to: archive)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        // A byte inside gemba.sqlite: its header follows the manifest's header and contents.
        let manifestSize = Int(String(decoding: bytes[124..<135], as: UTF8.self), radix: 8)!
        let databaseStart = 512 + (manifestSize + 511) / 512 * 512 + 512
        bytes[databaseStart + 100] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: archive))
        let target = directory.path("restored")
        #expect(throws: BackupError.checksumMismatch("gemba.sqlite")) { try restorer.restore(archive: archive, into: target) }
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path(".")).allSatisfy { !$0.contains("restoring") })
    }

    @Test func refusesATruncatedArchive() throws {
        let directory = try TemporaryDirectory()
        let (data, _) = try Self.dataDirectory(in: directory, samples: 200)
        let archive = directory.path("b.tar")
        try maker.write(dataDirectory: data, to: archive)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: archive))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: archive))
        #expect(throws: ArchiveError.truncated(inside: "gemba.sqlite")) { try restorer.verify(archive: archive) }
    }

    @Test func refusesANonEmptyTarget() throws {
        let directory = try TemporaryDirectory()
        let (data, _) = try Self.dataDirectory(in: directory, samples: 10)
        let archive = directory.path("b.tar")
        try maker.write(dataDirectory: data, to: archive)
        #expect(throws: BackupError.targetNotEmpty(data)) { try restorer.restore(archive: archive, into: data) }
        // An empty directory is fine.
        let empty = directory.path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        try restorer.restore(archive: archive, into: empty + "/")
        #expect(FileManager.default.fileExists(atPath: empty + "/gemba.sqlite"))
    }

    @Test func refusesABackupFromANewerGemba() throws {
        let directory = try TemporaryDirectory()
        let (data, _) = try Self.dataDirectory(in: directory, samples: 10)
        let archive = directory.path("b.tar")
        try maker.write(dataDirectory: data, to: archive)
        let older = BackupRestorer(layout: DataDirectoryLayout(items: [
            .init(path: "gemba.sqlite", kind: .database(migrations: ["v0"], counts: [:], rawSampleTrim: nil), required: true),
            .init(path: "jwt.key", kind: .file(secret: true), required: false),
        ]), runningVersion: "0.5.0")
        #expect {
            try older.restore(archive: archive, into: directory.path("restored"))
        } throws: { error in
            "\(error)".contains("gemba.sqlite has schema changes this gemba (0.5.0) does not know (v1)") && "\(error)".contains("Gemba 1.0.0")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path("restored")))
    }

    @Test func manifestChecks() throws {
        let file = BackupManifest.File(path: "gemba.sqlite", kind: .database, digest: FileDigest(bytes: 1, sha256: "00"), migrations: ["v1"])
        var manifest = BackupManifest(gembaVersion: "2.0.0", createdAt: "", rawSamplesSince: nil, files: [file])
        try manifest.checkRestorable(by: Self.layout, runningVersion: "1.0.0")

        manifest.formatVersion = 2
        #expect { try manifest.checkRestorable(by: Self.layout, runningVersion: "1.0.0") } throws: { "\($0)".contains("backup format 2") }
        manifest.formatVersion = 1
        manifest.format = "tar"
        #expect { try manifest.checkRestorable(by: Self.layout, runningVersion: "1.0.0") } throws: { "\($0)".contains("not a complete Gemba backup") }
        manifest.format = BackupManifest.formatName
        manifest.files.append(.init(path: "reports/x.pdf", kind: .file, digest: FileDigest(bytes: 1, sha256: "00")))
        #expect { try manifest.checkRestorable(by: Self.layout, runningVersion: "1.0.0") } throws: { "\($0)".contains("reports/x.pdf, which this gemba (1.0.0) does not know") }
        manifest.files = []
        #expect { try manifest.checkRestorable(by: Self.layout, runningVersion: "1.0.0") } throws: { "\($0)".contains("does not hold gemba.sqlite") }
    }

    @Test func refusesWhatIsNotABackup() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("x.tar")
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(throws: ArchiveError.damagedHeader) { try restorer.verify(archive: path) }
        try Data().write(to: URL(fileURLWithPath: path))
        #expect(throws: ArchiveError.truncated(inside: nil)) { try restorer.verify(archive: path) }
    }

    @Test func refusesMissingDataAndAnExistingArchive() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: BackupError.noData(directory.path("none"), missing: "gemba.sqlite")) {
            try maker.write(dataDirectory: directory.path("none"), to: directory.path("b.tar"))
        }
        let (data, _) = try Self.dataDirectory(in: directory, samples: 1)
        _ = FileManager.default.createFile(atPath: directory.path("b.tar"), contents: Data("keep".utf8))
        #expect(throws: BackupError.alreadyExists(directory.path("b.tar"))) { try maker.write(dataDirectory: data, to: directory.path("b.tar")) }
        #expect(FileManager.default.contents(atPath: directory.path("b.tar")) == Data("keep".utf8))
    }
}

@Suite struct BackupRotationTests {
    let rotation = BackupRotation(interval: 3600, keep: 2)

    @Test func namesCarryTheUTCTime() {
        let date = Date(timeIntervalSince1970: 1_764_929_700)   // 2025-12-05T10:15:00Z
        #expect(BackupRotation.name(at: date) == "gemba-backup-20251205T101500Z.tar")
        #expect(BackupRotation.date(ofName: "gemba-backup-20251205T101500Z.tar") == date)
        #expect(BackupRotation.date(ofName: "gemba-backup-20251205T101500Z.tar.partial") == nil)
        #expect(BackupRotation.date(ofName: "notes.txt") == nil)
    }

    @Test func dueOneIntervalAfterTheNewest() {
        let newest = Date(timeIntervalSince1970: 1_764_929_700)
        let names = [BackupRotation.name(at: newest), BackupRotation.name(at: newest.addingTimeInterval(-7200))]
        #expect(rotation.isDue(now: newest, existing: []))
        #expect(!rotation.isDue(now: newest.addingTimeInterval(3599), existing: names))
        #expect(rotation.isDue(now: newest.addingTimeInterval(3600), existing: names))
        // A backup dated in the future (a clock set back) does not stop the schedule.
        #expect(rotation.isDue(now: newest.addingTimeInterval(-7201), existing: names))
    }

    @Test func keepsTheNewestAndTouchesNothingElse() {
        let names = ["gemba-backup-20251203T000000Z.tar", "notes.txt", "gemba-backup-20251205T000000Z.tar",
                     "gemba-backup-20251204T000000Z.tar", "gemba-backup-20251201T000000Z.tar.partial"]
        #expect(rotation.expired(among: names) == ["gemba-backup-20251203T000000Z.tar"])
    }
}
