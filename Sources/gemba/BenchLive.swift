import ArgumentParser
import Foundation
import GembaIngest
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// `gemba bench live`: publish → WebSocket latency. Publishes JSON telemetry over MQTT at a fixed
/// rate, each message carrying its send time (`sent_us`), while a WebSocket client on
/// `/api/v1/live` measures when each arrives.
struct BenchLive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live", abstract: "Measure publish → WebSocket latency at a fixed sample rate.")

    @OptionGroup var target: BenchTarget
    @Option(help: "Gemba's HTTP base URL.") var url = "http://127.0.0.1:8080"
    @Option(help: "Samples per second (messages/s × tags).") var samplesPerSecond = 10_000
    @Option(help: "Tags per message.") var tags = 10
    @Option(help: "Machines publishing.") var machines = 100
    @Option(help: "Seconds to run.") var seconds = 20
    @Option(help: "API key or access token (viewer or above). Env: GEMBA_API_KEY.") var apiKey: String?

    func run() async throws {
        let rate = samplesPerSecond / tags
        let latencies = Mutex<[Int64]>([])
        let frames = Mutex((frames: 0, samples: 0, skipped: 0))
        let credential = apiKey ?? ProcessInfo.processInfo.environment["GEMBA_API_KEY"]
        let socketURL = url.replacingOccurrences(of: "http://", with: "ws://") + "/api/v1/live"
            + (credential.map { "?access_token=\($0)" } ?? "")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let run = IngestRun(loop: loop, machines: machines, tags: tags, total: rate * seconds, window: 1 << 30, rate: rate,
                            countAcks: true)
        run.stampSendTime = true
        let ready = Mutex(false)
        let socket = Task {
            try await WebSocketClient.connect(url: socketURL, configuration: .init(maxFrameSize: 1 << 24),
                                              logger: Logger(label: "bench")) { inbound, _, _ in
                ready.withLock { $0 = true }
                for try await message in inbound.messages(maxSize: 1 << 24) {
                    guard case .text(let text) = message else { continue }
                    let received = Int64(Date().timeIntervalSince1970 * 1_000_000)
                    let frame = try JSONParser.parse(Array(text.utf8))
                    guard case .array(let samples)? = frame["samples"] else { continue }
                    if case .integer(let skipped)? = frame["skipped"] {
                        frames.withLock { $0.frames += 1; $0.samples += samples.count; $0.skipped += Int(skipped) }
                    }
                    var batch: [Int64] = []
                    for sample in samples where sample["tag"] == .string("sent_us") {
                        switch sample["v"] {
                        case .number(let sent)?: batch.append(received - Int64(sent))
                        case .integer(let sent)?: batch.append(received - sent)
                        default: break
                        }
                    }
                    latencies.withLock { $0 += batch }
                }
            }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !ready.withLock({ $0 }) {
            // A refused upgrade (no or wrong credentials) ends the socket task at once; do not wait for it forever.
            guard ContinuousClock.now < deadline else {
                socket.cancel()
                throw ConfigurationError("the WebSocket \(url)/api/v1/live did not open; give a key with --api-key or GEMBA_API_KEY")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(200))  // the server registers the subscription after the upgrade
        var pubs: [LoadConnection] = []
        for index in 0..<4 {
            pubs.append(try await LoadConnection.open(host: target.host, port: target.port, id: "bench-live-\(index)",
                                                      loop: loop, run: run, role: .publisher(index)))
        }
        let before = ProcessUsage.read(pid: target.brokerPID)
        try await run.watchForStall(run.start(publishers: pubs))
        try await Task.sleep(for: .milliseconds(500))
        let after = ProcessUsage.read(pid: target.brokerPID)
        socket.cancel()
        let sorted = latencies.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { throw ConfigurationError("no samples arrived on the WebSocket") }
        func percentile(_ p: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000 }
        var result: [String: Any] = [
            "samples_per_second": rate * tags, "messages": rate * seconds, "measured": sorted.count,
            "frames": frames.withLock { $0.frames }, "samples_received": frames.withLock { $0.samples },
            "samples_skipped": frames.withLock { $0.skipped },
            "latency_p50_ms": percentile(0.5), "latency_p99_ms": percentile(0.99), "latency_max_ms": Double(sorted.last!) / 1000,
        ]
        if let before, let after {
            result["server_cpu_percent"] = Int((after.cpuSeconds - before.cpuSeconds) / Double(seconds) * 100)
            result["server_rss_mb"] = after.residentBytes / (1 << 20)
        }
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        for publisher in pubs { publisher.channel.close(promise: nil) }
        try await group.shutdownGracefully()
    }
}
