import Foundation
import GembaCore
@testable import GembaNotifications
import GembaRules
import GembaStorage
import Testing

/// On-call rosters, people's preferences, and the follow-ups (reminders, escalation chains) of
/// alarms nobody acknowledges.
@Suite struct PeopleAndFollowUpTests {
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 24 * hour
    /// Monday 2026-11-30 06:00 in Berlin (05:00 UTC).
    static let monday: Int64 = 1_796_014_800_000

    static func roster() throws -> OnCallRoster {
        var roster = OnCallRoster(id: "maintenance", name: "Maintenance", timeZone: "Europe/Berlin",
                                  people: ["anna@plant.example", "ben@plant.example", "carla@plant.example"], rotationStart: monday, turn: 7 * day)
        roster.holidays = ["2026-12-25"]
        roster.holidayCover = "dora@plant.example"
        roster.overrides = [.init(from: monday + 7 * day + 2 * day, to: monday + 7 * day + 3 * day, person: "carla@plant.example")]
        try roster.validate()
        return roster
    }

    @Test func rostersRotateByTurnWithOverridesAndHolidaysInTheirZone() throws {
        let roster = try Self.roster()
        #expect(roster.onCall(at: Self.monday) == "anna@plant.example")
        #expect(roster.onCall(at: Self.monday + 7 * Self.day - 1) == "anna@plant.example")
        #expect(roster.onCall(at: Self.monday + 7 * Self.day) == "ben@plant.example")
        #expect(roster.onCall(at: Self.monday + 9 * Self.day + Self.hour) == "carla@plant.example", "the override")
        #expect(roster.onCall(at: Self.monday + 10 * Self.day + Self.hour) == "ben@plant.example", "after the override")
        #expect(roster.onCall(at: Self.monday + 21 * Self.day) == "anna@plant.example", "the rotation wraps")
        #expect(roster.onCall(at: Self.monday - 1) == "carla@plant.example", "turns before the start count backwards")
        // 2026-12-25 00:30 in Berlin is still 24 December in UTC.
        let christmas: Int64 = 1_798_155_000_000
        #expect(roster.onCall(at: christmas) == "dora@plant.example")
        #expect(roster.onCall(at: christmas - Self.hour) != "dora@plant.example")
    }

    @Test func invalidRostersAndPeopleAreRefusedNamingTheField() throws {
        var roster = try Self.roster()
        roster.timeZone = "Mars/Olympus"
        #expect(throws: ModelError.self) { try roster.validate() }
        roster = try Self.roster()
        roster.holidays = ["25.12.2026"]
        #expect((try? roster.validate()) == nil)
        roster = try Self.roster()
        roster.people = ["not an address"]
        #expect((try? roster.validate()) == nil)
        let bad = #"{"name": "x", "time_zone": "UTC", "people": ["a@b.example"], "rotation_start": 0, "turn": "1w"}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(OnCallRoster.self, from: Data(bad.utf8)) }
        let quiet = #"{"channels": [], "quiet_hours": {"start": "22:00", "end": "25:00", "time_zone": "UTC"}}"#
        #expect(throws: (any Error).self) { try JSONDecoder().decode(NotificationPerson.self, from: Data(quiet.utf8)) }
    }

