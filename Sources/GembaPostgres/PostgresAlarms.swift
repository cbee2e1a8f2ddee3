public import GembaCore
public import GembaStorage
internal import PostgresNIO

/// Rules, alarm instances and the journal in PostgreSQL.
extension PostgresStore: AlarmStore {
    public func allRules() async throws -> [StoredRule] {
        var result: [StoredRule] = []
        let rows = try await client.query("SELECT tenant, id, definition, version, updated_by, updated_ms FROM alarm_rule ORDER BY tenant, id",
                                          logger: logger)
        for try await (tenant, id, definition, version, updatedBy, updatedAt) in rows.decode((String, String, String, Int64, String, Int64).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(StoredRule(tenant: tenant, id: id, definition: definition, version: Int(version), updatedBy: updatedBy, updatedAt: updatedAt))
        }
        return result
    }

    public func saveRule(_ rule: StoredRule) async throws {
        try await client.query("""
            INSERT INTO alarm_rule (tenant, id, definition, version, updated_by, updated_ms)
            VALUES (\(rule.tenant.rawValue), \(rule.id), \(rule.definition), \(Int64(rule.version)), \(rule.updatedBy), \(rule.updatedAt))
            ON CONFLICT (tenant, id) DO UPDATE SET definition = excluded.definition, version = excluded.version,
                updated_by = excluded.updated_by, updated_ms = excluded.updated_ms
            """, logger: logger)
    }

    public func deleteRule(tenant: TenantID, id: String) async throws -> Bool {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("DELETE FROM alarm_instance WHERE tenant = \(tenant.rawValue) AND rule = \(id)", logger: self.logger)
            return try await self.execute("DELETE FROM alarm_rule WHERE tenant = \(tenant.rawValue) AND id = \(id)", on: connection) > 0
        }
    }

    public func allAlarms() async throws -> [StoredAlarm] {
        var result: [StoredAlarm] = []
        let rows = try await client.query("SELECT tenant, rule, machine, state, updated_ms FROM alarm_instance", logger: logger)
        for try await (tenant, rule, machine, state, updatedAt) in rows.decode((String, String, String, String, Int64).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(StoredAlarm(tenant: tenant, rule: rule, machine: machine, state: state, updatedAt: updatedAt))
        }
        return result
    }

    public func recordAlarms(_ alarms: [StoredAlarm], journal: [AlarmJournalEntry], deliveries: [OutboxEntry]) async throws {
        guard !alarms.isEmpty || !journal.isEmpty || !deliveries.isEmpty else { return }
        try await client.withTransaction(logger: logger) { connection in
            for alarm in alarms {
                try await connection.query("""
                    INSERT INTO alarm_instance (tenant, rule, machine, state, updated_ms)
                    VALUES (\(alarm.tenant.rawValue), \(alarm.rule), \(alarm.machine), \(alarm.state), \(alarm.updatedAt))
                    ON CONFLICT (tenant, rule, machine) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms
                    """, logger: self.logger)
            }
            for entry in journal {
                try await connection.query("""
                    INSERT INTO alarm_journal (tenant, time_ms, rule, machine, kind, from_state, to_state, severity, value, actor, comment)
                    VALUES (\(entry.tenant.rawValue), \(entry.time), \(entry.rule), \(entry.machine), \(entry.kind), \(entry.fromState),
                            \(entry.toState), \(entry.severity), \(entry.value), \(entry.actor), \(entry.comment))
                    """, logger: self.logger)
            }
            _ = try await self.enqueue(deliveries, on: connection)
        }
    }

    public func journal(_ query: JournalQuery) async throws -> [AlarmJournalEntry] {
        let statement: PostgresQuery = """
            SELECT id, tenant, time_ms, rule, machine, kind, from_state, to_state, severity, value, actor, comment FROM alarm_journal
            WHERE tenant = \(query.tenant.rawValue) AND time_ms >= \(query.range.lowerBound)
                AND time_ms < \(query.range.upperBound) AND (\(query.rule)::text IS NULL OR rule = \(query.rule))
                AND \(machineScope: query.scope) ORDER BY time_ms, id LIMIT \(Int64(query.limit))
            """
        var result: [AlarmJournalEntry] = []
        let rows = try await client.query(statement, logger: logger)
        for try await (id, tenant, time, rule, machine, kind, from, to, severity, value, actor, comment)
            in rows.decode((Int64, String, Int64, String, String, String, String, String, String, Double?, String?, String?).self) {
            guard let tenant = TenantID(tenant) else { continue }
            result.append(AlarmJournalEntry(id: id, tenant: tenant, time: time, rule: rule, machine: machine, kind: kind, fromState: from,
                                            toState: to, severity: severity, value: value, actor: actor, comment: comment))
        }
        return result
    }
}

extension PostgresQuery.StringInterpolation {
    /// A condition on `machine`: that machine path, or every machine under a site/area/line prefix
    /// (`p1` takes `p1/…`, not `p10/…`); nil takes every machine.
    mutating func appendInterpolation(machineScope scope: String?) {
        appendLiteral("(")
        appendInterpolation(scope)
        appendLiteral("::text IS NULL OR machine = ")
        appendInterpolation(scope)
        appendLiteral(" OR left(machine, length(")
        appendInterpolation(scope)
        appendLiteral(") + 1) = ")
        appendInterpolation(scope)
        appendLiteral(" || '/')")
    }
}
