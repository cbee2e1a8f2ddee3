@testable import GembaPostgres
import GembaTestSupport
import Synchronization
import Testing

/// `answer(within:expired:discard:_:)`, the race every PostgreSQL wait goes through.
@Suite struct AnswerWithinTests {
    struct Late: Error {}

    final class Discarded: Sendable {
        let values = Mutex<[Int]>([])
    }

    @Test func anAnswerInTimeIsReturnedAndNothingIsDiscarded() async throws {
        let discarded = Discarded()
        let value = try await answer(within: .seconds(5), expired: { Late() }, discard: { value in discarded.values.withLock { $0.append(value) } }) {
            7
        }
        #expect(value == 7 && discarded.values.withLock { $0.isEmpty })
    }

    @Test func aResultThatComesAfterTheDeadlineIsDiscarded() async throws {
        let discarded = Discarded()
        await #expect(throws: Late.self) {
            try await answer(within: .milliseconds(20), expired: { Late() }, discard: { value in discarded.values.withLock { $0.append(value) } }) {
                // Ignores cancellation, as a connect does: its result still comes, later.
                let until = ContinuousClock.now + .milliseconds(200)
                while ContinuousClock.now < until { try? await Task.sleep(for: .milliseconds(10)) }
                return 42
            }
        }
        #expect(try await TestSupport.eventually { discarded.values.withLock { $0 } == [42] })
    }
}
