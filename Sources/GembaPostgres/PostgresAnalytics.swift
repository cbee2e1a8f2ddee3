public import GembaCore
public import GembaStorage
internal import Foundation
internal import PostgresNIO
internal import Synchronization

/// What the OEE engine keeps, in PostgreSQL: settings documents, orders, quality entries, stop
/// reasons and KPI summaries (coded as SQLite codes them, see ``KPISummaryCoding``).
extension PostgresStore: AnalyticsStore {
    // MARK: Settings

    public func setting(tenant: TenantID, kind: String, key: String) async throws -> String? {
        let rows = try await client.query("""
            SELECT json FROM analytics_setting WHERE tenant = \(tenant.rawValue) AND kind = \(kind) AND key = \(key)
            """, logger: logger)
        for try await json in rows.decode(String.self) { return json }
        return nil
    }

    public func settings(tenant: TenantID, kind: String) async throws -> [String: String] {
        var result: [String: String] = [:]
        let rows = try await client.query("SELECT key, json FROM analytics_setting WHERE tenant = \(tenant.rawValue) AND kind = \(kind)",
                                          logger: logger)
        for try await (key, json) in rows.decode((String, String).self) { result[key] = json }
        return result
    }

    public func setSetting(tenant: TenantID, kind: String, key: String, json: String?) async throws {
        if let json {
            try await client.query("""
                INSERT INTO analytics_setting (tenant, kind, key, json) VALUES (\(tenant.rawValue), \(kind), \(key), \(json))
                ON CONFLICT (tenant, kind, key) DO UPDATE SET json = excluded.json
                """, logger: logger)
        } else {
            try await client.query("DELETE FROM analytics_setting WHERE tenant = \(tenant.rawValue) AND kind = \(kind) AND key = \(key)",
                                   logger: logger)
        }
    }

    // MARK: Orders

    static let orderColumns = "id, machine, product, target, start, \"end\", ideal_cycle_ms"

    private func fetchOrders(_ query: PostgresQuery) async throws -> [ProductionOrder] {
        var result: [ProductionOrder] = []
        for try await (id, machine, product, target, start, end, ideal)
            in try await client.query(query, logger: logger).decode((String, String, String, Int64, Int64, Int64?, Int64?).self) {
            guard let machine = try? AssetPath(machine) else { continue }
            result.append(ProductionOrder(id: id, machine: machine, product: product, targetQuantity: target, start: start, end: end,
                                          idealCycleTime: ideal))
        }
        return result
    }

