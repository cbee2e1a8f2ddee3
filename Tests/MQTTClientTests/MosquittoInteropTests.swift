import Foundation
import GembaTestSupport
import MQTTClient
import MQTTCodec
import NIOCore
import Synchronization
import Testing

/// Our client against Debian's mosquitto 2.0, a broker nobody here wrote.
@Suite(.serialized, .enabled(if: MosquittoProcess.available || TestSupport.peersRequired, "mosquitto is not installed"))
struct MosquittoInteropTests {
    func client(_ broker: MosquittoProcess, _ id: String, _ version: ProtocolVersion = .v5,
                configure: (inout MQTTClientConfiguration) -> Void = { _ in }) -> MQTTClient {
        var configuration = MQTTClientConfiguration(port: broker.port, version: version, clientID: id)
        configure(&configuration)
        return MQTTClient(configuration: configuration)
    }

    @Test(arguments: [ProtocolVersion.v311, .v5])
    func everyQoSRoundTrips(version: ProtocolVersion) async throws {
        let broker = try MosquittoProcess()
        try await broker.start()
        defer { broker.stop() }
        let subscriber = client(broker, "sub-\(version)", version)
        let publisher = client(broker, "pub-\(version)", version)
        try await subscriber.connect()
        try await publisher.connect()
        let suback = try await subscriber.subscribe([Subscription(filter: "gemba/test/#", options: SubscriptionOptions(qos: .exactlyOnce))])
        #expect(suback.reasonCodes == [.grantedQoS2])
        for qos in [QoS.atMostOnce, .atLeastOnce, .exactlyOnce] {
            let ack = try await publisher.publish("gemba/test/\(qos.rawValue)", "payload-\(qos.rawValue)", qos: qos)
            switch qos {
            case .atMostOnce: #expect(ack == nil)
            case .atLeastOnce: #expect({ if case .puback = ack { true } else { false } }())
            case .exactlyOnce: #expect({ if case .pubcomp = ack { true } else { false } }())
            }
            let message = await TestSupport.nextMessage(subscriber)
            #expect(message?.topic == "gemba/test/\(qos.rawValue)")
            #expect(message.map { String(buffer: $0.payload) } == "payload-\(qos.rawValue)")
            #expect(message?.qos == qos)
        }
        let unsuback = try await subscriber.unsubscribe(["gemba/test/#"])
        #expect(unsuback.packetID > 0)
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    @Test func retainedMessageReachesLateSubscriber() async throws {
        let broker = try MosquittoProcess()
        try await broker.start()
        defer { broker.stop() }
        let publisher = client(broker, "retainer")
        try await publisher.connect()
        try await publisher.publish("gemba/retained", "last-known", qos: .atLeastOnce, retain: true)
        let late = client(broker, "late")
        try await late.connect()
        try await late.subscribe("gemba/retained", qos: .atLeastOnce)
        let message = await TestSupport.nextMessage(late)
        #expect(message.map { String(buffer: $0.payload) } == "last-known")
        #expect(message?.retain == true)
        await publisher.disconnect()
        await late.disconnect()
    }

    @Test func willIsPublishedWhenTheConnectionDrops() async throws {
        let broker = try MosquittoProcess()
        try await broker.start()
        defer { broker.stop() }
        let watcher = client(broker, "watcher")
        try await watcher.connect()
        try await watcher.subscribe("gemba/status/#", qos: .atLeastOnce)
        let device = client(broker, "device", .v311) { configuration in
            configuration.will = Will(topic: "gemba/status/device", payload: ByteBuffer(string: "offline"), qos: .atLeastOnce)
            configuration.reconnect = nil
        }
        try await device.connect()
        await device.dropConnection()
        let message = await TestSupport.nextMessage(watcher)
        #expect(message.map { String(buffer: $0.payload) } == "offline")
        await watcher.disconnect()
    }

    @Test func reconnectsAndResubscribesAfterBrokerRestart() async throws {
        let broker = try MosquittoProcess()
        try await broker.start()
        defer { broker.stop() }
        var configuration = MQTTClientConfiguration(port: broker.port, version: .v5, clientID: "resilient")
        configuration.connectProperties.sessionExpiryInterval = 300
        configuration.reconnect = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(500))
        let connections = Atomic<Int>(0)
        let subscriber = MQTTClient(configuration: configuration, onConnected: { connections.add(1, ordering: .relaxed) })
        try await subscriber.connect()
        #expect(connections.load(ordering: .relaxed) == 1)
        try await subscriber.subscribe("gemba/after/#", qos: .atLeastOnce)
        broker.stop()
        #expect(try await TestSupport.eventually { await !subscriber.isConnected })
        // Published while the broker is down: held by the client and sent after it reconnects.
        let pending = Task { try await subscriber.publish("gemba/after/self", "queued-while-down", qos: .atLeastOnce) }
        try await broker.start()
        #expect(try await TestSupport.eventually { await subscriber.isConnected })
        #expect(await subscriber.reconnects >= 1)
        // Each connection made is told, the reconnect too (a user need not poll `reconnects`).
        #expect(connections.load(ordering: .relaxed) == 1 + (await subscriber.reconnects))
        _ = try await pending.value
        let queued = await TestSupport.nextMessage(subscriber)
        #expect(queued.map { String(buffer: $0.payload) } == "queued-while-down")
        let publisher = client(broker, "after-pub")
        try await publisher.connect()
        try await publisher.publish("gemba/after/x", "fresh", qos: .atLeastOnce)
        let fresh = await TestSupport.nextMessage(subscriber)
        #expect(fresh.map { String(buffer: $0.payload) } == "fresh")
        await publisher.disconnect()
        await subscriber.disconnect()
    }

