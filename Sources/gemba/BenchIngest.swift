import ArgumentParser
import Foundation
import MQTTCodec
import NIOCore
import NIOPosix
import Sparkplug

/// `gemba bench ingest`: machines × tags of JSON telemetry over MQTT QoS 1, closed loop.
///
/// Against Gemba (`--until acks`), a PUBACK comes only after the commit that holds the message,
/// so the rate of PUBACKs is the end-to-end ingest rate. Against any broker (`--until delivered`),
/// a plain subscriber on `gemba/v1/#` counts deliveries: the transport's ceiling for the same messages.
/// With `--rate`, messages go out at that fixed rate instead, each at its own time (a plant's
/// paced load; memory and latency runs).
/// `--format sparkplug` sends the same values as Sparkplug B NDATA (aliases, one edge node per
/// machine, births first and untimed) through Gemba's Sparkplug host instead of the JSON decoder.
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
    @Option(help: "Payload format: json (gemba/v1 topics) or sparkplug (spBv1.0 NDATA with aliases).")
    var format = IngestRun.Format.json
    @Option(help: "Sample times: live (each round of machines stamped with the time it is sent, as devices do) or replay (a minute old and falling behind, as a store-and-forward replay after an outage: late data).")
    var timestamps = IngestRun.Timestamps.live

    func run() async throws {
        guard machines > 0, tags > 0, messages > 0, publishers > 0, window > 0 else {
            throw ConfigurationError("--machines, --tags, --messages, --publishers and --window must be positive")
        }
        guard format == .json || (machines >= publishers && tags < 128) else {
            throw ConfigurationError("--format sparkplug needs at least as many machines as publishers (one node per machine) and fewer than 128 tags")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        if format == .sparkplug {
            // The births are not timed: they only set up each edge node's metric catalogue.
            let births = IngestRun(loop: loop, machines: machines, tags: tags, total: machines, window: window, rate: 0,
                                   countAcks: true, format: .sparkplugBirths)
            try await publish(births, loop: loop, label: "births")
        }
        let run = IngestRun(loop: loop, machines: machines, tags: tags, total: messages, window: window, rate: rate,
                            countAcks: until == .acks, format: format, timestamps: timestamps)
        var connections: [LoadConnection] = []
        if until == .delivered {
            let subscriber = try await LoadConnection.open(host: target.host, port: target.port, id: "bench-ingest-sub",
                                                           loop: loop, run: run, role: .subscriber)
            try await subscriber.subscribe("gemba/v1/#", qos: .atLeastOnce)
            connections.append(subscriber)
        }
        var pubs: [LoadConnection] = []
        for index in 0..<publishers {
            pubs.append(try await LoadConnection.open(host: target.host, port: target.port, id: "bench-ingest-\(index)",
                                                      loop: loop, run: run, role: .publisher(index)))
        }
        connections += pubs
        let before = ProcessUsage.read(pid: target.brokerPID)
        let started = ContinuousClock.now
        let finished = run.start(publishers: pubs)
        try await run.watchForStall(finished)
        let elapsed = ContinuousClock.now - started
        let after = ProcessUsage.read(pid: target.brokerPID)
        let seconds = elapsed.inSeconds
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
        result["format"] = format.rawValue
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        for connection in connections { connection.channel.close(promise: nil) }
        try await group.shutdownGracefully()
    }

    /// Runs `run` to completion on fresh publisher connections.
    private func publish(_ run: IngestRun, loop: any EventLoop, label: String) async throws {
        var pubs: [LoadConnection] = []
        for index in 0..<publishers {
            pubs.append(try await LoadConnection.open(host: target.host, port: target.port, id: "bench-\(label)-\(index)",
                                                      loop: loop, run: run, role: .publisher(index)))
        }
        try await run.watchForStall(run.start(publishers: pubs))
        for connection in pubs { connection.channel.close(promise: nil) }
    }
}

/// The closed-loop state of one ingest benchmark, confined to its event loop.
final class IngestRun: LoadRun, @unchecked Sendable {
    let loop: any EventLoop
    let machines: Int
    let tags: Int
    let total: Int
    let window: Int
    let rate: Int
    let countAcks: Bool
    let qos = QoS.atLeastOnce
    private(set) var sent = 0
    private(set) var completed = 0
    private var publishers: [LoadConnection] = []
    private var done: EventLoopPromise<Void>?
    private let topics: [String]
    let timestamps: Timestamps
    /// The round of machines last stamped, and its time.
    private var round = -1
    private var roundTime: Int64 = 0

    /// When set, tag 0 is `sent_us`: the wall-clock time of sending in microseconds (for latency runs).
    var stampSendTime = false
    let format: Format

    /// What the messages are: JSON records, Sparkplug NDATA, or the NBIRTHs that must come first.
    enum Format: String, ExpressibleByArgument, Sendable {
        case json, sparkplug
        case sparkplugBirths = "sparkplug-births"
    }

