import Foundation
import GRDB
import Logging
@testable import MQTTBroker
import MQTTCodec
import NIOCore
import Testing

/// What a broker saves in `mqtt.sqlite`, read back by a new broker: the core's changes through the
/// real SQLite store, as a restart (graceful or `kill -9` after the last save) would see them.
@Suite struct PersistenceTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-mqtt-\(UUID().uuidString)").path
    let logger = Logger(label: "test")

    func tracked() -> BrokerHarness {
        var h = BrokerHarness()
        h.state = BrokerState(limits: BrokerLimits(), authorizer: AllowAll(), hasReceiver: false, tracksChanges: true)
        return h
    }

    /// Saves what changed (broker time = wall-clock time), then loads it into a fresh core as a broker
    /// restarted 5 s later would: its own clock starts again near 0.
    func restart(_ h: inout BrokerHarness, store: SQLiteBrokerStore) throws -> BrokerHarness {
        try store.save(h.state.takeChanges(), clockOffset: 0)
        let reopened = try SQLiteBrokerStore(directory: directory, logger: logger)
        var next = tracked()
        next.now = 2_000
        let wallNow = h.now + 5_000
        next.state.restore(try reopened.load(clockOffset: wallNow - next.now), now: next.now)
        return next
    }

    @Test func sessionsQueuedAndInflightMessagesAndRetainedOutliveARestart() throws {
        let store = try SQLiteBrokerStore(directory: directory, logger: logger)
        var h = tracked()
        let owner = Principal(name: "historian", attributes: ["kind": "api_key", "tenant": "default"])
        h.connect(1, BrokerHarness.connect("hist", clean: false, expiry: 3600, receiveMaximum: 1), principal: owner)
        h.subscribe(1, "plant/#", qos: .atLeastOnce, identifier: 7)
        h.connect(2, BrokerHarness.connect("pub"))
        h.publish(2, "plant/a", "in-flight", qos: .atLeastOnce)
        h.publish(2, "plant/b", "queued", qos: .atLeastOnce, packetID: 2)
        h.publish(2, "plant/status", "up", qos: .atLeastOnce, retain: true, packetID: 3)
        h.publish(2, "plant/zero", "qos0")
        #expect(h.state.inflightMessageCount == 1 && h.state.queuedMessageCount == 2)

        var after = try restart(&h, store: store)
        #expect(after.state.sessionCount == 1 && after.state.retainedCount == 1)
        // The historian resumes: the in-flight message again (DUP, same packet id), then the queue.
        let resumed = after.connect(3, BrokerHarness.connect("hist", clean: false, expiry: 3600, receiveMaximum: 10), principal: owner)
        let sent = resumed.publishes(to: 3)
        #expect(sent.map(\.text) == ["in-flight", "queued", "up"])
        #expect(sent.first?.dup == true && sent.first?.packetID == 1)
        #expect(sent.allSatisfy { $0.properties.subscriptionIdentifiers == [7] })
        // Its subscription is back too.
        after.connect(4, BrokerHarness.connect("pub"))
        #expect(after.publish(4, "plant/c", "new", qos: .atLeastOnce).publishes(to: 3).map(\.text) == ["new"])
        // A new subscriber gets the retained message.
        after.connect(5, BrokerHarness.connect("late"))
        #expect(after.subscribe(5, "plant/status").publishes(to: 5).map(\.text) == ["up"])
    }

    @Test func acknowledgedAndEndedThingsAreGoneAfterARestart() throws {
        let store = try SQLiteBrokerStore(directory: directory, logger: logger)
        var h = tracked()
        h.connect(1, BrokerHarness.connect("sub", clean: false, expiry: 3600))
        h.subscribe(1, "t", qos: .atLeastOnce)
        h.connect(2, BrokerHarness.connect("pub"))
        h.publish(2, "t", "x", qos: .atLeastOnce)
        h.publish(2, "r", "kept", retain: true)
        try store.save(h.state.takeChanges(), clockOffset: 0)
        h.send(1, .puback(PublishAck(packetID: 1)))
        h.publish(2, "r", "", retain: true)
        h.connect(3, BrokerHarness.connect("gone", clean: false, expiry: 3600))
        h.subscribe(3, "t")
        try store.save(h.state.takeChanges(), clockOffset: 0)
        h.connect(4, BrokerHarness.connect("gone", clean: true))
        let after = try restart(&h, store: store)
        #expect(after.state.retainedCount == 0)
        #expect(after.state.inflightMessageCount == 0 && after.state.queuedMessageCount == 0)
        #expect(after.state.sessionCount == 1)
    }

    @Test func aConnectedClientsWillIsPublishedAfterTheRestartAndAPendingOneKeepsItsTime() throws {
        let store = try SQLiteBrokerStore(directory: directory, logger: logger)
        var h = tracked()
        h.connect(1, BrokerHarness.connect("watcher", clean: false, expiry: 3600))
        h.subscribe(1, "wills/#", qos: .atLeastOnce)
        h.connect(2, BrokerHarness.connect("edge", clean: false, expiry: 3600,
                                           will: Will(topic: "wills/edge", payload: ByteBuffer(string: "dead"), qos: .atLeastOnce)))
        var delayed = Properties()
        delayed.willDelayInterval = 60
        h.connect(3, BrokerHarness.connect("slow", clean: false, expiry: 3600,
                                           will: Will(topic: "wills/slow", payload: ByteBuffer(string: "late"), qos: .atLeastOnce,
                                                      properties: delayed)))
        h.close(3)
        var after = try restart(&h, store: store)
        // The edge node was connected when the broker went away: its will is due at once.
        after.advance(seconds: 1)
        #expect(after.state.queuedMessageCount == 1)
        after.advance(seconds: 50)
        #expect(after.state.queuedMessageCount == 1)
        after.advance(seconds: 10)
        #expect(after.state.queuedMessageCount == 2)
        let resumed = after.connect(4, BrokerHarness.connect("watcher", clean: false, expiry: 3600))
        #expect(resumed.publishes(to: 4).map(\.text) == ["dead", "late"])
    }

    @Test func expiryTimesFollowTheWallClockAcrossRestarts() throws {
        let store = try SQLiteBrokerStore(directory: directory, logger: logger)
        var h = tracked()
        h.connect(1, BrokerHarness.connect("brief", clean: false, expiry: 10))
        h.subscribe(1, "t", qos: .atLeastOnce)
        h.close(1)
        var expiring = Properties()
        expiring.messageExpiryInterval = 8
        h.connect(2, BrokerHarness.connect("pub"))
        h.publish(2, "r", "short-lived", retain: true, properties: expiring)
        // The new broker's clock reads 5 s later: 5 s of the session's 10 and the message's 8 are gone.
        var after = try restart(&h, store: store)
        #expect(after.state.sessionCount == 1 && after.state.retainedCount == 1)
        after.advance(seconds: 4)
        after.connect(3, BrokerHarness.connect("late"))
        #expect(after.subscribe(3, "r").publishes(to: 3).isEmpty)
        after.advance(seconds: 2)
        #expect(after.state.sessionCount == 1)  // only "late", whose session ends when it leaves
    }

    @Test func aFailedSaveIsRetriedWithTheNext() {
        var h = tracked()
        h.connect(1, BrokerHarness.connect("sub", clean: false, expiry: 3600))
        let first = h.state.takeChanges()
        #expect(first.sessions.map(\.clientID) == ["sub"])
        #expect(h.state.takeChanges().isEmpty)
        h.state.saveFailed(first)
        #expect(h.state.takeChanges().sessions.map(\.clientID) == ["sub"])
    }

    @Test func cleanSessionsAndQoS0AreNeverSaved() {
        var h = tracked()
        h.connect(1, BrokerHarness.connect("clean"))
        h.subscribe(1, "t", qos: .atLeastOnce)
        h.connect(2, BrokerHarness.connect("pub"))
        h.publish(2, "t", "x", qos: .atLeastOnce)
        h.publish(2, "t", "y")
        let delta = h.state.takeChanges()
        #expect(delta.sessions.allSatisfy { $0.record == nil } && delta.messages.isEmpty && delta.retained.isEmpty)
    }

    /// What `--mqtt-durable-acks` waits for: a message for a persistent session or a retained change
    /// counts; a message for a clean session does not.
    @Test func durableChangesCountWhatARestartMustFind() {
        var h = tracked()
        h.connect(1, BrokerHarness.connect("clean"))
        h.subscribe(1, "clean/#", qos: .atLeastOnce)
        h.connect(2, BrokerHarness.connect("kept", clean: false, expiry: 3600))
        h.subscribe(2, "kept/#", qos: .atLeastOnce)
        h.connect(3, BrokerHarness.connect("pub"))
        let start = h.state.durableChanges
        h.publish(3, "clean/a", "x", qos: .atLeastOnce)
        #expect(h.state.durableChanges == start)
        h.publish(3, "kept/a", "x", qos: .atLeastOnce)
        #expect(h.state.durableChanges == start + 1)
        h.publish(3, "other/status", "up", retain: true)
        #expect(h.state.durableChanges == start + 2)
    }

    @Test func aCorruptFileIsMovedAsideAndTheBrokerStartsEmpty() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("mqtt.sqlite")
        try Data(repeating: 0x42, count: 8192).write(to: URL(fileURLWithPath: path))
        let store = try SQLiteBrokerStore(directory: directory, logger: logger)
        #expect(try store.load(clockOffset: 0).sessions.isEmpty)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(names.contains { $0.hasPrefix("mqtt.sqlite.corrupt-") })
        var h = tracked()
        h.connect(1, BrokerHarness.connect("sub", clean: false, expiry: 3600))
        try store.save(h.state.takeChanges(), clockOffset: 0)
        #expect(try SQLiteBrokerStore(directory: directory, logger: logger).load(clockOffset: 0).sessions.count == 1)
    }

    @Test func aRowThatDoesNotDecodeMovesTheFileAside() throws {
        let store = try SQLiteBrokerStore(directory: directory, logger: logger)
        var h = tracked()
        h.connect(1, BrokerHarness.connect("sub", clean: false, expiry: 3600))
        try store.save(h.state.takeChanges(), clockOffset: 0)
        try DatabaseQueue(path: store.path).write { try $0.execute(sql: "UPDATE session SET record = x'0102'") }
        let reopened = try SQLiteBrokerStore(directory: directory, logger: logger)
        #expect(try reopened.load(clockOffset: 0).sessions.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).contains { $0.hasPrefix("mqtt.sqlite.corrupt-") })
    }
}
