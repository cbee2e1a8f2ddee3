internal import GRDB

/// What a backup needs to know about each database: its file, the schema migrations this build
/// knows (a backup with others was made by a newer Gemba), and counts worth showing people.
extension SQLiteStore {
    /// The file in the data directory.
    public static let fileName = "gemba.sqlite"
    /// The migrations this build applies, in order.
    public static var migrationIdentifiers: [String] { SQLiteSchema.migrator.migrations }
    /// Deletes raw samples older than its one argument (ms since 1970), for a backup that leaves
    /// them out; rollups stay. Samples still in the inbox (the last seconds) are always kept.
    public static let rawSampleTrim = "DELETE FROM sample WHERE t < ?"
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