    /// How samples are timed. Live samples are newer than anything stored of their series and
    /// within the storage's grace for late data; replayed ones fall ever further behind (the
    /// PostgreSQL backend checks each for a duplicate and folds it into the rollups at its commit).
    enum Timestamps: String, ExpressibleByArgument, Sendable {
        case live, replay
    }

    init(loop: any EventLoop, machines: Int, tags: Int, total: Int, window: Int, rate: Int, countAcks: Bool,
         format: Format = .json, timestamps: Timestamps = .live) {
        self.loop = loop
        self.format = format
        self.timestamps = timestamps
        self.machines = machines
        self.tags = tags
        self.total = total
        self.window = window
        self.rate = rate
        self.countAcks = countAcks
        topics = (0..<machines).map { machine in
            switch format {
            case .json: "gemba/v1/bench/line\(machine / 20 + 1)/machine-\(machine + 1)"
            case .sparkplug: "spBv1.0/bench/NDATA/machine-\(machine + 1)"
            case .sparkplugBirths: "spBv1.0/bench/NBIRTH/machine-\(machine + 1)"
            }
        }
    }

    func start(publishers: [LoadConnection]) -> EventLoopFuture<Void> {
        loop.flatSubmit {
            self.publishers = publishers
            let promise = self.loop.makePromise(of: Void.self)
            self.done = promise
            if self.rate > 0 {
                // Each message at its own time, as devices that do not coordinate send them: every
                // millisecond, those due by then (two at 2,000 messages/s), not bursts of many.
                let started = NIODeadline.now()
                self.loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { task in
                    let elapsed = Double((NIODeadline.now() - started).nanoseconds) / 1e9
                    let due = min(self.total, Int(elapsed * Double(self.rate)) + 1)
                    if due > self.sent { self.send(count: due - self.sent) }
                    if self.sent >= self.total { task.cancel() }
                }
            } else {
                self.pump()
            }
            return promise.futureResult
        }
    }

    /// Message `index`: machine `index % machines`, all machines of a round at the round's time.
    private func payload(_ index: Int) -> (String, ByteBuffer) {
        let machine = index % machines
        let time = time(ofRound: index / machines)
        if format != .json { return (topics[machine], sparkplugPayload(index, time: time)) }
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

    /// Live: the clock when the round's first message goes out, at least 1 ms after the previous
    /// round (each series' times stay distinct). Replay: a minute before the run began, 1 ms per round.
    private func time(ofRound next: Int) -> Int64 {
        if next != round {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            roundTime = switch timestamps {
            case .live: max(now, roundTime + 1)
            case .replay: round < 0 ? now - 60_000 : roundTime + Int64(next - round)
            }
            round = next
        }
        return roundTime
    }

    /// The same values as the JSON record, as an NDATA of aliases (or the NBIRTH declaring them), seq
    /// counting from the birth's 0. A machine's messages all go through one connection, in order.
    /// Data messages are written byte by byte (as cheaply as the JSON text), births with the model.
    private func sparkplugPayload(_ index: Int, time: Int64) -> ByteBuffer {
        func value(_ tag: Int) -> Double { Double((index &* 31 &+ tag * 7) % 1000) / 10 }
        guard format == .sparkplug else {
            let metrics = [try! SparkplugMetric(name: "bdSeq", dataType: .int64, value: .int(0))] + (0..<tags).map { tag in
                try! SparkplugMetric(name: "t\(tag)", alias: UInt64(tag + 1), dataType: .double, value: .double(value(tag)))
            }
            return ByteBuffer(bytes: SparkplugPayload(timestamp: UInt64(time), seq: 0, metrics: metrics).serialized())
        }
        var buffer = ByteBuffer()
        func varint(_ number: UInt64) {
            var number = number
            while number >= 0x80 {
                buffer.writeInteger(UInt8(truncatingIfNeeded: number) | 0x80)
                number >>= 7
            }
            buffer.writeInteger(UInt8(number))
        }
        buffer.writeInteger(UInt8(0x08))  // timestamp
        varint(UInt64(time))
        for tag in 0..<tags {  // metrics { alias: tag + 1, double_value: … }
            buffer.writeBytes([0x12, 11, 0x10, UInt8(tag + 1), 0x69])
            buffer.writeInteger(value(tag).bitPattern, endianness: .little)
        }
        buffer.writeInteger(UInt8(0x18))  // seq
        varint(UInt64((index / machines + 1) % 256))
        return buffer
    }

    private func send(count: Int) {
        for _ in 0..<count {
            let (topic, body) = payload(sent)
            let connection = format == .json ? sent % publishers.count : (sent % machines) % publishers.count
            publishers[connection].publish(topic: topic, payload: body)
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
    func delivered(_ payload: ByteBuffer) { if !countAcks { complete() } }

    private func complete() {
        completed += 1
        if completed >= total {
            done?.succeed()
            done = nil
        }
    }

    func readComplete(subscriber: Bool) {
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
