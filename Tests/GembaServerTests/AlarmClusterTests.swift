import Foundation
import GembaCore
import GembaRules
@testable import GembaServer
import GembaStorage
import GembaTestSupport
import Logging
import Synchronization
import Testing

/// The sample feed as a list in memory: what commits fed, taken oldest first, removed when consumed.
final class MemoryFeed: SampleFeedStore {
    let rows = Mutex<[SampleFeedEntry]>([])

    func append(_ samples: [AcceptedSample]) {
        rows.withLock { $0.append(SampleFeedEntry(id: Int64($0.count + 1), samples: samples)) }
    }

    func pendingFeed(limit: Int) async throws -> [SampleFeedEntry] { rows.withLock { Array($0.prefix(limit)) } }

    func consumeFeed(_ ids: [Int64]) async throws {
        let consumed = Set(ids)
        rows.withLock { $0.removeAll { consumed.contains($0.id) } }
    }
}

/// Two alarm engines over one store stand for two nodes: one evaluates from the sample feed, the
/// other follows through what the nodes announce to each other (here handed over directly).
@Suite struct AlarmClusterTests {
    static let machine = try! AssetPath("plant1/line1/cnc-1")
    static let start: Int64 = 1_796_191_200_000

    let store: SQLiteStore
    let leader: AlarmEngine
    let follower: AlarmEngine

    init() throws {
        store = try SQLiteStore(directory: NSTemporaryDirectory() + "gemba-alarm-cluster-\(UUID().uuidString)", logger: Logger(label: "test"))
        leader = AlarmEngine(store: store, stateCategory: { _ in nil }, logger: Logger(label: "test"))
        follower = AlarmEngine(store: store, stateCategory: { _ in nil }, logger: Logger(label: "test"))
    }

    static func sample(_ value: Double, at offset: Int64, tag: String = "t") -> AcceptedSample {
        AcceptedSample(seriesID: 1, key: SeriesKey(tenant: .default, machine: machine, tag: tag),
                       sample: Sample(time: Timestamp(millisecondsSinceEpoch: start + offset), value: .double(value)))
    }

    func rule(_ condition: String) throws -> AlarmRule {
        try RuleDocument.decode(Data(#"{"id": "hot", "name": "Hot", "severity": "high", "condition": "\#(condition)"}"#.utf8))
    }

    /// Two nodes committed one machine's samples at once, and the feed answers the later sample
    /// first: the pass evaluates them in time order, so all three count; then the rows are gone.
    @Test func aPassEvaluatesEachMachinesSamplesInTimeOrderAndConsumesThem() async throws {
        try await leader.load(machines: [], now: Self.start)
        _ = try await leader.save(try rule("t > 85 for 3 of 3 samples"), tenant: .default, by: "test")
        let feed = MemoryFeed()
        feed.append([Self.sample(90, at: 0), Self.sample(92, at: 2_000)])
        feed.append([Self.sample(91, at: 1_000), Self.sample(20, at: 1_000, tag: "other")])
        _ = try await leader.feedPass(feed)
        #expect(leader.alarms(tenant: .default).first?.alarm.state == .activeUnacknowledged)
        #expect(try await feed.pendingFeed(limit: 10).isEmpty)
    }

    /// Joins both engines to clusters whose announcements reach the other at once.
    func clusters(answerTimeout: Duration = .seconds(5)) -> (AlarmCluster, AlarmCluster) {
        let peers = Mutex<[AlarmCluster]>([])
        func announcer(to index: Int) -> @Sendable (String) async -> Void {
            { payload in _ = peers.withLock { $0 }[index].deliver(payload) }
        }
        let a = AlarmCluster(engine: leader, announce: announcer(to: 1), answerTimeout: answerTimeout, logger: Logger(label: "test"))
        let b = AlarmCluster(engine: follower, announce: announcer(to: 0), answerTimeout: answerTimeout, logger: Logger(label: "test"))
        peers.withLock { $0 = [a, b] }
        return (a, b)
    }

    /// An action on the following node is applied by the evaluating one; a refusal comes back as
    /// such (409 in the API), and the follower shows the outcome once it answers.
    @Test func actionsOnAFollowingNodeAreAppliedByTheEvaluatingOne() async throws {
        let clusters = clusters()
        try await leader.load(machines: [], now: Self.start)
        try await follower.load(machines: [], now: Self.start)
        follower.follow()
        _ = try await follower.save(try rule("t > 85"), tenant: .default, by: "test")
        #expect(try await TestSupport.eventually { leader.rules(tenant: .default).count == 1 })   // told to reload
        leader.accepted([Self.sample(90, at: 0)])
        try await leader.flush()
        #expect(try await TestSupport.eventually { follower.alarms(tenant: .default).first?.alarm.state == .activeUnacknowledged })
        let view = try await follower.act(.acknowledge(comment: "on it"), tenant: .default, rule: "hot", machine: Self.machine, by: "ann")
        #expect(view?.alarm.acknowledged == true && leader.alarms(tenant: .default).first?.alarm.acknowledged == true)
        await #expect(throws: AlarmActionError.self) {
            try await follower.act(.acknowledge(comment: nil), tenant: .default, rule: "hot", machine: Self.machine, by: "bob")
        }
        // The longest comment the API takes, in four-byte characters, is more than NOTIFY carries: refused with a reason.
        let tooLong = await #expect(throws: Problem.self) {
            try await follower.act(.comment(String(repeating: "🔧", count: 2000)), tenant: .default, rule: "hot", machine: Self.machine, by: "ann")
        }
        #expect(tooLong?.status == .badRequest)
        _ = clusters
    }

    /// With no node evaluating (the lead is moving), an action fails with 503 once the answer is
    /// overdue, and changes nothing.
    @Test func anActionNobodyAnswersFailsWithServiceUnavailable() async throws {
        let clusters = clusters(answerTimeout: .milliseconds(200))
        try await follower.load(machines: [], now: Self.start)
        follower.follow()
        try await leader.load(machines: [], now: Self.start)
        _ = try await leader.save(try rule("t > 85"), tenant: .default, by: "test")
        leader.accepted([Self.sample(90, at: 0)])
        try await leader.flush()
        leader.follow()
        #expect(try await TestSupport.eventually { follower.alarms(tenant: .default).count == 1 })
        let error = await #expect(throws: Problem.self) {
            try await follower.act(.acknowledge(comment: nil), tenant: .default, rule: "hot", machine: Self.machine, by: "ann")
        }
        #expect(error?.status == .serviceUnavailable)
        try await follower.reloadAlarms()
        #expect(follower.alarms(tenant: .default).first?.alarm.acknowledged == false)
        _ = clusters
    }
}
