import ArgumentParser
import Foundation
import MQTTCodec
import NIOCore
import NIOPosix

/// `gemba bench ingest`: machines × tags of JSON telemetry over MQTT QoS 1, closed loop.
///
/// Against Gemba (`--until acks`), a PUBACK comes only after the commit that holds the message,
/// so the rate of PUBACKs is the end-to-end ingest rate. Against any broker (`--until delivered`),
/// a plain subscriber on `gemba/v1/#` counts deliveries: the transport's ceiling for the same messages.
/// With `--rate`, messages go out at that fixed rate instead (for memory and latency runs).
struct BenchIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Publish machines × tags of JSON telemetry (QoS 1) and measure the committed or delivered rate.")

    enum Until: String, ExpressibleByArgument { case acks, delivered }

    @OptionGroup var target: BenchTarget
    @Option(help: "Machines (one topic each).") var machines = 1000
    @Option(help: "Tags per message.") var tags = 10
    @Option(help: "Messages in total.") var messages = 200_000
    @Option(help: "Publisher connections.") var publishers = 4
    @Option(help: "Messages in flight (unacknowledged or undelivered).") var window = 4000
    @Option(help: "Fixed rate in messages/s (0: closed loop, as fast as acknowledged).") var rate = 0
    @Option(help: "What completes a message: acks (Gemba: committed) or delivered (to a plain subscriber).") var until = Until.acks
    @Option(help: "A label printed with the result.") var label = "gemba"

    func run() async throws {
        guard machines > 0, tags > 0, messages > 0, publishers > 0, window > 0 else {
            throw ConfigurationError("--machines, --tags, --messages, --publishers and --window must be positive")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let run = IngestRun(loop: loop, machines: machines, tags: tags, total: messages, window: window, rate: rate,
                            countAcks: until == .acks)
        var connections: [IngestConnection] = []
        if until == .delivered {
            let subscriber = try await IngestConnection.open(target, id: "bench-ingest-sub", loop: loop, run: run)
            try await subscriber.subscribe("gemba/v1/#")
            connections.append(subscriber)
        }
        var pubs: [IngestConnection] = []
        for index in 0..<publishers {
            pubs.append(try await IngestConnection.open(target, id: "bench-ingest-\(index)", loop: loop, run: run))
        }
        connections += pubs
        let before = ProcessUsage.read(pid: target.brokerPID)
        let started = ContinuousClock.now
        let finished = run.start(publishers: pubs)
        try await run.watchForStall(finished)
        let elapsed = ContinuousClock.now - started
        let after = ProcessUsage.read(pid: target.brokerPID)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let samples = messages * tags
        var result: [String: Any] = [
            "label": label, "until": until.rawValue, "machines": machines, "tags": tags, "messages": messages,
            "samples": samples, "seconds": (seconds * 1000).rounded() / 1000,
            "messages_per_second": Int(Double(messages) / seconds), "samples_per_second": Int(Double(samples) / seconds),
        ]
        if let before, let after {
            let cpu = after.cpuSeconds - before.cpuSeconds
            result["server_cpu_seconds"] = (cpu * 100).rounded() / 100
            result["server_rss_mb"] = after.residentBytes / (1 << 20)
        }
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        for connection in connections { connection.channel.close(promise: nil) }
        try await group.shutdownGracefully()
    }
}

/// The closed-loop state of one ingest benchmark, confined to its event loop.
final class IngestRun: @unchecked Sendable {
    let loop: any EventLoop
    let machines: Int
    let tags: Int
    let total: Int
    let window: Int
    let rate: Int
    let countAcks: Bool
    private(set) var sent = 0
    private(set) var completed = 0
    private var publishers: [IngestConnection] = []
    private var done: EventLoopPromise<Void>?
    private let baseTime = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
    private let topics: [String]

    /// When set, tag 0 is `sent_us`: the wall-clock time of sending in microseconds (for latency runs).
    var stampSendTime = false

    init(loop: any EventLoop, machines: Int, tags: Int, total: Int, window: Int, rate: Int, countAcks: Bool) {
        self.loop = loop
        self.machines = machines
        self.tags = tags
        self.total = total
        self.window = window
        self.rate = rate
        self.countAcks = countAcks
        topics = (0..<machines).map { "gemba/v1/bench/line\($0 / 20 + 1)/machine-\($0 + 1)" }
    }

