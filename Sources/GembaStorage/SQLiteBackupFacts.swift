internal import GRDB
internal import Logging

/// What a backup needs to know about each database: its file, the schema migrations this build
/// knows (a backup with others was made by a newer Gemba), and counts worth showing people.
extension SQLiteStore {
    /// The file in the data directory.
    public static let fileName = "gemba.sqlite"
    /// The migrations this build applies, in order.
    public static var migrationIdentifiers: [String] { SQLiteSchema.migrator.migrations }
    /// Deletes raw samples older than its one argument (ms since 1970), for a backup that leaves
    /// them out; rollups stay.
    public static let rawSampleTrim = "DELETE FROM sample WHERE t < ?"
    /// Readies a backup's copy of the database: the samples of the last commits, still in the inbox,
    /// are moved into `sample` with their rollups, as the next start would, so that the copy's
    /// counts are whole and a restored server starts without that step.
    public static func prepareBackupCopy(path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try recoverInbox(db, logger: Logger(label: "gemba.backup", factory: { _ in SwiftLogNoOpLogHandler() })) }
        try queue.close()
    }

    /// Counts recorded in a backup's manifest.
    public static let backupCounts = [
        "machines": "SELECT count(*) FROM machine",
        "series": "SELECT count(*) FROM series",
        "samples": "SELECT count(*) FROM sample",
        "workOrders": "SELECT count(*) FROM work_order",
    ]
}

extension SQLiteIdentityStore {
    public static let fileName = "identity.sqlite"
    public static var migrationIdentifiers: [String] { migrator.migrations }
    public static let backupCounts = [
        "tenants": "SELECT count(*) FROM tenant",
        "users": "SELECT count(*) FROM user",
        "auditEntries": "SELECT count(*) FROM audit",
    ]
}