    public func orders(tenant: TenantID, machine: AssetPath?, overlapping range: Range<Int64>) async throws -> [ProductionOrder] {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.orderColumns) FROM production_order
            WHERE tenant = \(tenant.rawValue) AND start < \(range.upperBound)
                AND ("end" IS NULL OR "end" > \(range.lowerBound))
                AND (\(machine?.description)::text IS NULL OR machine = \(machine?.description))
            ORDER BY start, id
            """
        return try await fetchOrders(query)
    }

    public func order(tenant: TenantID, id: String) async throws -> ProductionOrder? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.orderColumns) FROM production_order WHERE tenant = \(tenant.rawValue) AND id = \(id)"
        return try await fetchOrders(query).first
    }

    public func saveOrder(_ order: ProductionOrder, tenant: TenantID) async throws {
        try await client.query("""
            INSERT INTO production_order (tenant, id, machine, product, target, start, "end", ideal_cycle_ms)
            VALUES (\(tenant.rawValue), \(order.id), \(order.machine.description), \(order.product), \(order.targetQuantity),
                    \(order.start), \(order.end), \(order.idealCycleTime))
            ON CONFLICT (tenant, id) DO UPDATE SET machine = excluded.machine, product = excluded.product, target = excluded.target,
                start = excluded.start, "end" = excluded."end", ideal_cycle_ms = excluded.ideal_cycle_ms
            """, logger: logger)
    }

    public func annotations(tenant: TenantID, machine: AssetPath, stops: Range<Int64>, orders ordersRange: Range<Int64>,
                            quality: Range<Int64>) async throws -> MachineAnnotations {
        MachineAnnotations(stopAssignments: try await stopAssignments(tenant: tenant, machine: machine, overlapping: stops),
                           orders: try await orders(tenant: tenant, machine: machine, overlapping: ordersRange),
                           qualityEntries: try await qualityEntries(tenant: tenant, machine: machine, in: quality),
                           maintenanceWindows: try await maintenanceWindows(tenant: tenant, machine: machine, overlapping: stops))
    }

    // MARK: Quality entries

    static let qualityColumns = "id, machine, time_ms, kind, quantity, reason, note, entered_by, entered_at"

    private func fetchQualityEntries(_ query: PostgresQuery) async throws -> [QualityEntry] {
        var result: [QualityEntry] = []
        for try await (id, machine, time, kind, quantity, reason, note, enteredBy, enteredAt)
            in try await client.query(query, logger: logger).decode((String, String, Int64, String, Int64, String, String?, String, Int64).self) {
            guard let machine = try? AssetPath(machine), let kind = QualityEntry.Kind(rawValue: kind) else { continue }
            result.append(QualityEntry(id: id, machine: machine, time: time, kind: kind, quantity: quantity, reason: reason, note: note,
                                       enteredBy: enteredBy, enteredAt: enteredAt))
        }
        return result
    }

    public func qualityEntries(tenant: TenantID, machine: AssetPath?, in range: Range<Int64>) async throws -> [QualityEntry] {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.qualityColumns) FROM quality_entry
            WHERE tenant = \(tenant.rawValue) AND time_ms >= \(range.lowerBound) AND time_ms < \(range.upperBound)
                AND (\(machine?.description)::text IS NULL OR machine = \(machine?.description))
            ORDER BY time_ms, id
            """
        return try await fetchQualityEntries(query)
    }

    public func qualityEntry(tenant: TenantID, id: String) async throws -> QualityEntry? {
        let query: PostgresQuery = "SELECT \(unescaped: Self.qualityColumns) FROM quality_entry WHERE tenant = \(tenant.rawValue) AND id = \(id)"
        return try await fetchQualityEntries(query).first
    }

    public func saveQualityEntry(_ entry: QualityEntry, tenant: TenantID) async throws {
        try await client.query("""
            INSERT INTO quality_entry (tenant, id, machine, time_ms, kind, quantity, reason, note, entered_by, entered_at)
            VALUES (\(tenant.rawValue), \(entry.id), \(entry.machine.description), \(entry.time), \(entry.kind.rawValue), \(entry.quantity),
                    \(entry.reason), \(entry.note), \(entry.enteredBy), \(entry.enteredAt))
            ON CONFLICT (tenant, id) DO UPDATE SET machine = excluded.machine, time_ms = excluded.time_ms, kind = excluded.kind,
                quantity = excluded.quantity, reason = excluded.reason, note = excluded.note, entered_by = excluded.entered_by,
                entered_at = excluded.entered_at
            """, logger: logger)
    }

    public func deleteQualityEntry(tenant: TenantID, id: String) async throws -> Bool {
        try await execute("DELETE FROM quality_entry WHERE tenant = \(tenant.rawValue) AND id = \(id)") > 0
    }

    // MARK: Stop assignments

    public func stopAssignments(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws -> [StopAssignment] {
        var result: [StopAssignment] = []
        let rows = try await client.query("""
            SELECT start, "end", reason, fault_code, assigned_by, assigned_at FROM stop_assignment
            WHERE tenant = \(tenant.rawValue) AND machine = \(machine.description) AND start < \(range.upperBound)
                AND ("end" IS NULL OR "end" > \(range.lowerBound))
            ORDER BY start
            """, logger: logger)
        for try await (start, end, reason, faultCode, assignedBy, assignedAt) in rows.decode((Int64, Int64?, String, String?, String, Int64).self) {
            result.append(StopAssignment(machine: machine, start: start, end: end, reason: reason, faultCode: faultCode,
                                         assignedBy: assignedBy, assignedAt: assignedAt))
        }
        return result
    }

    public func replaceStopAssignments(tenant: TenantID, machine: AssetPath, startingIn range: Range<Int64>,
                                       with assignments: [StopAssignment]) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("""
                DELETE FROM stop_assignment WHERE tenant = \(tenant.rawValue) AND machine = \(machine.description)
                    AND start >= \(range.lowerBound) AND start < \(range.upperBound)
                """, logger: self.logger)
            for assignment in assignments {
                try await connection.query("""
                    INSERT INTO stop_assignment (tenant, machine, start, "end", reason, fault_code, assigned_by, assigned_at)
                    VALUES (\(tenant.rawValue), \(machine.description), \(assignment.start), \(assignment.end), \(assignment.reason),
                            \(assignment.faultCode), \(assignment.assignedBy), \(assignment.assignedAt))
                    ON CONFLICT (tenant, machine, start) DO UPDATE SET "end" = excluded."end", reason = excluded.reason,
                        fault_code = excluded.fault_code, assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at
                    """, logger: self.logger)
            }
        }
    }

    // MARK: Summaries

    public func summaryStarts(tenant: TenantID, machines: [AssetPath], level: PeriodSummary.Level,
                              within range: Range<Int64>) async throws -> [AssetPath: Set<Int64>] {
        guard !machines.isEmpty else { return [:] }
        let byName = Dictionary(machines.map { ($0.description, $0) }, uniquingKeysWith: { first, _ in first })
        var result: [AssetPath: Set<Int64>] = [:]
        let rows = try await client.query("""
            SELECT machine, start FROM kpi_summary WHERE tenant = \(tenant.rawValue) AND machine = ANY(\(Array(byName.keys)))
                AND level = \(Int16(level.rawValue)) AND start >= \(range.lowerBound) AND start < \(range.upperBound)
                AND "end" <= \(range.upperBound)
            """, logger: logger)
        for try await (name, start) in rows.decode((String, Int64).self) {
            if let machine = byName[name] { result[machine, default: []].insert(start) }
        }
        return result
    }

    /// Sums the selections; selections sharing a level and range (every machine of an asset over
    /// the same days) are read in one statement.
    public func sumSummaries(tenant: TenantID, _ selections: [SummarySelection],
                             grouping: SummaryGrouping) async throws -> [String: KPIComponents] {
        let group = KPISummaryCoding.groupColumn(grouping)
        let columns = KPISummaryCoding.componentColumns.joined(separator: ", ")
        var sums: [String: SummarySum] = [:]
        for (key, batch) in Dictionary(grouping: selections, by: \.batchKey) {
            let query: PostgresQuery = """
                SELECT \(unescaped: group), ARRAY[\(unescaped: columns)], reasons, scrap_reasons, products, orders FROM kpi_summary
                WHERE tenant = \(tenant.rawValue) AND machine = ANY(\(batch.map(\.machine.description)))
                    AND level = \(Int16(key.level)) AND start >= \(key.lower) AND start < \(key.upper) AND "end" <= \(key.upper)
                """
            let rows = try await client.query(query, logger: logger)
            for try await (name, values, reasons, scrap, products, orders)
                in rows.decode((String, [Int64], ByteBuffer, ByteBuffer, ByteBuffer, ByteBuffer).self) {
                Self.withBytes(reasons, scrap, products, orders) { reasons, scrap, products, orders in
                    sums[grouping == .total ? "" : name, default: SummarySum()]
                        .add({ values[$0] }, reasons: reasons, scrap: scrap, products: products, orders: orders)
                }
            }
        }
        var paths = reasonPaths.withLock { $0[tenant] } ?? [:]
        if sums.values.contains(where: { $0.ids.contains { paths[$0] == nil } }) {
            paths = try await loadReasonPaths(tenant: tenant)
        }
        return sums.mapValues { $0.components(named: paths) }
    }

    private static func withBytes(_ a: ByteBuffer, _ b: ByteBuffer, _ c: ByteBuffer, _ d: ByteBuffer,
                                  _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        a.withUnsafeReadableBytes { a in
            b.withUnsafeReadableBytes { b in
                c.withUnsafeReadableBytes { c in d.withUnsafeReadableBytes { d in body(a, b, c, d) } }
            }
        }
    }

    /// The tenant's reason ids as stored, both ways.
    private func loadReasonPaths(tenant: TenantID, on connection: PostgresConnection? = nil) async throws -> [Int32: String] {
        let query: PostgresQuery = "SELECT id, reason FROM kpi_reason WHERE tenant = \(tenant.rawValue)"
        let rows = try await client.query(query, on: connection, logger: logger)
        var paths: [Int32: String] = [:]
        for try await (id, reason) in rows.decode((Int32, String).self) { paths[id] = reason }
        reasonPaths.withLock { $0[tenant] = paths }
        return paths
    }

    /// Stores summaries in one transaction; new reason ids are added under a lock on `kpi_reason`,
    /// so that two nodes saving at once never hand out one id twice.
    public func saveSummaries(_ summaries: [PeriodSummary], tenant: TenantID) async throws {
        guard !summaries.isEmpty else { return }
        let columns = KPISummaryCoding.componentColumns
        let insert = """
            INSERT INTO kpi_summary (tenant, machine, level, start, "end", day, shift, \(columns.joined(separator: ", ")),
                reasons, scrap_reasons, products, orders)
            VALUES (\((1...(11 + columns.count)).map { "$\($0)" }.joined(separator: ", ")))
            ON CONFLICT (tenant, machine, level, start) DO UPDATE SET "end" = excluded."end", day = excluded.day, shift = excluded.shift,
                \(columns.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")), reasons = excluded.reasons,
                scrap_reasons = excluded.scrap_reasons, products = excluded.products, orders = excluded.orders
            """
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("LOCK TABLE kpi_reason IN SHARE ROW EXCLUSIVE MODE", logger: self.logger)
            var paths = try await self.loadReasonPaths(tenant: tenant, on: connection)
            var ids = Dictionary(paths.map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
            var added: [(String, Int32)] = []
            func id(_ reason: String) -> Int32 {
                if let id = ids[reason] { return id }
                let id = Int32(paths.count + 1)
                ids[reason] = id
                paths[id] = reason
                added.append((reason, id))
                return id
            }
            for summary in summaries {
                var query = PostgresQuery(unsafeSQL: insert)
                query.binds.append(tenant.rawValue)
                query.binds.append(summary.machine.description)
                query.binds.append(Int16(summary.level.rawValue))
                query.binds.append(summary.start)
                query.binds.append(summary.end)
                query.binds.append(summary.day)
                query.binds.append(summary.shift)
                for value in KPISummaryCoding.values(summary.components) { query.binds.append(value) }
                query.binds.append(ByteBuffer(bytes: try KPISummaryCoding.packReasons(summary.components, id: id)))
                query.binds.append(ByteBuffer(bytes: try KPISummaryCoding.packScrapReasons(summary.components, id: id)))
                query.binds.append(ByteBuffer(bytes: try KPISummaryCoding.packProducts(summary.components, id: id)))
                query.binds.append(ByteBuffer(bytes: try KPISummaryCoding.packOrders(summary.components, id: id)))
                try await connection.query(query, logger: self.logger)
            }
            if !added.isEmpty {
                try await connection.query("""
                    INSERT INTO kpi_reason (tenant, reason, id) SELECT \(tenant.rawValue), r, i FROM unnest(\(added.map(\.0)), \(added.map(\.1))) AS u(r, i)
                    """, logger: self.logger)
            }
            self.reasonPaths.withLock { $0[tenant] = paths }
        }
    }

    public func deleteSummaries(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws {
        try await client.query("""
            DELETE FROM kpi_summary WHERE tenant = \(tenant.rawValue) AND machine = \(machine.description)
                AND start < \(range.upperBound) AND "end" > \(range.lowerBound)
            """, logger: logger)
    }

    public func summarizedUntil() async throws -> [(tenant: TenantID, machine: AssetPath, end: Int64)] {
        var result: [(tenant: TenantID, machine: AssetPath, end: Int64)] = []
        let rows = try await client.query("SELECT tenant, machine, max(\"end\") FROM kpi_summary GROUP BY tenant, machine", logger: logger)
        for try await (tenant, machine, end) in rows.decode((String, String, Int64).self) {
            guard let tenant = TenantID(tenant), let machine = try? AssetPath(machine) else { continue }
            result.append((tenant, machine, end))
        }
        return result
    }
}
