import Foundation
import GembaCore
import GembaRules
import GembaStorage
import Logging
import Synchronization
import Testing

/// The engine over a real store: timers that survive a restart, one instance however samples race.
@Suite struct AlarmEngineTests {
    static let machine = try! AssetPath("plant1/line1/cnc-1")
    static let key = SeriesKey(tenant: .default, machine: machine, tag: "t")
    static let start: Int64 = 1_796_191_200_000

    static func store() throws -> SQLiteStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-alarms-\(UUID().uuidString)").path
        return try SQLiteStore(directory: directory, logger: Logger(label: "test"))
    }

    static func engine(_ store: SQLiteStore) -> AlarmEngine {
        AlarmEngine(store: store, stateCategory: { _ in nil }, logger: Logger(label: "test"))
    }

    static func rule(_ text: String) throws -> AlarmRule {
        try RuleDocument.decode(Data(#"{"id": "hot", "name": "Hot", "severity": "high", "condition": "\#(text)"}"#.utf8))
    }

    static func sample(_ value: Double, at time: Int64) -> AcceptedSample {
        AcceptedSample(seriesID: 1, key: key, sample: Sample(time: Timestamp(millisecondsSinceEpoch: time), value: .double(value)))
    }

    static func activations(_ store: SQLiteStore) async throws -> [AlarmJournalEntry] {
        try await store.journal(JournalQuery(tenant: .default, range: 0..<Int64.max)).filter { $0.kind == "activated" }
    }

    @Test func aRunningDelaySurvivesARestartAndFiresOnceAtItsTime() async throws {
        let store = try Self.store()
        do {
            let engine = Self.engine(store)
            try await engine.load(machines: [], now: Self.start)
            _ = try await engine.save(try Self.rule("t > 85 for 2m"), tenant: .default, by: "test")
            engine.accepted([Self.sample(90, at: Self.start)])
            try await engine.flush()
            #expect(engine.alarms(tenant: .default).first?.pendingSince == Self.start)
        }
        // A new process: the instance and its running delay come back from the store.
        let latest = ["t": Sample(time: Timestamp(millisecondsSinceEpoch: Self.start), value: .double(90))]
        let restarted = Self.engine(store)
        try await restarted.load(machines: [(.default, Self.machine, ["t"], latest, [:])], now: Self.start + 60_000)
        restarted.tick(now: Self.start + 119_000)
        #expect(restarted.alarms(tenant: .default).first?.alarm.state == .normal)
        restarted.tick(now: Self.start + 121_000)
        try await restarted.flush()
        #expect(restarted.alarms(tenant: .default).first?.alarm.state == .activeUnacknowledged)
        // And once more: the active alarm is loaded as such and does not fire again.
        let again = Self.engine(store)
        try await again.load(machines: [(.default, Self.machine, ["t"], latest, [:])], now: Self.start + 200_000)
        again.tick(now: Self.start + 300_000)
        again.accepted([Self.sample(91, at: Self.start + 300_000)])
        try await again.flush()
        let fired = try await Self.activations(store)
        #expect(fired.map(\.time) == [Self.start + 120_000])
        #expect(again.alarms(tenant: .default).first?.alarm.activations == 1)
    }

    /// A machine first heard of through day-old samples (a backfill) is watched from when the
    /// clock met it: its silence counts from then, not from its first sample (which made every
    /// demo start raise and clear "sensor silent" at once on every machine).
    @Test func aMachineFirstSeenThroughOldSamplesIsNotSilentAtOnce() async throws {
        let store = try Self.store()
        let engine = Self.engine(store)
        try await engine.load(machines: [], now: Self.start)
        _ = try await engine.save(try Self.rule("no_data(t, 2m)"), tenant: .default, by: "test")
        engine.tick(now: Self.start)
        engine.accepted([Self.sample(20, at: Self.start - 86_400_000), Self.sample(21, at: Self.start - 86_399_000)])
        engine.tick(now: Self.start + 1_000)
        #expect(engine.alarms(tenant: .default).first?.alarm.state == .normal)
        engine.tick(now: Self.start + 121_000)
        #expect(engine.alarms(tenant: .default).first?.alarm.state == .activeUnacknowledged)
    }

    /// Two engines on one store, as two nodes: the following one evaluates nothing and writes
    /// nothing, shows what the evaluating one wrote once told to reload, takes the other's rule
    /// changes, and hands its operator actions to the evaluating one (here, directly).
    @Test func aFollowingEngineShowsWhatTheEvaluatingOneWrote() async throws {
        let store = try Self.store()
        let leader = Self.engine(store), follower = Self.engine(store)
        try await leader.load(machines: [], now: Self.start)
        try await follower.load(machines: [], now: Self.start)
        follower.follow()
        let forwarded = Mutex<[AlarmActionRequest]>([])
        follower.join(AlarmClusterLink(rulesChanged: {}, alarmsChanged: {}, forward: { request in
            forwarded.withLock { $0.append(request) }
            _ = try await leader.act(request.action, tenant: request.tenant, rule: request.rule, machine: request.machine,
                                     by: request.actor, now: request.time)
        }))
        #expect(!follower.isEvaluating && leader.isEvaluating && follower.tagsRead.isEmpty)
        _ = try await follower.save(try Self.rule("t > 85"), tenant: .default, by: "test")
        #expect(follower.tagsRead == [.default: ["t", "state"]])   // its commits now feed the rule's tag
        try await leader.reloadRules()
        #expect(leader.rules(tenant: .default).map(\.id) == ["hot"])
        follower.accepted([Self.sample(90, at: Self.start)])
        follower.tick(now: Self.start + 1_000)
        #expect(follower.alarms(tenant: .default).isEmpty)
        leader.accepted([Self.sample(90, at: Self.start)])
        try await leader.flush()
        #expect(follower.alarms(tenant: .default).isEmpty)
        try await follower.reloadAlarms()
        #expect(follower.alarms(tenant: .default).first?.alarm.state == .activeUnacknowledged)
        let view = try await follower.act(.acknowledge(comment: nil), tenant: .default, rule: "hot", machine: Self.machine, by: "ann")
        #expect(view?.alarm.acknowledged == true && forwarded.withLock { $0.map(\.actor) } == ["ann"])
        #expect(leader.alarms(tenant: .default).first?.alarm.acknowledged == true)
        #expect(try await Self.activations(store).count == 1)
        // Deleted through the follower: the leader drops the rule and its alarm when it reloads.
        #expect(try await follower.delete(rule: "hot", tenant: .default))
        try await leader.reloadRules()
        #expect(leader.alarms(tenant: .default).isEmpty && leader.tagsRead[.default] == nil)
    }

    /// Samples that leave a threshold rule at rest pass by without an evaluation; every sample
    /// counts again once a delay runs or the alarm stands, whichever side the tag is written on.
    @Test(arguments: ["t > 85 for 1m clear < 80", "85 < t for 1m clear when 80 > t"])
    func samplesPassingARuleAtRestChangeNothingAndADelayOrAnAlarmSeesEverySample(_ text: String) async throws {
        let store = try Self.store()
        let engine = Self.engine(store)
        try await engine.load(machines: [], now: Self.start)
        _ = try await engine.save(try Self.rule(text), tenant: .default, by: "test")
        func pending() -> Int64? { engine.alarms(tenant: .default).first?.pendingSince }
        func state() -> AlarmState? { engine.alarms(tenant: .default).first?.alarm.state }
        engine.accepted([Self.sample(70, at: Self.start)])
        #expect(pending() == nil && state() == .normal)
        engine.accepted([Self.sample(90, at: Self.start + 1_000)])
        #expect(pending() == Self.start + 1_000)
        // Below the threshold while the delay runs: the delay stops (the instance is not at rest).
        engine.accepted([Self.sample(84, at: Self.start + 2_000)])
        #expect(pending() == nil)
        engine.accepted([Self.sample(90, at: Self.start + 3_000)])
        engine.tick(now: Self.start + 62_000)
        engine.tick(now: Self.start + 63_000)
        #expect(state() == .activeUnacknowledged)
        // Standing: a sample between clear and raise keeps it; one below the clear clears it.
        engine.accepted([Self.sample(82, at: Self.start + 64_000)])
        #expect(state() == .activeUnacknowledged)
        engine.accepted([Self.sample(79, at: Self.start + 65_000)])
        #expect(state() == .returnedUnacknowledged)
        try await engine.flush()
        #expect(try await Self.activations(store).map(\.time) == [Self.start + 63_000])
    }

    /// The pass-by skips an instance only while all of the machine's instances rest; an alarm that
    /// stands after a restart, or again after being acknowledged and raised, still sees the sample
    /// that clears it.
    @Test func anAlarmRestoredOrActedOnStillClearsOnASampleItsRulePassesByAndActionsAreStored() async throws {
        let store = try Self.store()
        do {
            let engine = Self.engine(store)
            try await engine.load(machines: [], now: Self.start)
            _ = try await engine.save(try Self.rule("t > 85"), tenant: .default, by: "test")
            engine.accepted([Self.sample(90, at: Self.start)])
            try await engine.flush()
        }
        let latest = ["t": Sample(time: Timestamp(millisecondsSinceEpoch: Self.start), value: .double(90))]
        let restarted = Self.engine(store)
        try await restarted.load(machines: [(.default, Self.machine, ["t"], latest, [:])], now: Self.start + 1_000)
        func state() -> AlarmState? { restarted.alarms(tenant: .default).first?.alarm.state }
        #expect(state() == .activeUnacknowledged)
        restarted.accepted([Self.sample(70, at: Self.start + 2_000)])
        #expect(state() == .returnedUnacknowledged)
        // Acknowledged back to normal: at rest again, samples below pass by; one above raises it.
        _ = try await restarted.act(.acknowledge(comment: nil), tenant: .default, rule: "hot", machine: Self.machine, by: "op",
                                    now: Self.start + 3_000)
        #expect(state() == .normal)
        restarted.accepted([Self.sample(60, at: Self.start + 4_000)])
        restarted.accepted([Self.sample(95, at: Self.start + 5_000)])
        #expect(state() == .activeUnacknowledged)
        restarted.accepted([Self.sample(60, at: Self.start + 6_000)])
        #expect(state() == .returnedUnacknowledged)
        // The acknowledgement is stored: after another restart the alarm is normal, not waiting for one.
        try await restarted.flush()
        _ = try await restarted.act(.acknowledge(comment: "seen"), tenant: .default, rule: "hot", machine: Self.machine, by: "op",
                                    now: Self.start + 7_000)
        let again = Self.engine(store)
        try await again.load(machines: [(.default, Self.machine, ["t"], latest, [:])], now: Self.start + 8_000)
        #expect(again.alarms(tenant: .default).first?.alarm.state == .normal)
    }

    @Test func racingWritersMakeOneInstanceAndOneActivation() async throws {
        let store = try Self.store()
        let engine = Self.engine(store)
        try await engine.load(machines: [], now: Self.start)
        _ = try await engine.save(try Self.rule("t > 85"), tenant: .default, by: "test")
        await withTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for index in 0..<500 { engine.accepted([Self.sample(90 + Double(writer), at: Self.start + Int64(index * 8 + writer))]) }
                }
            }
        }
        try await engine.flush()
        #expect(engine.alarms(tenant: .default).count == 1)
        #expect(try await Self.activations(store).count == 1)
    }

    @Test func operatorActionsAreJournalledAndRefusedWhenTheStateForbidsThem() async throws {
        let store = try Self.store()
        let engine = Self.engine(store)
        try await engine.load(machines: [], now: Self.start)
        _ = try await engine.save(try Self.rule("t > 85"), tenant: .default, by: "test")
        engine.accepted([Self.sample(90, at: Self.start)])
        let acknowledged = try await engine.act(.acknowledge(comment: "checking coolant"), tenant: .default, rule: "hot", machine: Self.machine,
                                                by: "ann", now: Self.start + 1000)
        #expect(acknowledged?.alarm.state == .activeAcknowledged)
        await #expect(throws: AlarmActionError.self) {
            _ = try await engine.act(.acknowledge(comment: nil), tenant: .default, rule: "hot", machine: Self.machine, by: "ann")
        }
        #expect(try await engine.act(.comment("x"), tenant: TenantID("other")!, rule: "hot", machine: Self.machine, by: "eve") == nil)
        let journal = try await engine.journal(JournalQuery(tenant: .default, range: 0..<Int64.max))
        #expect(journal.map(\.kind) == ["activated", "acknowledged"])
        #expect(journal.last?.actor == "ann" && journal.last?.comment == "checking coolant")
    }
}

