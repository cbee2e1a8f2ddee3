import ArgumentParser
import Foundation
import MQTTCodec
import NIOCore
import NIOPosix

/// `gemba bench`: load generators for measuring an MQTT broker (ours or any other) from outside.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure an MQTT broker: throughput, latency, memory per connection.",
        subcommands: [Throughput.self, Connections.self, BenchIngest.self, BenchLive.self, BenchSeed.self, BenchOEE.self, BenchAlarms.self, BenchStorage.self]
    )
}

/// Options shared by the benchmark commands.
struct BenchTarget: ParsableArguments {
    @Option(help: "Broker host.") var host = "127.0.0.1"
    @Option(help: "Broker port.") var port = 1883
    @Option(help: "PID of the broker process, to read its CPU time and memory from /proc.") var brokerPID: Int?
}

/// CPU seconds and resident memory of a process, from /proc.
struct ProcessUsage {
    var cpuSeconds: Double
    var residentBytes: Int

    static func read(pid: Int?) -> ProcessUsage? {
        guard let pid,
              let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        let ticks = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
        let rssLine = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        let kilobytes = Int(rssLine.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return ProcessUsage(cpuSeconds: ticks / Double(sysconf(Int32(_SC_CLK_TCK))), residentBytes: kilobytes * 1024)
    }
}

/// `gemba bench throughput`: publishers → one subscriber through the broker.
///
/// Closed loop: at most `window` messages are between publisher and subscriber at any time, so a
/// broker is measured at the rate it can sustain without dropping QoS 0 messages. With `--rate`, the
/// publishers send at that fixed rate instead, for latency percentiles.
struct Throughput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publishers → one subscriber through a broker: messages/s, latency, broker CPU per message.")

    @OptionGroup var target: BenchTarget
    @Option(help: "QoS of publishes and subscription (0 or 1).") var qos = 0
    @Option(help: "Publisher connections.") var publishers = 4
    @Option(help: "Messages in total.") var messages = 500_000
    @Option(help: "Payload bytes (at least 8: a send timestamp).") var payloadSize = 64
    @Option(help: "Messages in flight between publishers and subscriber.") var window = 500
    @Option(help: "Fixed publish rate in messages/s (0: as fast as the broker sustains).") var rate = 0
    @Option(help: "A label printed with the result.") var label = "broker"

    func run() async throws {
        guard let qos = QoS(rawValue: UInt8(clamping: qos)), qos != .exactlyOnce else {
            throw ConfigurationError("--qos must be 0 or 1")
        }
        guard payloadSize >= 8 else { throw ConfigurationError("--payload-size must be at least 8") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let run = ThroughputRun(loop: loop, qos: qos, total: messages, payloadSize: payloadSize,
                                window: window, rate: rate)
        let subscriber = try await LoadConnection.open(host: target.host, port: target.port, id: "bench-sub",
                                                       loop: loop, run: run, role: .subscriber)
        try await subscriber.subscribe("bench/#", qos: qos)
        var pubs: [LoadConnection] = []
        for index in 0..<publishers {
            pubs.append(try await LoadConnection.open(host: target.host, port: target.port, id: "bench-pub-\(index)",
                                                      loop: loop, run: run, role: .publisher(index)))
        }
        let before = ProcessUsage.read(pid: target.brokerPID)
        let started = ContinuousClock.now
        let finished = run.start(publishers: pubs, subscriber: subscriber)
        try await run.watchForStall(finished)
        let elapsed = ContinuousClock.now - started
        let after = ProcessUsage.read(pid: target.brokerPID)
        let seconds = elapsed.inSeconds
        let latencies = try await loop.submit { run.latenciesMicros.sorted() }.get()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))]) / 1000
        }
        var result: [String: Any] = [
            "label": label, "qos": Int(qos.rawValue), "messages": messages, "publishers": publishers,
            "seconds": (seconds * 1000).rounded() / 1000,
            "messages_per_second": Int(Double(messages) / seconds),
            "latency_p50_ms": percentile(0.50), "latency_p99_ms": percentile(0.99),
        ]
        if let before, let after {
            let cpu = after.cpuSeconds - before.cpuSeconds
            result["broker_cpu_seconds"] = cpu
            result["messages_per_broker_cpu_second"] = cpu > 0 ? Int(Double(messages) / cpu) : nil
            result["broker_cpu_microseconds_per_message"] = (cpu / Double(messages) * 1e6 * 100).rounded() / 100
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
        for connection in pubs + [subscriber] { connection.channel.close(promise: nil) }
        try await group.shutdownGracefully()
    }
}

