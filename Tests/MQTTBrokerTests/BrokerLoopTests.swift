import Foundation
import GembaTestSupport
import Glibc
import Logging
@testable import MQTTBroker
import MQTTClient
import MQTTCodec
import NIOCore
import NIOSSL
import Synchronization
import Testing

/// The broker's own loop as an `EventLoop`: what the runtime and SwiftNIO's futures rely on.
@Suite struct BrokerLoopTests {
    @Test func tasksFromOtherThreadsRunOnTheLoopInOrder() async throws {
        let loop = BrokerLoop()
        defer { loop.stop() }
        let order = Mutex<[Int]>([])
        for index in 0..<100 { loop.execute { precondition(loop.inEventLoop); order.withLock { $0.append(index) } } }
        #expect(try await loop.submit { loop.inEventLoop }.get())
        #expect(order.withLock { $0 } == Array(0..<100))
        #expect(!loop.inEventLoop)
    }

    @Test func scheduledTasksRunByDeadlineAndCancelledOnesNever() async throws {
        let loop = BrokerLoop()
        defer { loop.stop() }
        let ran = Mutex<[String]>([])
        let late = loop.scheduleTask(in: .milliseconds(60)) { ran.withLock { $0.append("late") } }
        let cancelled = loop.scheduleTask(in: .milliseconds(30)) { ran.withLock { $0.append("cancelled") } }
        let early = loop.scheduleTask(in: .milliseconds(20)) { ran.withLock { $0.append("early") } }
        cancelled.cancel()
        try await early.futureResult.get()
        try await late.futureResult.get()
        await #expect(throws: EventLoopError.self) { try await cancelled.futureResult.get() }
        #expect(ran.withLock { $0 } == ["early", "late"])
    }

    /// While the read coalescer holds off polling, hand-offs from other threads (a receiver's
    /// commit releasing acknowledgements) must not wait for the pause to end: here it would be ten
    /// minutes, past the test's limit.
    @Test(.timeLimit(.minutes(1))) func tasksRunWhilePollingIsPaused() async throws {
        let loop = BrokerLoop()
        defer { loop.stop() }
        try await loop.submit { loop.pausePolling(for: 600_000_000_000) }.get()
        #expect(try await loop.submit { true }.get())
        let timer = loop.scheduleTask(in: .milliseconds(10)) { true }
        #expect(try await timer.futureResult.get())
    }
}

/// The broker's sockets: partial writes, slow readers, resets, TLS and a taken port.
@Suite(.serialized) struct BrokerSocketTests {
    static func start(_ configure: (inout BrokerConfiguration) -> Void = { _ in }) async throws -> MQTTBroker {
        var configuration = BrokerConfiguration()
        configuration.port = 0
        configure(&configuration)
        let broker = MQTTBroker(configuration: configuration, logger: Logger(label: "test.broker"))
        try await broker.start()
        return broker
    }

    /// A subscriber that stops reading fills its socket; the broker keeps the rest in memory up to
    /// its high-water mark, then drops QoS 0 messages to it. Neither the publisher nor a neighbour
    /// waits for it, what it reads later is whole packets in order (writes the socket took in part
    /// were finished), and once its backlog is written it gets new messages again.
    @Test func aSubscriberThatStopsReadingCostsItsNeighboursNothing() async throws {
        let broker = try await Self.start()
        let slow = try RawSocket(port: broker.port!, receiveBuffer: 16 * 1024)
        try slow.send(Packet.connect(Connect(protocolVersion: .v5, clientID: "slow")))
        try slow.send(Packet.subscribe(Subscribe(packetID: 1, subscriptions: [Subscription(filter: "big/#", options: SubscriptionOptions(qos: .atMostOnce))])))
        let fast = Self.client(broker, "fast")
        let received = Mutex(0)
        try await fast.connect()
        try await fast.subscribe("big/#")
        let counting = Task { for await _ in fast.messages { received.withLock { $0 += 1 } } }
        #expect(try await TestSupport.eventually { try await broker.connectionCount() == 2 })
        let publisher = Self.client(broker, "pub")
        try await publisher.connect()
        // 12 MB: more than the slow subscriber's window, the kernel's send buffer and the high-water mark together.
        let payloads = (0..<120).map { Self.payload($0) }
        for (index, payload) in payloads.enumerated() {
            try await publisher.publish("big/\(index)", payload: payload, qos: .atLeastOnce)
        }
        #expect(try await TestSupport.eventually { received.withLock { $0 } == payloads.count }, "the fast subscriber waited for the slow one")

        // The slow subscriber reads now. Messages published while the broker still holds its backlog
        // are dropped for it; once the backlog is written, one arrives.
        var indices: [Int] = []
        var damaged: [Int] = []
        var nextArrived = false
        let drained = try await TestSupport.eventually {
            for packet in try slow.receiveAvailable() {
                guard case .publish(let publish) = packet else { continue }
                guard let index = Int(publish.topic.dropFirst(4)) else {
                    nextArrived = true
                    continue
                }
                if publish.payload != payloads[index] { damaged.append(index) }
                indices.append(index)
            }
            if !nextArrived { try await publisher.publish("big/next", "x", qos: .atLeastOnce) }
            return nextArrived
        }
        #expect(drained, "the drained subscriber got nothing new")
        #expect(damaged.isEmpty, "messages arrived damaged: \(damaged)")
        #expect(indices == indices.sorted() && Set(indices).count == indices.count, "out of order: \(indices)")
        #expect(indices.count > 1 && indices.count < payloads.count, "expected a prefix and drops, got \(indices.count) messages")
        counting.cancel()
        await fast.disconnect()
        await publisher.disconnect()
        slow.close()
        await broker.stop()
    }