/// Rules on a line's or site's KPIs: one alarm per line, not one per machine.
@Suite struct LineKPIRuleTests {
    @Test func theSyntaxAndJSONNameTheLevelAndMixingLevelsIsRefused() throws {
        let expression = try RuleParser.parse("line.oee < 0.6 for 10m clear >= 0.65")
        #expect(expression.level == .line)
        #expect(RuleText.text(expression) == "line.oee < 0.6 for 10m clear >= 0.65")
        let rule = try RuleDocument.decode(Data(#"{"id": "l", "name": "L", "severity": "low", "condition": "site.availability < 0.8"}"#.utf8))
        let json = String(decoding: RuleDocument.encode(rule), as: UTF8.self)
        #expect(json.contains(#""of":"site""#))
        #expect(try RuleDocument.decode(RuleDocument.encode(rule)).expression == rule.expression)
        for mixed in ["line.oee < 0.6 and spindle_temp > 80", "line.oee < shift.oee", "site.oee < 0.5 or line.oee < 0.5"] {
            let document = #"{"id": "m", "name": "M", "severity": "low", "condition": "\#(mixed)"}"#
            #expect(throws: ModelError.self, "\(mixed)") { try RuleDocument.decode(Data(document.utf8)) }
        }
        #expect(throws: (any Error).self) { try RuleParser.parse("line.speed < 3") }
    }

    @Test func aLineRuleRaisesOneAlarmForTheLineFromItsKPIs() async throws {
        let store = try AlarmEngineTests.store()
        let engine = AlarmEngineTests.engine(store)
        try await engine.load(machines: [], now: AlarmEngineTests.start)
        let line = try AssetPath("plant1/line1/_line")
        _ = try await engine.save(try RuleDocument.decode(Data(#"{"id": "line-oee", "name": "Line OEE", "severity": "medium", "condition": "line.oee < 0.6 for 1m"}"#.utf8)),
                                  tenant: .default, by: "test")
        for name in ["cnc-1", "cnc-2"] {
            engine.accepted([AcceptedSample(seriesID: 1, key: SeriesKey(tenant: .default, machine: try AssetPath("plant1/line1/\(name)"), tag: "t"),
                                            sample: Sample(time: Timestamp(millisecondsSinceEpoch: AlarmEngineTests.start), value: .double(20)))])
        }
        let assets = engine.assetsReadingKPIs()
        #expect(assets.map(\.asset) == [line] && assets.first?.level == .line)
        #expect(assets.first?.machines.map(\.description) == ["plant1/line1/cnc-1", "plant1/line1/cnc-2"])
        engine.setKPIs([.oee: 0.5], tenant: .default, asset: line, level: .line, now: AlarmEngineTests.start)
        engine.tick(now: AlarmEngineTests.start + 61_000)
        engine.setKPIs([.oee: 0.5], tenant: .default, asset: line, level: .line, now: AlarmEngineTests.start + 61_000)
        try await engine.flush()
        let alarms = engine.alarms(tenant: .default)
        #expect(alarms.map(\.machine) == [line], "one instance, on the line")
        #expect(alarms.first?.alarm.state == .activeUnacknowledged)
        // After a restart the line's alarm is still the line's: machine rules do not attach to it.
        let restarted = AlarmEngineTests.engine(store)
        try await restarted.load(machines: [], now: AlarmEngineTests.start + 120_000)
        #expect(restarted.alarms(tenant: .default).map(\.machine) == [line])
        #expect(try await AlarmEngineTests.activations(store).count == 1)
    }
}

/// Rules that apply only while a shift of the site calendar runs.
@Suite struct ShiftRuleTests {
    @Test func aRuleDuringShiftsRaisesAtTheShiftsStartAndClearsAtItsEnd() async throws {
        let store = try AlarmEngineTests.store()
        let engine = AlarmEngineTests.engine(store)
        let start = AlarmEngineTests.start
        try await engine.load(machines: [], now: start)
        let rule = try RuleDocument.decode(Data(#"{"id": "hot", "name": "Hot", "severity": "high", "condition": "t > 85", "during_shifts": true}"#.utf8))
        #expect(rule.duringShifts && String(decoding: RuleDocument.encode(rule), as: UTF8.self).contains(#""during_shifts":true"#))
        _ = try await engine.save(rule, tenant: .default, by: "test")
        engine.accepted([AlarmEngineTests.sample(90, at: start)])
        #expect(engine.machinesOnShiftRules().map(\.machine) == [AlarmEngineTests.machine])
        engine.setShifts([(start + 60_000)..<(start + 120_000)], tenant: .default, machine: AlarmEngineTests.machine)
        #expect(engine.alarms(tenant: .default).first?.alarm.state == .normal, "no shift runs: the rule does not apply")
        engine.tick(now: start + 60_000)
        #expect(engine.alarms(tenant: .default).first?.alarm.state == .activeUnacknowledged, "raised when the shift starts, without a new sample")
        engine.tick(now: start + 120_000)
        #expect(engine.alarms(tenant: .default).first?.alarm.state == .returnedUnacknowledged, "cleared when it ends")
    }
}
