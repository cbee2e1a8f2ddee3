import Foundation
import GembaTestSupport
import MQTTClient
import MQTTCodec
import NIOCore
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
        let subscriber = client(broker, "resilient") { configuration in
            configuration.connectProperties.sessionExpiryInterval = 300
            configuration.reconnect = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(500))
        }
        try await subscriber.connect()
        try await subscriber.subscribe("gemba/after/#", qos: .atLeastOnce)
        broker.stop()
        #expect(try await TestSupport.eventually(5) { await !subscriber.isConnected })
        // Published while the broker is down: held by the client and sent after it reconnects.
        let pending = Task { try await subscriber.publish("gemba/after/self", "queued-while-down", qos: .atLeastOnce) }
        try await broker.start()
        #expect(try await TestSupport.eventually(10) { await subscriber.isConnected })
        #expect(await subscriber.reconnects >= 1)
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
        #expect(session.receive(.publish(publish)) == [.deliver(publish), .send(.pubrec(PublishAck(packetID: 3)))])
        #expect(session.receive(.publish(publish)) == [.send(.pubrec(PublishAck(packetID: 3)))])
        #expect(session.receive(.pubrel(PublishAck(packetID: 3))) == [.send(.pubcomp(PublishAck(packetID: 3)))])
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
