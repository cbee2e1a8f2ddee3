internal import GembaCore
internal import GRDB
internal import GRDBSQLite

/// Hot-path access to SQLite's C API on GRDB's cached statements: binds and steps without
/// building `StatementArguments` or `Row` values for each sample.
enum SQLiteRows {
    /// Runs `sql` with the integer arguments `bind` and calls `body` for each result row.
    static func each(_ db: Database, sql: String, bind: [Int64] = [], _ body: (SQLiteRow) throws -> Void) throws {
        try step(db, sql: sql, bind: { statement in
            for (index, value) in bind.enumerated() { sqlite3_bind_int64(statement, Int32(index + 1), value) }
        }, body)
    }

    /// Runs `sql` with text and integer arguments and calls `body` for each result row.
    static func each(_ db: Database, sql: String, values: [SampleValue], _ body: (SQLiteRow) throws -> Void) throws {
        try step(db, sql: sql, bind: { statement in
            for (index, value) in values.enumerated() { bindValue(value, to: statement, at: Int32(index + 1)) }
        }, body)
    }

    /// Resets the cached statement, binds its arguments and steps it, calling `body` for each row.
    private static func step(_ db: Database, sql: String, bind: (OpaquePointer) -> Void, _ body: (SQLiteRow) throws -> Void) throws {
        let statement = try db.cachedStatement(sql: sql).sqliteStatement
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        bind(statement)
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else { throw error(db, code) }
            try body(SQLiteRow(statement: statement))
        }
        sqlite3_reset(statement)
    }

    static func error(_ db: Database, _ code: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }
}

/// One result row of a statement being stepped.
struct SQLiteRow {
    let statement: OpaquePointer

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
    func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }

    func text(_ column: Int32) -> String {
        sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
    }

    /// A BLOB column's bytes, valid until the next step.
    func blob(_ column: Int32) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: sqlite3_column_blob(statement, column), count: Int(sqlite3_column_bytes(statement, column)))
    }

    /// Reads a value column: INTEGER → int, REAL → double, TEXT → string.
    func value(_ column: Int32) -> SampleValue {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER: return .int(int64(column))
        case SQLITE_FLOAT: return .double(double(column))
        default:
            guard let text = sqlite3_column_text(statement, column) else { return .string("") }
            return .string(String(cString: text))
        }
    }

    func sample(time: Int32, value: Int32, quality: Int32) -> Sample {
        Sample(time: Timestamp(millisecondsSinceEpoch: int64(time)), value: self.value(value),
               quality: Quality(rawValue: UInt8(truncatingIfNeeded: int64(quality))) ?? .bad)
    }
}

/// Binds one sample value to a parameter of a raw statement.
func bindValue(_ value: SampleValue, to statement: OpaquePointer, at index: Int32) {
    switch value {
    case .double(let number): sqlite3_bind_double(statement, index, number)
    case .int(let number): sqlite3_bind_int64(statement, index, number)
    case .bool(let flag): sqlite3_bind_int64(statement, index, flag ? 1 : 0)
    case .string(let text):
        _ = text.utf8CString.withUnsafeBufferPointer { buffer in
            sqlite3_bind_text(statement, index, buffer.baseAddress, Int32(buffer.count - 1), sqliteTransient)
        }
    }
}

/// SQLite's `SQLITE_TRANSIENT`: makes SQLite copy bound text before the call returns.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
