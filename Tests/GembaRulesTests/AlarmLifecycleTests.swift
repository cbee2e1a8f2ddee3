import GembaRules
import Testing

/// The ISA-18.2 life cycle as event → state tables.
@Suite struct AlarmLifecycleTests {
    @Test func acknowledgedWhileActiveThenClearedIsNormal() throws {
        var instance = Harness(rule: "t > 85")
        #expect(instance.feed(t: 90, at: 1000).map(\.kind) == [.activated])
        #expect(instance.state == .activeUnacknowledged)
        #expect(try instance.alarm { try $0.acknowledge(by: "ann", comment: "on it", at: 2000) }.map(\.to) == [.activeAcknowledged])
        #expect(instance.feed(t: 70, at: 3000).map(\.to) == [.normal])
    }

    @Test func clearedBeforeAcknowledgementWaitsForIt() throws {
        var instance = Harness(rule: "t > 85")
        _ = instance.feed(t: 90, at: 1000)
        #expect(instance.feed(t: 70, at: 2000).map(\.to) == [.returnedUnacknowledged])
        #expect(try instance.alarm { try $0.acknowledge(by: "ann", comment: nil, at: 3000) }.map(\.to) == [.normal])
        #expect(throws: AlarmActionError.self) { try instance.alarm { try $0.acknowledge(by: "ann", comment: nil, at: 4000) } }
    }

    @Test func aLatchingAlarmStaysUntilAcknowledged() throws {
        var instance = Harness(rule: "t > 85") { $0.latching = true }
        _ = instance.feed(t: 90, at: 1000)
        _ = instance.feed(t: 70, at: 2000)
        #expect(instance.state == .latched)
        _ = try instance.alarm { try $0.acknowledge(by: "ann", comment: nil, at: 3000) }
        #expect(instance.state == .normal)
    }

    @Test func shelvingHidesActivationsAndEndsByItself() throws {
        var instance = Harness(rule: "t > 85") { $0.longestShelve = 3_600_000 }
        #expect(throws: AlarmActionError.self) {
            try instance.alarm { try $0.shelve(until: 8_000_000, reason: "sensor swap", by: "ann", at: 0, longest: 3_600_000) }
        }
        _ = try instance.alarm { try $0.shelve(until: 600_000, reason: "sensor swap", by: "ann", at: 0, longest: 3_600_000) }
        let shelved = instance.feed(t: 90, at: 1000)
        #expect(shelved.map(\.kind) == [.activated] && shelved[0].notify == false)
        #expect(instance.state == .shelved)
        #expect(instance.deadline() == 600_000)
        // The clock ends the shelve; the still-active condition asks for acknowledgement again.
        let unshelved = instance.tick(at: 600_000)
        #expect(unshelved.map(\.kind) == [.unshelved] && unshelved[0].notify)
        #expect(instance.state == .activeUnacknowledged)
    }

    @Test func outOfServiceNeedsAReasonAndReturnsToTheConditionsState() throws {
        var instance = Harness(rule: "t > 85")
        #expect(throws: AlarmActionError.self) { try instance.alarm { try $0.removeFromService(reason: "", by: "eng", at: 0) } }
        _ = try instance.alarm { try $0.removeFromService(reason: "probe replaced", by: "eng", at: 0) }
        #expect(instance.feed(t: 90, at: 1000).allSatisfy { !$0.notify })
        #expect(instance.state == .outOfService)
        #expect(throws: AlarmActionError.self) { try instance.alarm { try $0.shelve(until: 5000, reason: "x", by: "op", at: 2000, longest: 10_000) } }
        _ = try instance.alarm { try $0.returnToService(by: "eng", at: 3000) }
        #expect(instance.state == .activeUnacknowledged)
    }

    @Test func aPlannedStopSuppressesByDesign() {
        var instance = Harness(rule: "t > 85")
        _ = instance.feed(state: "planned_stop", at: 500)
        let raised = instance.feed(t: 90, at: 1000)
        #expect(instance.state == .suppressed && raised.allSatisfy { !$0.notify })
        let resumed = instance.feed(state: "producing", at: 2000)
        #expect(resumed.map(\.kind) == [.unsuppressed] && resumed[0].notify)
        #expect(instance.state == .activeUnacknowledged)
    }

    @Test func threeActivationsInAMinuteChatterAndHoldNotifications() {
        var instance = Harness(rule: "t > 85")
        var told = 0
        for second in 0..<4 {
            told += instance.feed(t: 90, at: Int64(second) * 10_000).filter(\.notify).count
            _ = instance.feed(t: 80, at: Int64(second) * 10_000 + 5000)
        }
        #expect(instance.alarmState.chattering)
        #expect(instance.alarmState.heldNotifications == 2)
        #expect(told == 2)
        let calm = instance.tick(at: 100_000)
        #expect(calm.map(\.kind) == [.chatteringEnded])
        #expect(!instance.alarmState.chattering)
    }

    @Test func escalatesByDurationAndDeescalatesWhenTheStageStopsHolding() {
        var instance = Harness(rule: "t > 85") { rule in
            rule.severity = .low
            rule.escalation = [EscalationStage(after: 120_000, severity: .medium),
                               EscalationStage(after: 600_000, severity: .high, when: try! RuleParser.parseCondition("t > 95"))]
        }
        _ = instance.feed(t: 90, at: 0)
        #expect(instance.deadline() == 120_000)
        #expect(instance.tick(at: 120_000).map(\.severity) == [.medium])
        _ = instance.feed(t: 99, at: 300_000)
        #expect(instance.tick(at: 600_000).map(\.kind) == [.escalated])
        #expect(instance.alarmState.severity == .high)
        #expect(instance.feed(t: 91, at: 610_000).map(\.kind) == [.deescalated])
        #expect(instance.alarmState.severity == .medium)
        _ = instance.feed(t: 50, at: 700_000)
        #expect(instance.alarmState.severity == .low)
    }
}