    /// Reading stops while the application holds it (its own queue is full) and while the
    /// messages it has not acknowledged reach the client's limit; both resume. Another subscriber
    /// of the same messages tells when mosquitto has sent them all.
    @Test func readingStopsWhileHeldOrTooFarBehindAndResumes() async throws {
        let broker = try MosquittoProcess()
        try await broker.start()
        defer { broker.stop() }
        let held = Mutex<[InboundMessage]>([])
        var configuration = MQTTClientConfiguration(port: broker.port, version: .v5, clientID: "held")
        configuration.manualAcknowledgement = true
        configuration.messageBufferLimit = 10
        let subscriber = MQTTClient(configuration: configuration) { message in held.withLock { $0.append(message) } }
        let watcher = client(broker, "watcher"), publisher = client(broker, "publisher")
        for peer in [subscriber, watcher, publisher] { try await peer.connect() }
        try await subscriber.subscribe("gemba/held/#", qos: .atLeastOnce)
        try await watcher.subscribe("gemba/held/#", qos: .atLeastOnce)
        func publish(_ count: Int, _ prefix: String) async throws {
            for n in 0..<count { try await publisher.publish("gemba/held/\(prefix)", "\(n)", qos: .atLeastOnce) }
            for _ in 0..<count { #expect(await TestSupport.nextMessage(watcher) != nil) }
        }
        // Held: nothing is read, however much the broker sent.
        subscriber.holdReading()
        try await subscriber.publish("gemba/other", "after the hold", qos: .atMostOnce)  // runs on the client's loop after the hold
        try await publish(5, "a")
        #expect(held.withLock { $0.count } == 0)
        subscriber.resumeReading()
        #expect(try await TestSupport.eventually { held.withLock { $0.count } == 5 })
        // Unacknowledged: reading stops at the limit (what one read already held is delivered too).
        try await publish(30, "b")
        let behind = held.withLock { $0.count }
        #expect(behind >= 10 && behind < 35)
        // Acknowledged as they come (each read may stop at the limit again; a second acknowledgement does nothing).
        #expect(try await TestSupport.eventually {
            for message in held.withLock({ $0 }) { message.acknowledge() }
            return held.withLock { $0.count } == 35
        })
        for peer in [subscriber, watcher, publisher] { await peer.disconnect() }
    }

    @Test func refusedConnectionReportsTheReason() async throws {
        let broker = try MosquittoProcess()
        try await broker.start()
        defer { broker.stop() }
        // mosquitto rejects v3.1.1 empty client ids with a persistent session: return code 2.
        let bad = client(broker, "", .v311) { $0.cleanStart = false; $0.reconnect = nil }
        do {
            try await bad.connect()
            Issue.record("mosquitto accepted an empty client id with a persistent session")
        } catch let error as MQTTClientError {
            #expect(error.code == .connectionRefused)
            #expect(error.reasonCode == .clientIdentifierNotValid)
        }
    }
}

