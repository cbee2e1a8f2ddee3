public import GembaCore
public import GembaStorage
internal import Foundation
internal import PostgresNIO

/// The asset model in PostgreSQL: details in `asset`, tag details in `series`' columns, moves and
/// deletions in one transaction each.
extension PostgresStore: AssetStore {
    /// Every table of this backend that names a machine by path, with its column.
    static let machineColumns = [("machine", "path"), ("series", "machine"), ("production_order", "machine"),
                                 ("stop_assignment", "machine"), ("kpi_summary", "machine"), ("quality_entry", "machine"),
                                 ("maintenance_window", "machine"), ("alarm_instance", "machine"), ("alarm_journal", "machine"),
                                 ("work_order", "machine"), ("work_order_decision", "machine"), ("detector_event", "machine"),
                                 ("maintenance_plan", "machine")]
    /// The analytics settings kind of a machine's production settings (keyed by its path).
    static let machineSettingsKind = "machine"

    public func assetDetails(tenant: TenantID) async throws -> [AssetDetails] {
        let rows = try await client.query("""
            SELECT level, path, display_name, description, metadata, created_by, created_ms, updated_by, updated_ms, retired_ms
            FROM asset WHERE tenant = \(tenant.rawValue) ORDER BY path, level
            """, logger: logger)
        var result: [AssetDetails] = []
        for try await (level, path, displayName, description, metadata, createdBy, created, updatedBy, updated, retired)
            in rows.decode((String, String, String?, String?, String, String?, Int64?, String?, Int64?, Int64?).self) {
            guard let level = AssetLevel(rawValue: level) else { continue }
            let entries = try? JSONDecoder().decode([String: String].self, from: Data(metadata.utf8))
            result.append(AssetDetails(level: level, path: path, displayName: displayName, description: description,
                                       metadata: entries ?? [:], createdBy: createdBy, createdAt: created.map(Timestamp.init),
                                       updatedBy: updatedBy, updatedAt: updated.map(Timestamp.init), retiredAt: retired.map(Timestamp.init)))
        }
        return result
    }

    public func saveAssetDetails(_ details: AssetDetails, tenant: TenantID) async throws {
        let metadata = String(decoding: try JSONEncoder().encode(details.metadata), as: UTF8.self)
        try await client.query("""
            INSERT INTO asset (tenant, level, path, display_name, description, metadata, created_by, created_ms, updated_by, updated_ms, retired_ms)
            VALUES (\(tenant.rawValue), \(details.level.rawValue), \(details.path), \(details.displayName), \(details.description), \(metadata),
                    \(details.createdBy), \(details.createdAt?.millisecondsSinceEpoch), \(details.updatedBy),
                    \(details.updatedAt?.millisecondsSinceEpoch), \(details.retiredAt?.millisecondsSinceEpoch))
            ON CONFLICT (tenant, level, path) DO UPDATE SET display_name = excluded.display_name, description = excluded.description,
                metadata = excluded.metadata, created_by = excluded.created_by, created_ms = excluded.created_ms,
                updated_by = excluded.updated_by, updated_ms = excluded.updated_ms, retired_ms = excluded.retired_ms
            """, logger: logger)
    }

    public func retiredMachines() async throws -> [(tenant: TenantID, machine: AssetPath)] {
        var result: [(tenant: TenantID, machine: AssetPath)] = []
        let rows = try await client.query("SELECT tenant, path FROM asset WHERE level = 'machine' AND retired_ms IS NOT NULL", logger: logger)
        for try await (tenant, path) in rows.decode((String, String).self) {
            guard let tenant = TenantID(tenant), let path = try? AssetPath(path) else { continue }
            result.append((tenant, path))
        }
        return result
    }

    public func registerMachine(_ machine: AssetPath, tenant: TenantID, at time: Timestamp) async throws {
        try await client.query("""
            INSERT INTO machine (tenant, path, registered_ms) VALUES (\(tenant.rawValue), \(machine.description), \(time.millisecondsSinceEpoch))
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    public func updateTag(_ details: TagDetails, tenant: TenantID, machine: AssetPath, tag: String) async throws -> Series? {
        let query: PostgresQuery = """
            UPDATE series SET display_name = \(details.displayName), description = \(details.description), unit = \(details.unit),
                minimum = \(details.minimum), maximum = \(details.maximum), decimals = \(details.decimals.map(Int64.init))
            WHERE tenant = \(tenant.rawValue) AND machine = \(machine.description) AND tag = \(tag) RETURNING \(unescaped: Self.seriesColumns)
            """
        return try await fetchSeries(query).first
    }

    public func moveMachine(_ machine: AssetPath, to target: AssetPath, tenant: TenantID) async throws {
        let (from, to) = (machine.description, target.description)
        try await client.withTransaction(logger: logger) { connection in
            guard try await self.exists(machine, tenant, on: connection) else { throw ModelError(.notFound, "no machine \(machine)") }
            guard try await !self.exists(target, tenant, on: connection) else { throw ModelError(.conflict, "a machine \(target) exists already") }
            for (table, column) in Self.machineColumns {
                let query: PostgresQuery = """
                    UPDATE \(unescaped: table) SET \(unescaped: column) = \(to) WHERE tenant = \(tenant.rawValue) AND \(unescaped: column) = \(from)
                    """
                try await connection.query(query, logger: self.logger)
            }
            try await connection.query("""
                UPDATE asset SET path = \(to) WHERE tenant = \(tenant.rawValue) AND level = 'machine' AND path = \(from)
                """, logger: self.logger)
            try await connection.query("""
                UPDATE analytics_setting SET key = \(to) WHERE tenant = \(tenant.rawValue) AND kind = \(Self.machineSettingsKind) AND key = \(from)
                """, logger: self.logger)
        }
    }

    public func deleteMachine(_ machine: AssetPath, tenant: TenantID) async throws -> Int {
        let path = machine.description
        return try await client.withTransaction(logger: logger) { connection in
            guard try await self.exists(machine, tenant, on: connection) else { throw ModelError(.notFound, "no machine \(machine)") }
            var ids: [Int64] = []
            let rows = try await connection.query("SELECT id FROM series WHERE tenant = \(tenant.rawValue) AND machine = \(path)", logger: self.logger)
            for try await id in rows.decode(Int64.self) { ids.append(id) }
            let deleted = try await self.execute("DELETE FROM sample WHERE series = ANY(\(ids))", on: connection)
            try await connection.query("DELETE FROM rollup_minute WHERE series = ANY(\(ids))", logger: self.logger)
            try await connection.query("DELETE FROM rollup_hour WHERE series = ANY(\(ids))", logger: self.logger)
            for (table, column) in Self.machineColumns {
                let query: PostgresQuery = "DELETE FROM \(unescaped: table) WHERE tenant = \(tenant.rawValue) AND \(unescaped: column) = \(path)"
                try await connection.query(query, logger: self.logger)
            }
            try await connection.query("DELETE FROM asset WHERE tenant = \(tenant.rawValue) AND level = 'machine' AND path = \(path)",
                                       logger: self.logger)
            try await connection.query("""
                DELETE FROM analytics_setting WHERE tenant = \(tenant.rawValue) AND kind = \(Self.machineSettingsKind) AND key = \(path)
                """, logger: self.logger)
            return deleted
        }
    }

    private func exists(_ machine: AssetPath, _ tenant: TenantID, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query("""
            SELECT EXISTS (SELECT 1 FROM machine WHERE tenant = \(tenant.rawValue) AND path = \(machine.description))
            """, logger: logger)
        for try await found in rows.decode(Bool.self) { return found }
        return false
    }
}
