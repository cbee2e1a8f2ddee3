import Foundation
import GembaTestSupport
import Logging
import MQTTBroker
import MQTTClient
import MQTTCodec
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A receiver whose acknowledgements the test releases by hand.
final class ManualReceiver: PublishReceiver {
    let held = Mutex<[(ReceivedMessage, @Sendable (Result<Void, any Error>) -> Void)]>([])

    func receive(_ message: ReceivedMessage, done: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        held.withLock { $0.append((message, done)) }
    }

    var count: Int { held.withLock { $0.count } }

    func releaseAll(_ result: Result<Void, any Error> = .success(())) {
        let waiting = held.withLock { held in
            defer { held.removeAll() }
            return held
        }
        for (_, done) in waiting { done(result) }
    }
}

struct StorageDown: Error {}

@Suite(.serialized) struct LiveBrokerTests {
    static func start(receiver: (any PublishReceiver)? = nil, authorizer: any Authorizer = AllowAll(),
                      connectTimeout: Int64 = 10) async throws -> MQTTBroker {
        var configuration = BrokerConfiguration()
        configuration.port = 0
        configuration.connectTimeout = connectTimeout
        configuration.receiver = receiver
        configuration.authorizer = authorizer
        let broker = MQTTBroker(configuration: configuration, logger: Logger(label: "test.broker"))
        try await broker.start()
        return broker
    }

    static func client(_ broker: MQTTBroker, _ id: String, _ version: ProtocolVersion = .v5) -> MQTTClient {
        var configuration = MQTTClientConfiguration(port: broker.port!, version: version, clientID: id)
        configuration.reconnect = nil
        return MQTTClient(configuration: configuration)
    }

    @Test func pubackWaitsForTheReceiver() async throws {
        let receiver = ManualReceiver()
        let broker = try await Self.start(receiver: receiver)
        let publisher = Self.client(broker, "pub")
        try await publisher.connect()
        let publish = Task { try await publisher.publish("gemba/v1/a", "x", qos: .atLeastOnce) }
        #expect(try await TestSupport.eventually { receiver.count == 1 })
        // Barrier: the broker answers in order, so once this SUBACK is in, a PUBACK sent with it would be too.
        try await publisher.subscribe("barrier")
        #expect(await publisher.inflightPublishCount == 1, "PUBACK sent before the receiver said the message was safe")
        receiver.releaseAll()
        _ = try await publish.value
        #expect(await publisher.inflightPublishCount == 0)
        await publisher.disconnect()
        await broker.stop()
    }

    @Test func receiverFailureDisconnectsThePublisherWithoutAcknowledging() async throws {
        let receiver = ManualReceiver()
        let broker = try await Self.start(receiver: receiver)
        let publisher = Self.client(broker, "pub")
        try await publisher.connect()
        let publish = Task { try await publisher.publish("gemba/v1/a", "x", qos: .atLeastOnce) }
        #expect(try await TestSupport.eventually { receiver.count == 1 })
        receiver.releaseAll(.failure(StorageDown()))
        await #expect(throws: MQTTClientError.self) { try await publish.value }
        await broker.stop()
    }

    @Test func refusedPublishSurfacesAsRejectedAndAllowedOneSucceeds() async throws {
        let acl = try TopicACL(parsing: "allow publish all allowed/#")
        let broker = try await Self.start(authorizer: acl)
        let client = Self.client(broker, "c")
        try await client.connect()
        do {
            try await client.publish("forbidden/x", "x", qos: .atLeastOnce)
            Issue.record("a forbidden publish was accepted")
        } catch let error as MQTTClientError {
            #expect(error.code == .rejected)
            #expect(error.reasonCode == .notAuthorized)
        }
        try await client.publish("allowed/x", "x", qos: .exactlyOnce)
        let suback = try await client.subscribe("allowed/#")
        #expect(suback.reasonCodes == [.notAuthorized])
        await client.disconnect()
        await broker.stop()
    }

    @Test(arguments: [ProtocolVersion.v311, .v5])
    func qos2EndToEnd(version: ProtocolVersion) async throws {
        let broker = try await Self.start()
        let subscriber = Self.client(broker, "sub", version)
        let publisher = Self.client(broker, "pub", version)
        try await subscriber.connect()
        try await publisher.connect()
        try await subscriber.subscribe("plant/#", qos: .exactlyOnce)
        try await publisher.publish("plant/line3/press-7", "71.2", qos: .exactlyOnce)
        let message = await TestSupport.nextMessage(subscriber)
        #expect(message?.qos == .exactlyOnce)
        #expect(message.map { String(buffer: $0.payload) } == "71.2")
        await publisher.disconnect()
        await subscriber.disconnect()
        await broker.stop()
    }