@Suite struct ClientSessionTests {
    @Test func qos2OutboundHandshake() {
        var session = ClientSession()
        let publish = session.publish(Publish(topic: "t", payload: ByteBuffer(string: "x"), qos: .exactlyOnce))
        let id = publish.packetID!
        #expect(session.receive(.pubrec(PublishAck(packetID: id))) == [.send(.pubrel(PublishAck(packetID: id)))])
        #expect(session.receive(.pubcomp(PublishAck(packetID: id))) == [.complete(id, .pubcomp(PublishAck(packetID: id)))])
        #expect(session.inflightCount == 0)
    }

    @Test func inboundQoS2IsDeliveredOnce() {
        var session = ClientSession()
        let publish = Publish(topic: "t", payload: ByteBuffer(string: "x"), qos: .exactlyOnce, packetID: 3)
        #expect(session.receive(.publish(publish)) == [.deliver(publish, token: nil), .send(.pubrec(PublishAck(packetID: 3)))])
        #expect(session.receive(.publish(publish)) == [.send(.pubrec(PublishAck(packetID: 3)))])
        #expect(session.receive(.pubrel(PublishAck(packetID: 3))) == [.send(.pubcomp(PublishAck(packetID: 3)))])
    }

    static func inbound(_ id: UInt16, _ qos: QoS = .atLeastOnce) -> Publish {
        Publish(topic: "gemba/v1/p/l/m", payload: ByteBuffer(string: "\(id)"), qos: qos, packetID: id)
    }

    /// Manual acknowledgement: nothing is acknowledged on arrival; acknowledgements leave in the
    /// order the messages came, an unfinished one holding back the later ones.
    @Test func manualAcknowledgementsLeaveInArrivalOrder() {
        var session = ClientSession(manualAcknowledgement: true)
        #expect(session.receive(.publish(Self.inbound(1))) == [.deliver(Self.inbound(1), token: 1)])
        #expect(session.receive(.publish(Self.inbound(2))) == [.deliver(Self.inbound(2), token: 2)])
        #expect(session.receive(.publish(Self.inbound(3, .exactlyOnce))) == [.deliver(Self.inbound(3, .exactlyOnce), token: 3)])
        let qos0 = Publish(topic: "t", payload: ByteBuffer(string: "0"), qos: .atMostOnce)
        #expect(session.receive(.publish(qos0)) == [.deliver(qos0, token: nil)])
        #expect(session.acknowledge(2) == [])
        #expect(session.acknowledge(1) == [.puback(PublishAck(packetID: 1)), .puback(PublishAck(packetID: 2))])
        #expect(session.acknowledge(3) == [.pubrec(PublishAck(packetID: 3))])
        #expect(session.acknowledge(3) == [])
        #expect(session.unacknowledgedCount == 0)
        #expect(session.receive(.pubrel(PublishAck(packetID: 3))) == [.send(.pubcomp(PublishAck(packetID: 3)))])
    }

