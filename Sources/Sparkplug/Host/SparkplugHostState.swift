#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The body of a primary host application's STATE message (3.0 § 7.3.1):
/// `{"online": true, "timestamp": 1700000000000}`, published QoS 1 and retained on
/// `spBv1.0/STATE/<host id>`; the will of the same connection carries `online: false` and the
/// same timestamp.
public struct SparkplugHostState: Sendable, Hashable, Codable {
    public var online: Bool
    public var timestamp: UInt64

    public init(online: Bool, timestamp: UInt64) {
        self.online = online
        self.timestamp = timestamp
    }

    /// Reads a STATE body; nil when it is not the JSON object the specification describes.
    public init?(json: some Collection<UInt8>) {
        guard let state = try? JSONDecoder().decode(Self.self, from: Data(json)) else { return nil }
        self = state
    }

    /// The JSON body, keys in a fixed order.
    public var json: [UInt8] { Array("{\"online\":\(online),\"timestamp\":\(timestamp)}".utf8) }

    /// The STATE topic of a host id.
    public static func topic(host: String) -> String { "\(SparkplugTopic.namespace)/STATE/\(host)" }
}
