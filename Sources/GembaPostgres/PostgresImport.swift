internal import GembaStorage
public import Logging
internal import NIOCore
internal import PostgresNIO

/// One value read from another database, to be copied into a PostgreSQL column.
public enum ImportValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}

/// Bulk loading of a new database from another Gemba store (`gemba storage migrate`): rows go in
/// by `COPY … FROM STDIN`, each value written in the text form of its column's type.
extension PostgresStore {
    /// The schema migrations applied and what the database holds, for a backup's manifest.
    public func backupFacts() async throws -> DumpSummary {
        var migrations: [String] = []
        for try await id in try await client.query("SELECT id FROM gemba_migration ORDER BY applied_at, id", logger: logger).decode(String.self) {
            migrations.append(id)
        }
        var counts: [String: Int] = [:]
        for (name, table) in [("machines", "machine"), ("series", "series"), ("samples", "sample"), ("users", "app_user"), ("audit entries", "audit")] {
            counts[name] = try await rowCount(table)
        }
        return DumpSummary(migrations: migrations, counts: counts)
    }

    /// Whether the database at `url` has no tables at all (a target for `pg_restore`), checked
    /// without migrating it.
    public static func databaseIsBare(_ url: PostgresURL, logger: Logger) async throws -> Bool {
        let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Bool?.self) { group in
            group.addTask { await client.run(); return nil }
            defer { group.cancelAll() }
            for try await count in try await client.query("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
                                                          logger: logger).decode(Int64.self) {
                return count == 0
            }
            return false
        }
    }

    /// Whether the database holds no data yet (no machine, series, user or audit entry).
    public func holdsNoData() async throws -> Bool {
        let rows = try await client.query("""
            SELECT (SELECT count(*) FROM machine) + (SELECT count(*) FROM series) + (SELECT count(*) FROM app_user) + (SELECT count(*) FROM audit)
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { return count == 0 }
        return false
    }

    /// The tables of this database's schema, each with its columns' types (`information_schema` names).
    public func columnTypes() async throws -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        let rows = try await client.query("""
            SELECT table_name, column_name, data_type FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name NOT LIKE 'sample\\_%'
            """, logger: logger)
        for try await (table, column, type) in rows.decode((String, String, String).self) { result[table, default: [:]][column] = type }
        return result
    }

    /// Copies `rows` (values in the order of `columns`) into `table`; answers how many went in.
    /// `types` gives each column's type, as ``columnTypes()`` answers them.
    public func importRows(into table: String, columns: [String], types: [String: String], rows: [[ImportValue]]) async throws -> Int {
        guard !rows.isEmpty else { return 0 }
        let kinds = columns.map { types[$0] ?? "text" }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(rows.count * 64)
        for row in rows {
            for (index, value) in row.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
                Self.write(value, as: kinds[index], into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        let data = buffer
        do {
            try await client.withConnection { connection in
                try await connection.copyFrom(table: table, columns: columns, logger: self.logger) { writer in  // it quotes them
                    try await writer.write(data)
                }
            }
        } catch {
            throw PostgresStoreError.wrapping(error, doing: "copying rows into \(table)")
        }
        return rows.count
    }

    /// A value in COPY's text form for a column of `type`: `\N` for NULL, booleans as t/f, bytea as
    /// escaped hex, texts with backslash, tab, newline and carriage return escaped.
    static func write(_ value: ImportValue, as type: String, into buffer: inout ByteBuffer) {
        switch value {
        case .null:
            buffer.writeString("\\N")
        case .int(let number):
            buffer.writeString(type == "boolean" ? (number != 0 ? "t" : "f") : String(number))
        case .double(let number):
            buffer.writeString(type == "bigint" || type == "integer" || type == "smallint" ? String(Int64(number)) : "\(number)")
        case .text(let text):
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.writeString("\\\\")
                case UInt8(ascii: "\t"): buffer.writeString("\\t")
                case UInt8(ascii: "\n"): buffer.writeString("\\n")
                case UInt8(ascii: "\r"): buffer.writeString("\\r")
                default: buffer.writeInteger(byte)
                }
            }
        case .blob(let bytes):
            buffer.writeString("\\\\x")
            let digits = Array("0123456789abcdef".utf8)
            for byte in bytes {
                buffer.writeInteger(digits[Int(byte >> 4)])
                buffer.writeInteger(digits[Int(byte & 15)])
            }
        }
    }

    /// Moves an identity column's sequence past the ids copied in, so new rows get new ids.
    public func resetIdentity(of table: String, column: String = "id") async throws {
        try await client.query(PostgresQuery(unsafeSQL: """
            SELECT setval(pg_get_serial_sequence('\(table)', '\(column)'), greatest((SELECT max(\(Self.quoted(column))) FROM \(Self.quoted(table))), 1))
            """), logger: logger)
    }

    /// Rows in `table`.
    public func rowCount(_ table: String) async throws -> Int {
        for try await count in try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(Self.quoted(table))"), logger: logger)
            .decode(Int64.self) {
            return Int(count)
        }
        return 0
    }

    /// Sets the rollup watermark: rollups copied in hold every sample before `time`.
    public func setRollupWatermark(_ time: Int64) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.rollupLock))", logger: self.logger)
            try await connection.query("UPDATE rollup_watermark SET w = \(time)", logger: self.logger)
        }
    }
}

/// A database's schema migrations and named counts, as a backup records them.
public struct DumpSummary: Sendable {
    public var migrations: [String]
    public var counts: [String: Int]
}
