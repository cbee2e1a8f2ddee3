import Foundation
import GembaCore
@testable import GembaRules
import Testing

/// What the alarm clock writes: changed instances, except those that changed back to what the store holds.
@Suite struct PendingWritesTests {
    static let key = AlarmEngine.InstanceKey(tenant: .default, rule: "hot", machine: try! AssetPath("plant1/line1/cnc-1"))
    static let rule = try! RuleDocument.decode(Data(#"{"id": "hot", "name": "Hot", "severity": "high", "condition": "t > 85"}"#.utf8))

    static func pending(since time: Int64) -> RuleInstance {
        var tracker = ConditionTracker()
        tracker.raiseSince = time
        return RuleInstance(tracker: tracker, alarm: Alarm(severity: .high))
    }

    @Test func anInstanceThatChangedBackIsNotWrittenAndOneThatDidNotStayIsWrittenOnce() {
        let rest = RuleInstance(rule: Self.rule)
        var writes = AlarmEngine.PendingWrites()
        // A delay started and stopped between two writes: the store already holds the instance at rest.
        writes.mark(Self.key, storedAs: rest)
        writes.mark(Self.key, storedAs: Self.pending(since: 1))
        #expect(writes.take { _ in rest } row: { $1 }.isEmpty)
        #expect(writes.isEmpty)
        // Started and still running: written, with the state it has now.
        writes.mark(Self.key, storedAs: rest)
        let taken = writes.take { _ in Self.pending(since: 2) } row: { $1 }
        #expect(taken == [Self.pending(since: 2)])
        #expect(writes.take { _ in Self.pending(since: 2) } row: { $1 }.isEmpty)
    }

    @Test func anInstanceWhoseStoredStateIsUnknownIsAlwaysWritten() {
        let rest = RuleInstance(rule: Self.rule)
        var writes = AlarmEngine.PendingWrites()
        writes.mark(Self.key, storedAs: nil)
        #expect(writes.take { _ in rest } row: { $1 }.count == 1)
        // Known first, then unknown (a failed write put back): written even if back at the first state.
        writes.mark(Self.key, storedAs: rest)
        writes.mark(Self.key, storedAs: nil)
        #expect(writes.take { _ in rest } row: { $1 }.count == 1)
        // Gone meanwhile (its rule deleted): nothing to write.
        writes.mark(Self.key, storedAs: nil)
        #expect(writes.take { _ in nil } row: { $1 }.isEmpty)
    }
}
