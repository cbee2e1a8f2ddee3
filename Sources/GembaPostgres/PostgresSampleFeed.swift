internal import GembaCore
public import GembaStorage
internal import PostgresNIO

/// The sample feed in PostgreSQL (`sample_feed`): each commit with samples to feed writes one row,
/// in the statement that inserts its samples, with its transaction's id (`xid8`). Ids are handed
/// out as transactions start, not as they commit, so a reader takes only rows whose transaction id
/// is below the oldest still running (`pg_snapshot_xmin`): every transaction that could write a
/// row before them has ended, and a row committed late is never skipped. A long write transaction
/// (on any database of the server) holds the feed back while it runs.
extension PostgresStore: SampleFeedStore {
    public func pendingFeed(limit: Int) async throws -> [SampleFeedEntry] {
        let rows = try await client.query("""
            SELECT id, samples FROM sample_feed WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY xid, id LIMIT \(Int64(limit))
            """, logger: logger)
        var entries: [SampleFeedEntry] = []
        for try await (id, bytes) in rows.decode((Int64, ByteBuffer).self) {
            do {
                entries.append(SampleFeedEntry(id: id, samples: try LiveBatch.decode(bytes.readableBytesView)))
            } catch {
                logger.error("a sample feed row cannot be read; it is skipped", metadata: ["feed.id": "\(id)", "error": "\(error)"])
                entries.append(SampleFeedEntry(id: id, samples: []))
            }
        }
        return entries
    }

    public func consumeFeed(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await client.query("DELETE FROM sample_feed WHERE id = ANY(\(ids))", logger: logger)
    }
}