    /// A backlog as long as the client's buffer, acknowledged in shuffled order (commits of several
    /// writers finish in any order): the acknowledgements still leave in arrival order, each once.
    @Test func aLongBacklogAcknowledgedInAnyOrderLeavesInArrivalOrder() {
        var session = ClientSession(manualAcknowledgement: true)
        let ids = (0..<10_000).map { UInt16($0 % 65_535 + 1) }
        for id in ids { _ = session.receive(.publish(Self.inbound(id))) }
        var generator = SystemRandomNumberGenerator()
        var sent: [Packet] = []
        for token in (1...UInt64(ids.count)).shuffled(using: &generator) { sent += session.acknowledge(token) }
        #expect(sent == ids.map { .puback(PublishAck(packetID: $0)) })
        #expect(session.unacknowledgedCount == 0)
    }

    /// After a reconnect the server sends an unacknowledged message again: only the newer copy's
    /// acknowledgement is sent, so an old one can never acknowledge a later message that reuses its id.
    @Test func aResentCopySupersedesTheOldOne() {
        var session = ClientSession(manualAcknowledgement: true)
        _ = session.receive(.publish(Self.inbound(7)))
        _ = session.resume(sessionPresent: true)
        var again = Self.inbound(7)
        again.dup = true
        #expect(session.receive(.publish(again)) == [.deliver(again, token: 2)])
        #expect(session.acknowledge(1) == [])
        #expect(session.acknowledge(2) == [.puback(PublishAck(packetID: 7))])
    }

    /// A QoS 2 message resent while the first copy waits is not delivered twice; once the first
    /// copy was received (PUBREC sent), a resend is answered with PUBREC at once.
    @Test func manualQoS2DuplicatesWaitForTheFirstCopy() {
        var session = ClientSession(manualAcknowledgement: true)
        _ = session.receive(.publish(Self.inbound(4, .exactlyOnce)))
        #expect(session.receive(.publish(Self.inbound(4, .exactlyOnce))) == [])
        #expect(session.acknowledge(1) == [.pubrec(PublishAck(packetID: 4))])
        #expect(session.receive(.publish(Self.inbound(4, .exactlyOnce))) == [.send(.pubrec(PublishAck(packetID: 4)))])
    }

    /// When the server kept no session, the messages it sent before are forgotten on both sides:
    /// their acknowledgements would name ids the server may have given to new messages.
    @Test func messagesOfAForgottenSessionAreNeverAcknowledged() {
        var session = ClientSession(manualAcknowledgement: true)
        _ = session.receive(.publish(Self.inbound(1)))
        _ = session.resume(sessionPresent: false)
        _ = session.receive(.publish(Self.inbound(1)))
        #expect(session.acknowledge(2) == [])
        #expect(session.acknowledge(1) == [.puback(PublishAck(packetID: 1))])
    }

    @Test func resumeResendsWithDupAndResubscribesWhenSessionLost() {
        var session = ClientSession()
        let subscribe = session.subscribe([Subscription(filter: "a/#", options: SubscriptionOptions(qos: .atLeastOnce))])
        _ = session.receive(.suback(SubAck(packetID: subscribe.packetID, reasonCodes: [.grantedQoS1])))
        let q1 = session.publish(Publish(topic: "t", payload: ByteBuffer(string: "1"), qos: .atLeastOnce))
        let q2 = session.publish(Publish(topic: "t", payload: ByteBuffer(string: "2"), qos: .exactlyOnce))
        _ = session.receive(.pubrec(PublishAck(packetID: q2.packetID!)))
        let packets = session.resume(sessionPresent: false)
        var dup = q1
        dup.dup = true
        guard case .subscribe(let again)? = packets.first else { Issue.record("no resubscribe"); return }
        #expect(again.subscriptions.map(\.filter) == ["a/#"])
        #expect(Array(packets.dropFirst()) == [.publish(dup), .pubrel(PublishAck(packetID: q2.packetID!))])
        #expect(session.resume(sessionPresent: true).count == 3)
    }

    @Test func backoffGrowsAndIsCapped() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(2))
        #expect(policy.delay(attempt: 0) <= .milliseconds(100))
        #expect(policy.delay(attempt: 0) >= .milliseconds(50))
        #expect(policy.delay(attempt: 3) >= .milliseconds(400))
        #expect(policy.delay(attempt: 40) <= .seconds(2))
    }
}
