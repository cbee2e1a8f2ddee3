#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
internal import SwiftProtobuf

/// One Sparkplug B message body (3.0 § 6.4): a timestamp, a sequence number and metrics.
///
/// Decoding is strict about the protobuf framing (a corrupt payload throws) and lenient per
/// metric: a metric whose value does not fit its datatype stays in `metrics` (its alias and name
/// still count) and reports the problem when its value is read.
public struct SparkplugPayload: Sendable {
    public var timestamp: UInt64?
    public var seq: UInt64?
    public var uuid: String?
    public var body: [UInt8]?
    public var metrics: [SparkplugMetric]

    public init(timestamp: UInt64? = nil, seq: UInt64? = nil, metrics: [SparkplugMetric] = [], uuid: String? = nil,
                body: [UInt8]? = nil) {
        self.timestamp = timestamp
        self.seq = seq
        self.metrics = metrics
        self.uuid = uuid
        self.body = body
    }

    /// Decodes a payload; throws ``SparkplugPayloadError`` when the bytes are not a Sparkplug B protobuf message.
    public init(decoding bytes: some Collection<UInt8>) throws(SparkplugPayloadError) {
        var decoder = PayloadDecoder(Array(bytes))
        do {
            self = try decoder.payload()
        } catch {
            throw SparkplugPayloadError("not a Sparkplug B payload (\(bytes.count) bytes): \(error)")
        }
    }

    /// Decodes a payload with the generated code (the reference the fast decoder is checked against).
    init(generatedDecoding bytes: [UInt8]) throws {
        self.init(try Org_Eclipse_Tahu_Protobuf_Payload(serializedBytes: bytes))
    }

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload) {
        timestamp = proto.hasTimestamp ? proto.timestamp : nil
        seq = proto.hasSeq ? proto.seq : nil
        uuid = proto.hasUuid ? proto.uuid : nil
        body = proto.hasBody ? [UInt8](proto.body) : nil
        metrics = proto.metrics.map(SparkplugMetric.init)
    }

    /// The protobuf encoding of this payload.
    public func serialized() -> [UInt8] {
        // Encoding a message built from these fields cannot fail: there are no required fields.
        (try? proto.serializedBytes()) ?? []
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload()
        if let timestamp { proto.timestamp = timestamp }
        if let seq { proto.seq = seq }
        if let uuid { proto.uuid = uuid }
        if let body { proto.body = Data(body) }
        proto.metrics = metrics.map(\.proto)
        return proto
    }
}

/// Bytes that are not a Sparkplug B payload.
public struct SparkplugPayloadError: Error, Sendable, Hashable, CustomStringConvertible {
    public let reason: String

    init(_ reason: String) { self.reason = reason }

    public var description: String { reason }
}