/// `gemba bench connections`: opens many idle MQTT connections and reports the broker's memory per connection.
struct Connections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Open many idle MQTT connections and report the broker's memory per connection.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Connections to open.") var count = 10_000
    @Option(help: "A label printed with the result.") var label = "broker"

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let run = ThroughputRun(loop: loop, qos: .atMostOnce, total: 0, payloadSize: 8, window: 1, rate: 0)
        let before = ProcessUsage.read(pid: target.brokerPID)
        var connections: [LoadConnection] = []
        connections.reserveCapacity(count)
        for batch in stride(from: 0, to: count, by: 500) {
            try await withThrowingTaskGroup(of: LoadConnection.self) { tasks in
                for index in batch..<min(count, batch + 500) {
                    tasks.addTask {
                        try await LoadConnection.open(host: target.host, port: target.port, id: "idle-\(index)",
                                                      loop: loop, run: run, role: .idle)
                    }
                }
                for try await connection in tasks { connections.append(connection) }
            }
        }
        try await Task.sleep(for: .seconds(2))
        let after = ProcessUsage.read(pid: target.brokerPID)
        var result: [String: Any] = ["label": label, "connections": connections.count]
        if let before, let after {
            result["broker_rss_before_mb"] = before.residentBytes / 1_048_576
            result["broker_rss_after_mb"] = after.residentBytes / 1_048_576
            result["bytes_per_connection"] = (after.residentBytes - before.residentBytes) / max(1, connections.count)
        }
        let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
        for connection in connections { connection.channel.close(promise: nil) }
        try await group.shutdownGracefully()
    }
}

/// Shared state of one throughput run; confined to the generator's single event loop.
/// What a benchmark run does with the traffic its ``LoadConnection``s see; called on their event loop.
protocol LoadRun: AnyObject, Sendable {
    var qos: QoS { get }
    /// A PUBLISH arrived at a subscriber.
    func delivered(_ payload: ByteBuffer)
    /// A PUBACK arrived at a publisher.
    func acknowledged()
    /// A connection finished a batch of reads.
    func readComplete(subscriber: Bool)
}

final class ThroughputRun: LoadRun, @unchecked Sendable {
    let loop: any EventLoop
    let qos: QoS
    let total: Int
    let window: Int
    let rate: Int
    private let payloadSize: Int
    private(set) var sent = 0
    private(set) var received = 0
    var latenciesMicros: [UInt32] = []
    private var publishers: [LoadConnection] = []
    private var next = 0
    private var done: EventLoopPromise<Void>?

    init(loop: any EventLoop, qos: QoS, total: Int, payloadSize: Int, window: Int, rate: Int) {
        self.loop = loop
        self.qos = qos
        self.total = total
        self.payloadSize = payloadSize
        self.window = window
        self.rate = rate
        latenciesMicros.reserveCapacity(total)
    }

    func start(publishers: [LoadConnection], subscriber: LoadConnection) -> EventLoopFuture<Void> {
        loop.flatSubmit {
            self.publishers = publishers
            let promise = self.loop.makePromise(of: Void.self)
            self.done = promise
            if self.rate > 0 {
                // Send rate/1000 messages every millisecond.
                let perTick = max(1, self.rate / 1000)
                self.loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { task in
                    if self.sent >= self.total { task.cancel(); return }
                    self.send(count: min(perTick, self.total - self.sent))
                }
            } else {
                self.pump()
            }
            return promise.futureResult
        }
    }