    /// A peer that resets its connection is forgotten, and the next client is served.
    @Test func aPeerThatResetsIsForgotten() async throws {
        let broker = try await Self.start()
        let raw = try RawSocket(port: broker.port!, version: .v311)
        try raw.send(Packet.connect(Connect(protocolVersion: .v311, clientID: "reset")))
        #expect(try await TestSupport.eventually { try raw.receiveAvailable().contains { if case .connack = $0 { true } else { false } } })
        raw.reset()
        #expect(try await TestSupport.eventually { try await broker.connectionCount() == 0 })
        let next = Self.client(broker, "next")
        try await next.connect()
        try await next.publish("after/reset", "x", qos: .atLeastOnce)
        await next.disconnect()
        await broker.stop()
    }

    /// TLS is terminated by SwiftNIO and relayed to the broker's loop: a message larger than any
    /// socket buffer passes whole both ways, and a closed TLS connection ends its broker connection.
    @Test func tlsConnectionsAreRelayedToTheBroker() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-tls-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (certificate, key) = try Self.selfSignedCertificate(in: directory)
        let broker = try await Self.start {
            $0.tlsPort = 0
            $0.tls = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        }
        var clientTLS = TLSConfiguration.makeClientConfiguration()
        clientTLS.trustRoots = .certificates([certificate])
        func client(_ id: String) -> MQTTClient {
            var configuration = MQTTClientConfiguration(host: "localhost", port: broker.tlsPort!, version: .v5, clientID: id)
            configuration.tls = clientTLS
            configuration.reconnect = nil
            return MQTTClient(configuration: configuration)
        }
        let subscriber = client("tls-sub")
        try await subscriber.connect()
        try await subscriber.subscribe("tls/#", qos: .atLeastOnce)
        let publisher = client("tls-pub")
        try await publisher.connect()
        let large = Self.payload(7, size: 600_000)
        try await publisher.publish("tls/large", payload: large, qos: .atLeastOnce)
        var iterator = subscriber.messages.makeAsyncIterator()
        let message = await iterator.next()
        #expect(message?.topic == "tls/large")
        #expect(message?.payload == large)
        #expect(try await broker.connectionCount() == 2)
        await publisher.disconnect()
        await subscriber.disconnect()
        #expect(try await TestSupport.eventually { try await broker.connectionCount() == 0 })
        await broker.stop()
    }

    @Test func aTakenPortIsReportedAsAddressInUse() async throws {
        let first = try await Self.start()
        let port = first.port!
        await #expect {
            _ = try await Self.start { $0.port = port }
        } throws: { error in
            (error as? IOError)?.errnoCode == EADDRINUSE
        }
        await first.stop()
    }

    // MARK: Helpers

    static func client(_ broker: MQTTBroker, _ id: String) -> MQTTClient {
        var configuration = MQTTClientConfiguration(port: broker.port!, version: .v5, clientID: id)
        configuration.reconnect = nil
        return MQTTClient(configuration: configuration)
    }

    /// `size` bytes that name `index` (a 251-byte block that starts from it, repeated), so a damaged,
    /// shifted or misplaced message shows.
    static func payload(_ index: Int, size: Int = 100_000) -> ByteBuffer {
        let block = (0..<251).map { UInt8(truncatingIfNeeded: index &* 31 &+ $0) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        while buffer.readableBytes < size { buffer.writeBytes(block.prefix(size - buffer.readableBytes)) }
        return buffer
    }

    static func selfSignedCertificate(in directory: String) throws -> (NIOSSLCertificate, NIOSSLPrivateKey) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                             "-addext", "subjectAltName=DNS:localhost", "-keyout", "\(directory)/key.pem", "-out", "\(directory)/cert.pem"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return (try NIOSSLCertificate.fromPEMFile("\(directory)/cert.pem")[0],
                try NIOSSLPrivateKey(file: "\(directory)/key.pem", format: .pem))
    }
}

/// A blocking client socket that speaks MQTT bytes, for what a well-behaved client never does:
/// stop reading, or reset.
final class RawSocket {
    private let socket: Int32
    private var decoder: PacketDecoder
    private var buffer = ByteBuffer()

    /// Connects to the broker on loopback; `receiveBuffer` caps the socket's receive buffer (and so
    /// the TCP window) before connecting.
    init(port: Int, version: ProtocolVersion = .v5, receiveBuffer: Int32? = nil) throws {
        decoder = PacketDecoder(version: version)
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(socket, SOL_SOCKET, SO_RCVBUF, &size, 4) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw IOError(errnoCode: errno, reason: "connect") }
    }

    func send(_ packet: Packet) throws {
        let bytes = try packet.encoded(version: decoder.version ?? .v5)
        let sent = bytes.withUnsafeReadableBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.readableBytes else { throw IOError(errnoCode: errno, reason: "send") }
    }

    /// Reads what has arrived, without waiting, and returns the whole packets in it.
    func receiveAvailable() throws -> [Packet] {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while case let count = chunk.withUnsafeMutableBytes({ recv(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }), count > 0 {
            buffer.writeBytes(chunk[..<count])
        }
        var packets: [Packet] = []
        while let packet = try decoder.next(from: &buffer) { packets.append(packet) }
        buffer.discardReadBytes()
        return packets
    }

    /// Closes with a reset (`SO_LINGER` zero) instead of a FIN.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        Glibc.close(socket)
    }

    func close() { Glibc.close(socket) }
}
