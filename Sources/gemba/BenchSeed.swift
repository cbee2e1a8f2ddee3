import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `gemba bench seed`: fills one tag with a 1 Hz history over many days through `POST /api/v1/ingest`,
/// for measuring history queries.
struct BenchSeed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seed", abstract: "Seed a 1 Hz tag's history over N days through the HTTP ingest API.")

    @Option(help: "Gemba's HTTP base URL.") var url = "http://127.0.0.1:8080"
    @Option(help: "Machine path.") var machine = "bench/line1/history-1"
    @Option(help: "Tag name.") var tag = "temperature"
    @Option(help: "Days of history, ending now.") var days = 30
    @Option(help: "Samples per request.") var batch = 20_000
    @Option(help: "API key (engineer or above). Env: GEMBA_API_KEY.") var apiKey: String?

    func run() async throws {
        let end = Int64(Date().timeIntervalSince1970) * 1000
        let start = end - Int64(days) * 86_400_000
        let endpoint = URL(string: url + "/api/v1/ingest")!
        let started = ContinuousClock.now
        var total = 0
        var time = start
        while time < end {
            var records: [String] = []
            records.reserveCapacity(batch)
            while records.count < batch, time < end {
                let value = 60 + 10 * sin(Double(time / 1000) / 3600) + Double(time / 1000 % 7) / 10
                records.append("{\"machine\":\"\(machine)\",\"ts\":\(time),\"values\":{\"\(tag)\":\(value)}}")
                time += 1000
            }
            var request = URLRequest(url: endpoint)
            request.httpMethod = "POST"
            if let key = apiKey ?? ProcessInfo.processInfo.environment["GEMBA_API_KEY"] {
                request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
            }
            request.httpBody = Data("[\(records.joined(separator: ","))]".utf8)
            let (body, response) = try await URLSession.shared.data(for: request)
            guard (response as? HTTPURLResponse)?.statusCode == 200 else {
                throw ConfigurationError("seeding failed: \(String(decoding: body, as: UTF8.self))")
            }
            total += records.count
        }
        let elapsed = ContinuousClock.now - started
        print("{\"samples\":\(total),\"from\":\(start),\"to\":\(end),\"seconds\":\(Double(elapsed.components.seconds))}")
    }
}
