import Foundation
import GembaCore
import GembaStorage
import Logging
import Testing

/// Runs the storage conformance suite against the SQLite backend, plus SQLite-specific checks.
@Suite struct SQLiteStoreTests {
    static func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "gemba-store-\(UUID().uuidString)"
    }

    let suite = StoreConformance {
        try SQLiteStore(directory: SQLiteStoreTests.temporaryDirectory(), logger: Logger(label: "test"))
    }

    @Test func registrationIsIdempotent() async throws { try await suite.registrationIsIdempotent() }
    @Test func duplicatesKeepOneRow() async throws { try await suite.duplicatesKeepOneRow() }
    @Test func valuesRoundTrip() async throws { try await suite.valuesRoundTrip() }
    @Test func latestIsNewest() async throws { try await suite.latestIsNewestWhateverTheArrivalOrder() }
    @Test func bucketsMatchRawAggregation() async throws { try await suite.bucketsMatchRawAggregation() }
    @Test func retention() async throws { try await suite.retentionRemovesOnlyExpiredRowsOfItsTenant() }
    @Test func catalogIsScopedByTenant() async throws { try await suite.catalogIsScopedByTenant() }

    @Test func committedDataSurvivesReopening() async throws {
        let directory = Self.temporaryDirectory()
        let id: Int64
        do {
            let store = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
            id = try await suite.seed(store, [StoreConformance.at(0, 42)]).id
        }
        let reopened = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
        #expect(try await reopened.latest(series: [id])[id]?.value == .double(42))
        #expect(try await reopened.allSeries().map(\.id) == [id])
        #expect(try reopened.diskUsage() > 0)
        try await reopened.checkWritable()
    }
}
