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
        let value = try await answer(within: .seconds(TestSupport.patience), expired: { Late() }, discard: { value in discarded.values.withLock { $0.append(value) } }) {
            7
        }
        #expect(value == 7 && discarded.values.withLock { $0.isEmpty })
    }

    /// Opened by the test; until then `wait()` does not return, cancelled or not (as a connect that
    /// ignores cancellation).
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        func wait() async {
            await withCheckedContinuation { continuation in
                let open = state.withLock { state in
                    if !state.open { state.waiter = continuation }
                    return state.open
                }
                if open { continuation.resume() }
            }
        }

        func open() {
            let waiter = state.withLock { state in
                state.open = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    @Test func aResultThatComesAfterTheDeadlineIsDiscarded() async throws {
        let discarded = Discarded()
        let gate = Gate()
        await #expect(throws: Late.self) {
            try await answer(within: .milliseconds(20), expired: { Late() }, discard: { value in discarded.values.withLock { $0.append(value) } }) {
                await gate.wait()
                return 42
            }
        }
        #expect(discarded.values.withLock { $0.isEmpty })
        gate.open()  // the operation's result comes only now, after the caller was answered
        #expect(try await TestSupport.eventually { discarded.values.withLock { $0 } == [42] })
    }

    /// An alarm fires once its delay has passed; a removed one never does, though it was due
    /// first; and the watch, which stops when no alarm is left, starts again for the next one.
    @Test func deadlinesFireOnceUnlessRemoved() async throws {
        let watch = DeadlineWatch(tick: .milliseconds(5))
        let fired = Mutex<[String]>([])
        let removed = watch.add(after: .milliseconds(1)) { fired.withLock { $0.append("removed") } }
        watch.remove(removed)
        _ = watch.add(after: .milliseconds(20)) { fired.withLock { $0.append("kept") } }
        #expect(try await TestSupport.eventually { fired.withLock { $0 } == ["kept"] })
        _ = watch.add(after: .milliseconds(1)) { fired.withLock { $0.append("later") } }
        #expect(try await TestSupport.eventually { fired.withLock { $0 } == ["kept", "later"] })
    }
}