    /// Waits for `finished`, failing with the counts if nothing arrives for 10 seconds (a broker that drops).
    func watchForStall(_ finished: EventLoopFuture<Void>) async throws {
        var lastReceived = -1
        var lastProgress = ContinuousClock.now
        while true {
            let (done, received) = try await loop.submit { (self.received >= self.total, self.received) }.get()
            if done { return try await finished.get() }
            if received != lastReceived {
                lastReceived = received
                lastProgress = .now
            } else if ContinuousClock.now - lastProgress > .seconds(10) {
                throw ConfigurationError("stalled: \(received) of \(sent) sent messages arrived; the broker dropped some")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private func payload() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt64(DispatchTime.now().uptimeNanoseconds))
        buffer.writeRepeatingByte(0x2A, count: payloadSize - 8)
        return buffer
    }

    private func send(count: Int) {
        for _ in 0..<count {
            publishers[next % publishers.count].publish(payload())
            next += 1
            sent += 1
        }
        for publisher in publishers { publisher.channel.flush() }
    }

    /// Tops the window up; called on start and whenever the subscriber drains half of it.
    func pump() {
        guard rate == 0, !publishers.isEmpty else { return }
        let room = min(window - (sent - received), total - sent)
        if room > 0 { send(count: room) }
    }

    func delivered(_ payload: ByteBuffer) {
        received += 1
        if let stamp = payload.getInteger(at: payload.readerIndex, as: UInt64.self) {
            let micros = (DispatchTime.now().uptimeNanoseconds &- stamp) / 1000
            latenciesMicros.append(UInt32(clamping: micros))
        }
        if received >= total {
            done?.succeed()
            done = nil
        }
    }

    func acknowledged() {}

    func readComplete(subscriber: Bool) {
        if subscriber { subscriberBatchDone() }
    }

    func subscriberBatchDone() {
        if sent - received <= window / 2 { pump() }
    }
}

/// One load-generator MQTT 3.1.1 connection: a publisher, the subscriber, or an idle client.
final class LoadConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Packet
    enum Role { case publisher(Int), subscriber, idle }

    let channel: any Channel
    private let run: any LoadRun
    private let role: Role
    private var connected: EventLoopPromise<Void>?
    private var subscribed: EventLoopPromise<Void>?
    private var packetID: UInt16 = 0
    private let topic: String
    private var pendingAcks = ByteBuffer()

    private init(channel: any Channel, run: any LoadRun, role: Role) {
        self.channel = channel
        self.run = run
        self.role = role
        if case .publisher(let index) = role { topic = "bench/\(index)" } else { topic = "" }
    }

    static func open(host: String, port: Int, id: String, loop: any EventLoop, run: any LoadRun,
                     role: Role) async throws -> LoadConnection {
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: host, port: port).get()
        let (connection, connack) = try await loop.submit {
            let connection = LoadConnection(channel: channel, run: run, role: role)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PacketDecoder(version: .v311)))
            try channel.pipeline.syncOperations.addHandler(connection)
            let promise = loop.makePromise(of: Void.self)
            connection.connected = promise
            let connect = Connect(protocolVersion: .v311, clientID: id, cleanStart: true, keepAlive: 0)
            channel.writeAndFlush(try Packet.connect(connect).encoded(version: .v311), promise: nil)
            return (connection, promise.futureResult)
        }.get()
        try await connack.get()
        return connection
    }

    func subscribe(_ filter: String, qos: QoS) async throws {
        try await channel.eventLoop.flatSubmit {
            let promise = self.channel.eventLoop.makePromise(of: Void.self)
            self.subscribed = promise
            let subscribe = Subscribe(packetID: 1, subscriptions: [Subscription(filter: filter, options: SubscriptionOptions(qos: qos))])
            self.channel.writeAndFlush(try! Packet.subscribe(subscribe).encoded(version: .v311), promise: nil)
            return promise.futureResult
        }.get()
    }

    /// Publishes to this publisher's own topic, `bench/<index>`.
    func publish(_ payload: ByteBuffer) { publish(topic: topic, payload: payload) }

    func publish(topic: String, payload: ByteBuffer) {
        var id: UInt16?
        if run.qos != .atMostOnce {
            packetID = packetID == UInt16.max ? 1 : packetID + 1
            id = packetID
        }
        let publish = Publish(topic: topic, payload: payload, qos: run.qos, packetID: id)
        var buffer = channel.allocator.buffer(capacity: payload.readableBytes + topic.utf8.count + 8)
        try! Packet.publish(publish).encode(into: &buffer, version: .v311)
        channel.write(buffer, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .connack(let ack):
            if ack.reasonCode.isFailure { connected?.fail(ConfigurationError("broker refused: \(ack.reasonCode)")) }
            else { connected?.succeed() }
            connected = nil
        case .suback:
            subscribed?.succeed()
            subscribed = nil
        case .publish(let publish):
            if let id = publish.packetID {
                try? Packet.puback(PublishAck(packetID: id)).encode(into: &pendingAcks, version: .v311)
            }
            run.delivered(publish.payload)
        case .puback:
            run.acknowledged()
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pendingAcks.readableBytes > 0 {
            context.writeAndFlush(NIOAny(pendingAcks), promise: nil)
            pendingAcks = context.channel.allocator.buffer(capacity: 1024)
        }
        if case .subscriber = role { run.readComplete(subscriber: true) } else { run.readComplete(subscriber: false) }
    }
}