    /// A router and notifier with a log channel `ops`, an e-mail channel `mail`, the maintenance
    /// roster, preferences for its people and a policy with a reminder and a two-step chain.
    static func configured(now: Int64) async throws -> (NotificationRouter, Notifier) {
        let router = NotificationRouter(baseURL: "https://gemba.example", clock: { now })
        let notifier = try NotificationTests.notifier(router)
        _ = try await notifier.save(NotificationChannel(id: "ops", name: "Ops log", kind: .log, url: nil), tenant: .default)
        var mail = NotificationChannel(id: "mail", name: "Mail", kind: .email, url: nil)
        mail.email = try JSONDecoder().decode(SMTPSettings.self, from: Data(#"{"host": "8.8.8.8", "from": "gemba@plant.example", "to": ["ops@plant.example"]}"#.utf8))
        _ = try await notifier.save(mail, tenant: .default)
        _ = try await notifier.save(try roster(), tenant: .default)
        var anna = NotificationPerson(id: "anna@plant.example", channels: ["mail"])
        anna.email = "anna.mobile@plant.example"
        anna.quietHours = try JSONDecoder().decode(RuleSchedule.self, from: Data(#"{"start": "22:00", "end": "06:00", "time_zone": "Europe/Berlin"}"#.utf8))
        _ = try await notifier.save(anna, tenant: .default)
        var ben = NotificationPerson(id: "ben@plant.example", channels: ["mail", "ops"])
        ben.minimumSeverity = .high
        _ = try await notifier.save(ben, tenant: .default)
        var policy = NotificationPolicy(id: "line1", name: "Line 1", channels: ["ops"])
        policy.recipients = ["roster:maintenance"]
        policy.repeatEvery = DurationText(30 * 60_000)
        policy.escalation = [EscalationStep(after: 10 * 60_000, recipients: ["user:ben@plant.example"]),
                             EscalationStep(after: 60 * 60_000, recipients: ["user:erik@plant.example"])]
        _ = try await notifier.save(policy, tenant: .default)
        return (router, notifier)
    }

    static func standing(severity: Severity, since: Int64) throws -> (StandingAlarm, AlarmNotice) {
        let rule = AlarmRule(id: "hot", name: "Spindle hot", text: "", expression: try RuleParser.parse("spindle_temp > 85"), severity: severity)
        let machine = try AssetPath("plant1/machining/line1/cnc-1")
        var instance = RuleInstance(rule: rule)
        let context = EvaluationContext(signals: {
            var signals = MachineSignals()
            signals.record(tag: "spindle_temp", Sample(time: Timestamp(millisecondsSinceEpoch: since), value: .double(91)))
            return signals
        }(), metadata: [:], kpis: [:], stateCategory: { _ in nil }, watchingSince: since, now: since)
        let transitions = instance.evaluate(rule, context, sampled: true)
        let activated = try #require(transitions.first { $0.kind == .activated })
        return (StandingAlarm(tenant: .default, rule: rule, machine: machine, alarm: instance.alarm),
                AlarmNotice(tenant: .default, rule: rule, machine: machine, transition: activated))
    }

    @Test func theOnCallPersonIsReachedThroughTheirOwnChannelsAndAddress() async throws {
        let now = Self.monday + 3 * Self.hour
        let (router, _) = try await Self.configured(now: now)
        let (_, notice) = try Self.standing(severity: .medium, since: now)
        let entries = router.route(notice)
        #expect(entries.map(\.channel).sorted() == ["mail", "ops"])
        let mail = try #require(entries.first { $0.channel == "mail" })
        #expect(mail.recipient == "anna@plant.example")
        #expect(mail.payload.contains("anna.mobile@plant.example"))
        #expect(mail.nextAttemptAt == now)
        #expect(entries.first { $0.channel == "ops" }?.recipient == nil)
    }

    @Test func quietHoursHoldAllButCriticalAlarmsUntilTheyEnd() async throws {
        // Monday 23:00 in Berlin: Anna's quiet hours run until Tuesday 06:00 (05:00 UTC).
        let night = Self.monday + 17 * Self.hour
        let (router, _) = try await Self.configured(now: night)
        let medium = router.route(try Self.standing(severity: .medium, since: night).1)
        #expect(medium.first { $0.channel == "mail" }?.nextAttemptAt == Self.monday + Self.day)
        #expect(medium.first { $0.channel == "ops" }?.nextAttemptAt == night, "channels have no quiet hours")
        let critical = router.route(try Self.standing(severity: .critical, since: night).1)
        #expect(critical.first { $0.channel == "mail" }?.nextAttemptAt == night)
    }

    @Test func remindersAndEscalationStepsFollowAnAlarmNobodyAcknowledges() async throws {
        let raised = Self.monday + 3 * Self.hour
        let (router, _) = try await Self.configured(now: raised)
        let (standing, _) = try Self.standing(severity: .high, since: raised)
        var progress = FollowUpProgress(activation: raised)
        #expect(router.followUps(standing, progress: &progress, now: raised).isEmpty)
        #expect(progress.due == raised + 10 * 60_000)
        // Ten minutes later the first step tells Ben (high is at his lowest severity) by mail and in the log.
        let step1 = router.followUps(standing, progress: &progress, now: raised + 10 * 60_000)
        #expect(step1.map { "\($0.channel)/\($0.recipient ?? "")" }.sorted() == ["mail/ben@plant.example", "ops/ben@plant.example"])
        #expect(step1.allSatisfy { $0.eventType == "alarm.escalation" && $0.payload.contains("unacknowledged for 10m") })
        #expect(progress.due == raised + 30 * 60_000)
        #expect(router.followUps(standing, progress: &progress, now: raised + 20 * 60_000).isEmpty, "nothing sent twice")
        // At 30 minutes the policy's own audience (the log, the person on call) is reminded.
        let reminder = router.followUps(standing, progress: &progress, now: raised + 30 * 60_000)
        #expect(reminder.map(\.channel).sorted() == ["mail", "ops"])
        #expect(reminder.allSatisfy { $0.eventType == "alarm.reminder" })
        // After a long outage the due step and one reminder go out, not one per missed period.
        let late = router.followUps(standing, progress: &progress, now: raised + 130 * 60_000)
        #expect(late.filter { $0.eventType == "alarm.reminder" }.count == 2)
        // Erik has no preferences: a dead letter says so, for admins to see.
        let dead = try #require(late.first { $0.status == .dead })
        #expect(dead.channel == "user:erik@plant.example" && dead.lastError?.contains("no notification preferences") == true)
        #expect(progress.steps["line1"] == 2 && progress.reminders["line1"] == 4)
    }

    @Test func aPersonBelowTheirLowestSeverityIsNotTold() async throws {
        let raised = Self.monday + 3 * Self.hour
        let (router, _) = try await Self.configured(now: raised)
        let (standing, _) = try Self.standing(severity: .medium, since: raised)
        var progress = FollowUpProgress(activation: raised)
        let step1 = router.followUps(standing, progress: &progress, now: raised + 10 * 60_000)
        #expect(step1.isEmpty, "Ben takes high and critical only")
        #expect(progress.steps["line1"] == 1)
    }

    @Test func policiesNamingMissingRostersOrChannelsAreRefused() async throws {
        let (_, notifier) = try await Self.configured(now: Self.monday)
        var policy = NotificationPolicy(id: "p", name: "P", channels: [])
        policy.recipients = ["roster:nobody"]
        await #expect(throws: ModelError.self) { try await notifier.save(policy, tenant: .default) }
        policy.recipients = ["someone"]
        await #expect(throws: ModelError.self) { try await notifier.save(policy, tenant: .default) }
        policy.recipients = ["user:anna@plant.example"]
        policy.escalation = [EscalationStep(after: 60_000, channels: ["missing"])]
        await #expect(throws: ModelError.self) { try await notifier.save(policy, tenant: .default) }
        policy.escalation = [EscalationStep(after: 60_000, channels: ["ops"]), EscalationStep(after: 60_000, channels: ["ops"])]
        await #expect(throws: ModelError.self) { try await notifier.save(policy, tenant: .default) }
        await #expect(throws: ModelError.self) { try await notifier.deleteRoster("maintenance", tenant: .default) }
    }
}

/// The engine and the router together over one store: follow-ups written with the alarm, none
/// twice across a restart, none after someone acknowledges.
@Suite struct FollowUpEngineTests {
    static let machine = try! AssetPath("plant1/line1/cnc-1")
    static let start: Int64 = 1_796_191_200_000
    static let minute: Int64 = 60_000

    @Test func followUpsSurviveARestartAndStopAtTheAcknowledgement() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-followups-\(UUID().uuidString)").path
        let store = try SQLiteStore(directory: directory, logger: .init(label: "test"))
        func engine() async throws -> (AlarmEngine, Notifier) {
            let router = NotificationRouter(baseURL: "https://gemba.example", clock: { Self.start })
            let notifier = Notifier(store: store, box: try SecretBox.open(directory: directory), router: router, logger: .init(label: "test"))
            try await notifier.load()
            let engine = AlarmEngine(store: store, stateCategory: { _ in nil }, router: router, logger: .init(label: "test"))
            let latest = ["t": Sample(time: Timestamp(millisecondsSinceEpoch: Self.start), value: .double(90))]
            try await engine.load(machines: [(.default, Self.machine, ["t"], latest, [:])], now: Self.start)
            return (engine, notifier)
        }
        func sent() async throws -> [String] {
            try await store.deliveries(tenant: .default, status: nil, limit: 100).reversed().map { "\($0.channel) \($0.eventType)" }
        }
        do {
            let (engine, notifier) = try await engine()
            for id in ["ops", "lead"] { _ = try await notifier.save(NotificationChannel(id: id, name: id, kind: .log, url: nil), tenant: .default) }
            var policy = NotificationPolicy(id: "line", name: "Line", channels: ["ops"])
            policy.repeatEvery = DurationText(30 * Self.minute)
            policy.escalation = [EscalationStep(after: 10 * Self.minute, channels: ["lead"])]
            _ = try await notifier.save(policy, tenant: .default)
            _ = try await engine.save(try RuleDocument.decode(Data(#"{"id": "hot", "name": "Hot", "severity": "high", "condition": "t > 85"}"#.utf8)),
                                      tenant: .default, by: "test")
            engine.accepted([AcceptedSample(seriesID: 1, key: SeriesKey(tenant: .default, machine: Self.machine, tag: "t"),
                                            sample: Sample(time: Timestamp(millisecondsSinceEpoch: Self.start), value: .double(91)))])
            engine.tick(now: Self.start + 9 * Self.minute)
            try await engine.flush()
            #expect(try await sent() == ["ops alarm.activated"])
            engine.tick(now: Self.start + 10 * Self.minute)
            try await engine.flush()
            #expect(try await sent() == ["ops alarm.activated", "lead alarm.escalation"])
        }
        // A new process: the step already sent is not sent again; the reminder comes at its time.
        let (engine, _) = try await engine()
        engine.tick(now: Self.start + 11 * Self.minute)
        engine.tick(now: Self.start + 30 * Self.minute)
        try await engine.flush()
        #expect(try await sent() == ["ops alarm.activated", "lead alarm.escalation", "ops alarm.reminder"])
        _ = try await engine.act(.acknowledge(comment: nil), tenant: .default, rule: "hot", machine: Self.machine, by: "anna",
                                 now: Self.start + 31 * Self.minute)
        engine.tick(now: Self.start + 90 * Self.minute)
        try await engine.flush()
        #expect(try await sent().count == 3, "nothing after the acknowledgement")
    }
}

/// Grouping: notices close together leave as one message per channel and person.
@Suite struct GroupingTests {
    static let start: Int64 = 1_796_191_200_000

    static func notice(_ machine: String, rule: String = "hot") throws -> AlarmNotice {
        let rule = AlarmRule(id: rule, name: "Hot", text: "", expression: try RuleParser.parse("t > 85"), severity: .high)
        let transition = AlarmTransition(kind: .activated, time: start, from: .normal, to: .activeUnacknowledged, severity: .high, value: 90,
                                         actor: nil, comment: nil, notify: true)
        return AlarmNotice(tenant: .default, rule: rule, machine: try AssetPath(machine), transition: transition)
    }

    @Test func noticesOfOneLineShareAWindowAndTheNextWaitsForTheInterval() async throws {
        let clock = ManualTime(Self.start)
        let router = NotificationRouter(baseURL: "https://gemba.example", clock: { clock.now })
        let notifier = try NotificationTests.notifier(router)
        _ = try await notifier.save(NotificationChannel(id: "ops", name: "Ops", kind: .log, url: nil), tenant: .default)
        var policy = NotificationPolicy(id: "line", name: "Line", channels: ["ops"])
        policy.group = NotificationGrouping(by: .line, wait: 30_000, interval: 300_000)
        _ = try await notifier.save(policy, tenant: .default)
        let first = router.route(try Self.notice("plant1/line1/cnc-1"))
        clock.now += 10_000
        let second = router.route(try Self.notice("plant1/line1/cnc-2"))
        let otherLine = router.route(try Self.notice("plant1/line2/cnc-3"))
        #expect(first[0].nextAttemptAt == Self.start + 30_000 && second[0].nextAttemptAt == Self.start + 30_000)
        #expect(first[0].groupKey == second[0].groupKey && first[0].groupKey != otherLine[0].groupKey)
        #expect(otherLine[0].nextAttemptAt == Self.start + 40_000)
        // After the window's message, the group's next one waits for the interval.
        clock.now = Self.start + 31_000
        #expect(router.route(try Self.notice("plant1/line1/cnc-1"))[0].nextAttemptAt == Self.start + 330_000)
        let batches = Notifier.batches(first + otherLine + second)
        #expect(batches.map(\.count) == [2, 1])
        let combined = NotificationMessage.combined(batches[0].map(\.payload), for: .webhook)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(combined.utf8)) as? [String: Any])
        #expect(body["type"] as? String == "alarm.group" && (body["data"] as? [String: Any])?["count"] as? Int == 2)
        let mail = NotificationMessage.combined([#"{"subject": "A", "text": "a", "to": ["x@y.example"]}"#, #"{"subject": "B", "text": "b"}"#], for: .email)
        #expect(mail.contains(#""subject":"2 alarm notifications: A…""#) && mail.contains("x@y.example"))
    }

    /// A time the test moves by hand (read by the router under its own calls only).
    final class ManualTime: @unchecked Sendable {
        var now: Int64
        init(_ now: Int64) { self.now = now }
    }
}
