public import GembaCore
internal import GRDB

/// Rules, alarm instances and the journal in SQLite.
extension SQLiteStore: AlarmStore {
    public func allRules() async throws -> [StoredRule] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alarm_rule ORDER BY tenant, id").compactMap { row in
                guard let tenant = TenantID(row["tenant"]) else { return nil }
                return StoredRule(tenant: tenant, id: row["id"], definition: row["definition"], version: row["version"],
                                  updatedBy: row["updated_by"], updatedAt: row["updated_ms"])
            }
        }
    }

    public func saveRule(_ rule: StoredRule) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO alarm_rule (tenant, id, definition, version, updated_by, updated_ms) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [rule.tenant.rawValue, rule.id, rule.definition, rule.version, rule.updatedBy, rule.updatedAt])
        }
    }

    public func deleteRule(tenant: TenantID, id: String) async throws -> Bool {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM alarm_instance WHERE tenant = ? AND rule = ?", arguments: [tenant.rawValue, id])
            try db.execute(sql: "DELETE FROM alarm_rule WHERE tenant = ? AND id = ?", arguments: [tenant.rawValue, id])
            return db.changesCount > 0
        }
    }

    public func allAlarms() async throws -> [StoredAlarm] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alarm_instance").compactMap { row in
                guard let tenant = TenantID(row["tenant"]) else { return nil }
                return StoredAlarm(tenant: tenant, rule: row["rule"], machine: row["machine"], state: row["state"], updatedAt: row["updated_ms"])
            }
        }
    }

    public func recordAlarms(_ alarms: [StoredAlarm], journal: [AlarmJournalEntry], deliveries: [OutboxEntry]) async throws {
        guard !alarms.isEmpty || !journal.isEmpty || !deliveries.isEmpty else { return }
        try await pool.write { db in
            let upsert = try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO alarm_instance (tenant, rule, machine, state, updated_ms) VALUES (?, ?, ?, ?, ?)
                """)
            for alarm in alarms {
                try upsert.execute(arguments: [alarm.tenant.rawValue, alarm.rule, alarm.machine, alarm.state, alarm.updatedAt])
            }
            let insert = try db.cachedStatement(sql: """
                INSERT INTO alarm_journal (tenant, time_ms, rule, machine, kind, from_state, to_state, severity, value, actor, comment)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for entry in journal {
                try insert.execute(arguments: [entry.tenant.rawValue, entry.time, entry.rule, entry.machine, entry.kind, entry.fromState,
                                               entry.toState, entry.severity, entry.value, entry.actor, entry.comment])
            }
            try Self.enqueue(deliveries, db)
        }
    }

    public func journal(_ query: JournalQuery) async throws -> [AlarmJournalEntry] {
        var sql = "SELECT * FROM alarm_journal WHERE tenant = ? AND time_ms >= ? AND time_ms < ?"
        var arguments: StatementArguments = [query.tenant.rawValue, query.range.lowerBound, query.range.upperBound]
        if let rule = query.rule {
            sql += " AND rule = ?"
            _ = arguments.append(contentsOf: [rule])
        }
        if let scope = query.scope {
            sql += " AND " + Self.scopeCondition
            _ = arguments.append(contentsOf: Self.scopeArguments(scope))
        }
        sql += " ORDER BY time_ms, id LIMIT ?"
        _ = arguments.append(contentsOf: [query.limit])
        return try await pool.read { [sql, arguments] db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap { row in
                guard let tenant = TenantID(row["tenant"]) else { return nil }
                return AlarmJournalEntry(id: row["id"], tenant: tenant, time: row["time_ms"], rule: row["rule"], machine: row["machine"],
                                         kind: row["kind"], fromState: row["from_state"], toState: row["to_state"], severity: row["severity"],
                                         value: row["value"], actor: row["actor"], comment: row["comment"])
            }
        }
    }
}
