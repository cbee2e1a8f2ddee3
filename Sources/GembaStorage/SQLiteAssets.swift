public import GembaCore
internal import Foundation
internal import GRDB

/// The asset model in SQLite: details in `asset`, tag details in `series`' columns, and moves and
/// deletions across every table that names a machine, each in one transaction.
extension SQLiteStore: AssetStore {
    /// Every table that names a machine by path, with its column.
    static let machineColumns = [("machine", "path"), ("series", "machine"), ("production_order", "machine"),
                                 ("stop_assignment", "machine"), ("kpi_summary", "machine"), ("quality_entry", "machine"),
                                 ("alarm_instance", "machine"), ("alarm_journal", "machine"),
                                 ("work_order", "machine"), ("work_order_decision", "machine"), ("maintenance_window", "machine"),
                                 ("detector_event", "machine"), ("maintenance_plan", "machine")]
    /// The analytics settings kind of a machine's production settings (keyed by its path).
    static let machineSettingsKind = "machine"

    public func assetDetails(tenant: TenantID) async throws -> [AssetDetails] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM asset WHERE tenant = ? ORDER BY path, level", arguments: [tenant.rawValue])
                .compactMap(Self.details(from:))
        }
    }

    public func saveAssetDetails(_ details: AssetDetails, tenant: TenantID) async throws {
        let metadata = String(decoding: try JSONEncoder().encode(details.metadata), as: UTF8.self)
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO asset (tenant, level, path, display_name, description, metadata, created_by, created_ms,
                    updated_by, updated_ms, retired_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tenant.rawValue, details.level.rawValue, details.path, details.displayName, details.description, metadata,
                                 details.createdBy, details.createdAt?.millisecondsSinceEpoch, details.updatedBy,
                                 details.updatedAt?.millisecondsSinceEpoch, details.retiredAt?.millisecondsSinceEpoch])
        }
    }

    public func retiredMachines() async throws -> [(tenant: TenantID, machine: AssetPath)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT tenant, path FROM asset WHERE level = 'machine' AND retired_ms IS NOT NULL")
                .compactMap { row in
                    guard let tenant = TenantID(row["tenant"]), let path = try? AssetPath(row["path"] as String) else { return nil }
                    return (tenant, path)
                }
        }
    }

    public func registerMachine(_ machine: AssetPath, tenant: TenantID, at time: Timestamp) async throws {
        try await pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO machine (tenant, path, registered_ms) VALUES (?, ?, ?)",
                           arguments: [tenant.rawValue, machine.description, time.millisecondsSinceEpoch])
        }
    }

    public func updateTag(_ details: TagDetails, tenant: TenantID, machine: AssetPath, tag: String) async throws -> Series? {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE series SET display_name = ?, description = ?, unit = ?, minimum = ?, maximum = ?, decimals = ?
                WHERE tenant = ? AND machine = ? AND tag = ?
                """, arguments: [details.displayName, details.description, details.unit, details.minimum, details.maximum,
                                 details.decimals, tenant.rawValue, machine.description, tag])
            return try Row.fetchOne(db, sql: "SELECT * FROM series WHERE tenant = ? AND machine = ? AND tag = ?",
                                    arguments: [tenant.rawValue, machine.description, tag]).flatMap(Self.series(from:))
        }
    }

    public func moveMachine(_ machine: AssetPath, to target: AssetPath, tenant: TenantID) async throws {
        try await pool.write { db in
            let (from, to) = (machine.description, target.description)
            guard try Self.exists(db, machine, tenant) else { throw ModelError(.notFound, "no machine \(machine)") }
            guard try !Self.exists(db, target, tenant) else { throw ModelError(.conflict, "a machine \(target) exists already") }
            for (table, column) in Self.machineColumns {
                try db.execute(sql: "UPDATE \(table) SET \(column) = ? WHERE tenant = ? AND \(column) = ?", arguments: [to, tenant.rawValue, from])
            }
            try db.execute(sql: "UPDATE asset SET path = ? WHERE tenant = ? AND level = 'machine' AND path = ?",
                           arguments: [to, tenant.rawValue, from])
            try db.execute(sql: "UPDATE analytics_setting SET key = ? WHERE tenant = ? AND kind = ? AND key = ?",
                           arguments: [to, tenant.rawValue, Self.machineSettingsKind, from])
        }
    }

    public func deleteMachine(_ machine: AssetPath, tenant: TenantID) async throws -> Int {
        // Samples still in the memtable go to their tables first, so none is written back after the delete.
        try await flushMemtable(force: true)
        return try await pool.write { db in
            guard try Self.exists(db, machine, tenant) else { throw ModelError(.notFound, "no machine \(machine)") }
            let path = machine.description
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM series WHERE tenant = ? AND machine = ?", arguments: [tenant.rawValue, path])
            var deleted = 0
            for id in ids {
                try db.execute(sql: "DELETE FROM sample WHERE series = ?", arguments: [id])
                deleted += db.changesCount
                for table in ["rollup_minute", "rollup_hour"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE series = ?", arguments: [id])
                }
            }
            for (table, column) in Self.machineColumns {
                try db.execute(sql: "DELETE FROM \(table) WHERE tenant = ? AND \(column) = ?", arguments: [tenant.rawValue, path])
            }
            try db.execute(sql: "DELETE FROM asset WHERE tenant = ? AND level = 'machine' AND path = ?", arguments: [tenant.rawValue, path])
            try db.execute(sql: "DELETE FROM analytics_setting WHERE tenant = ? AND kind = ? AND key = ?",
                           arguments: [tenant.rawValue, Self.machineSettingsKind, path])
            return deleted
        }
    }

    private static func exists(_ db: Database, _ machine: AssetPath, _ tenant: TenantID) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM machine WHERE tenant = ? AND path = ?)",
                          arguments: [tenant.rawValue, machine.description]) ?? false
    }

    private static func details(from row: Row) -> AssetDetails? {
        guard let level = AssetLevel(rawValue: row["level"]) else { return nil }
        let metadata = (row["metadata"] as String?).flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) }
        func time(_ column: String) -> Timestamp? { (row[column] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:)) }
        return AssetDetails(level: level, path: row["path"], displayName: row["display_name"], description: row["description"],
                            metadata: metadata ?? [:], createdBy: row["created_by"], createdAt: time("created_ms"),
                            updatedBy: row["updated_by"], updatedAt: time("updated_ms"), retiredAt: time("retired_ms"))
    }
}