    @Test func malformedClientIsDisconnectedAndNeighboursDoNotNotice() async throws {
        let broker = try await Self.start()
        let subscriber = Self.client(broker, "sub")
        try await subscriber.connect()
        try await subscriber.subscribe("t", qos: .atLeastOnce)

        // A raw socket: a valid v5 CONNECT, then a PUBLISH whose topic contains a wildcard.
        let raw = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: broker.port!).get()
        var bytes = try Packet.connect(Connect(protocolVersion: .v5, clientID: "bad")).encoded(version: .v5)
        bytes.writeBytes([0x30, 0x06, 0x00, 0x03, 0x61, 0x2F, 0x23, 0x00])
        try await raw.writeAndFlush(bytes)
        try await raw.closeFuture.get()  // The broker closes it.

        try await Self.client(broker, "pub").connect()
        let publisher = Self.client(broker, "pub2")
        try await publisher.connect()
        try await publisher.publish("t", "still-here", qos: .atLeastOnce)
        #expect(await TestSupport.nextMessage(subscriber).map { String(buffer: $0.payload) } == "still-here")
        #expect(try await broker.statistics().protocolErrors == 1)
        await broker.stop()
    }

    /// A connection that sends no CONNECT is closed after the timeout; one that connected in time
    /// stays open past it.
    @Test func aConnectionWithoutConnectIsClosedInTime() async throws {
        let broker = try await Self.start(connectTimeout: 1)
        let started = ContinuousClock.now
        let silent = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: broker.port!).get()
        let connected = Self.client(broker, "in-time")
        try await connected.connect()
        #expect(try await TestSupport.eventually { !silent.isActive }, "a connection without CONNECT stayed open")
        let waited = ContinuousClock.now - started
        #expect(waited >= .seconds(1), "closed before the timeout: \(waited)")
        #expect(await connected.isConnected)
        try await connected.publish("still/open", "x", qos: .atLeastOnce)
        await connected.disconnect()
        await broker.stop()
    }

    /// The broker's handler cuts packets from the bytes itself: a packet whose start came with the
    /// previous one (read together) and whose rest comes later is put together, and so is one sent
    /// a byte per write.
    @Test func packetsSplitAcrossReadsArePutTogether() async throws {
        let broker = try await Self.start()
        let collector = Collector()
        let raw = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PacketDecoder(version: .v5)))
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: broker.port!).get()
        func received() async throws -> [Packet] { try await raw.eventLoop.submit { collector.packets }.get() }
        func waitFor(_ count: Int) async throws -> [Packet] {
            _ = try await TestSupport.eventually { try await received().count >= count }
            return try await received()
        }
        // CONNECT and the first 3 bytes of a SUBSCRIBE in one write: the CONNACK proves both were read.
        var bytes = try Packet.connect(Connect(protocolVersion: .v5, clientID: "split")).encoded(version: .v5)
        let subscribe = try Packet.subscribe(Subscribe(packetID: 7, subscriptions: [Subscription(filter: "split/#", options: SubscriptionOptions(qos: .atLeastOnce))]))
            .encoded(version: .v5)
        bytes.writeImmutableBuffer(subscribe.getSlice(at: subscribe.readerIndex, length: 3)!)
        try await raw.writeAndFlush(bytes)
        #expect(try await waitFor(1).first.map { if case .connack = $0 { true } else { false } } == true)
        try await raw.writeAndFlush(subscribe.getSlice(at: subscribe.readerIndex + 3, length: subscribe.readableBytes - 3)!)
        #expect(try await waitFor(2).last == .suback(SubAck(packetID: 7, reasonCodes: [.grantedQoS1])))

        // A QoS 1 PUBLISH a byte per write: acknowledged once whole, and routed back to the subscription.
        let publish = try Packet.publish(Publish(topic: "split/a", payload: ByteBuffer(string: "whole"), qos: .atLeastOnce, packetID: 9))
            .encoded(version: .v5)
        for offset in 0..<publish.readableBytes {
            try await raw.writeAndFlush(publish.getSlice(at: publish.readerIndex + offset, length: 1)!)
        }
        let packets = try await waitFor(4)
        #expect(packets.contains(.puback(PublishAck(packetID: 9))))
        #expect(packets.contains { if case .publish(let p) = $0 { String(buffer: p.payload) == "whole" } else { false } })
        #expect(try await broker.statistics().protocolErrors == 0)
        try await raw.close()
        await broker.stop()
    }

    @Test func unsupportedProtocolLevelGetsReturnCode1() async throws {
        let broker = try await Self.start()
        let collector = Collector()
        let raw = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PacketDecoder(version: .v311)))
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: broker.port!).get()
        // MQTT 3.1 ("MQIsdp", level 3).
        var bytes = ByteBuffer(bytes: [0x10, 0x0F, 0x00, 0x06])
        bytes.writeString("MQIsdp")
        bytes.writeBytes([0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61])
        try await raw.writeAndFlush(bytes)
        try await raw.closeFuture.get()
        let received = try await raw.eventLoop.submit { collector.packets }.get()
        #expect(received == [.connack(ConnAck(reasonCode: .unsupportedProtocolVersion))])
        await broker.stop()
    }
}

final class Collector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Packet
    var packets: [Packet] = []
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { packets.append(Self.unwrapInboundIn(data)) }
}