    func start(publishers: [IngestConnection]) -> EventLoopFuture<Void> {
        loop.flatSubmit {
            self.publishers = publishers
            let promise = self.loop.makePromise(of: Void.self)
            self.done = promise
            if self.rate > 0 {
                let perTick = max(1, self.rate / 100)
                self.loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(10)) { task in
                    if self.sent >= self.total { task.cancel(); return }
                    self.send(count: min(perTick, self.total - self.sent))
                }
            } else {
                self.pump()
            }
            return promise.futureResult
        }
    }

    /// Message `index`: machine `index % machines`, timestamp advancing 1 ms per round over all machines.
    private func payload(_ index: Int) -> (String, ByteBuffer) {
        let machine = index % machines
        let time = baseTime + Int64(index / machines)
        var json = "{\"ts\":\(time),\"values\":{"
        for tag in 0..<tags {
            if tag > 0 { json += "," }
            if tag == 0, stampSendTime {
                json += "\"sent_us\":\(Int64(Date().timeIntervalSince1970 * 1_000_000))"
            } else {
                json += "\"t\(tag)\":\(Double((index &* 31 &+ tag * 7) % 1000) / 10)"
            }
        }
        json += "}}"
        return (topics[machine], ByteBuffer(string: json))
    }

    private func send(count: Int) {
        for _ in 0..<count {
            let (topic, body) = payload(sent)
            publishers[sent % publishers.count].publish(topic: topic, payload: body)
            sent += 1
        }
        for publisher in publishers { publisher.channel.flush() }
    }

    func pump() {
        guard rate == 0, !publishers.isEmpty else { return }
        let room = min(window - (sent - completed), total - sent)
        if room > 0 { send(count: room) }
    }

    func acknowledged() { if countAcks { complete() } }
    func delivered() { if !countAcks { complete() } }

    private func complete() {
        completed += 1
        if completed >= total {
            done?.succeed()
            done = nil
        }
    }

    func batchDone() {
        if sent - completed <= window / 2 { pump() }
    }

    /// Waits for `finished`, failing if nothing completes for 20 seconds.
    func watchForStall(_ finished: EventLoopFuture<Void>) async throws {
        var last = -1
        var progress = ContinuousClock.now
        while true {
            let (isDone, completed) = try await loop.submit { (self.completed >= self.total, self.completed) }.get()
            if isDone { return try await finished.get() }
            if completed != last {
                last = completed
                progress = .now
            } else if ContinuousClock.now - progress > .seconds(20) {
                throw ConfigurationError("stalled: \(completed) of \(sent) messages completed")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// A benchmark MQTT 3.1.1 connection: publishes QoS 1 and counts PUBACKs, or subscribes and counts deliveries.
final class IngestConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Packet

    let channel: any Channel
    private let run: IngestRun
    private var connected: EventLoopPromise<Void>?
    private var subscribed: EventLoopPromise<Void>?
    private var packetID: UInt16 = 0
    private var pendingAcks = ByteBuffer()

    private init(channel: any Channel, run: IngestRun) {
        self.channel = channel
        self.run = run
    }

    static func open(_ target: BenchTarget, id: String, loop: any EventLoop, run: IngestRun) async throws -> IngestConnection {
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: target.host, port: target.port).get()
        let connack = try await loop.submit {
            let connection = IngestConnection(channel: channel, run: run)
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(PacketDecoder(version: .v311)))
            try channel.pipeline.syncOperations.addHandler(connection)
            let promise = loop.makePromise(of: Void.self)
            connection.connected = promise
            let connect = Connect(protocolVersion: .v311, clientID: id, cleanStart: true, keepAlive: 0)
            channel.writeAndFlush(try Packet.connect(connect).encoded(version: .v311), promise: nil)
            return (connection, promise.futureResult)
        }.get()
        try await connack.1.get()
        return connack.0
    }

    func subscribe(_ filter: String) async throws {
        try await channel.eventLoop.flatSubmit {
            let promise = self.channel.eventLoop.makePromise(of: Void.self)
            self.subscribed = promise
            let subscribe = Subscribe(packetID: 1, subscriptions: [Subscription(filter: filter, options: SubscriptionOptions(qos: .atLeastOnce))])
            self.channel.writeAndFlush(try! Packet.subscribe(subscribe).encoded(version: .v311), promise: nil)
            return promise.futureResult
        }.get()
    }

    func publish(topic: String, payload: ByteBuffer) {
        packetID = packetID == UInt16.max ? 1 : packetID + 1
        let publish = Publish(topic: topic, payload: payload, qos: .atLeastOnce, packetID: packetID)
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
        case .puback:
            run.acknowledged()
        case .publish(let publish):
            if let id = publish.packetID {
                try? Packet.puback(PublishAck(packetID: id)).encode(into: &pendingAcks, version: .v311)
            }
            run.delivered()
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if pendingAcks.readableBytes > 0 {
            context.writeAndFlush(NIOAny(pendingAcks), promise: nil)
            pendingAcks = context.channel.allocator.buffer(capacity: 1024)
        }
        run.batchDone()
    }
}
