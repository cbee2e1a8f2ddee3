internal import Dispatch
internal import GRDB
internal import GRDBSQLite

/// A dedicated SQLite connection that runs WAL checkpoints on its own thread, so the writer
/// (and with it ingest) never pays for copying pages into the database file.
final class SQLiteCheckpointer: @unchecked Sendable {  // the connection is only used on `queue`
    private let connection: OpaquePointer
    private let queue = DispatchQueue(label: "gemba.sqlite.checkpoint")

    init(path: String) throws {
        var handle: OpaquePointer?
        let code = sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let handle else {
            if let handle { sqlite3_close_v2(handle) }
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "cannot open checkpoint connection")
        }
        sqlite3_busy_timeout(handle, 1000)
        connection = handle
    }

    deinit { sqlite3_close_v2(connection) }

    func checkpoint() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async { [self] in
                let code = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
                if code == SQLITE_OK || code == SQLITE_BUSY {
                    continuation.resume()
                } else {
                    continuation.resume(throwing: DatabaseError(resultCode: ResultCode(rawValue: code),
                                                                message: String(cString: sqlite3_errmsg(connection))))
                }
            }
        }
    }
}
