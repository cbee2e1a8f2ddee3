#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
internal import SwiftProtobuf

/// Reads a Sparkplug B `Payload` straight off the wire into the model, for the host's hot path.
///
/// The top-level message and its metrics (names, aliases, timestamps, datatypes, flags and the
/// scalar values that every DATA message carries) are read here, without the generated code's
/// per-metric storage objects; the rarer nested messages (metadata, properties, DataSet, Template)
/// are handed to the generated code. Unknown fields (and known ones with another wire type) are
/// skipped. The result is the same as
/// decoding with the generated `Payload` (checked field by field in the tests, vectors and random
/// input alike).
///
/// ```
/// field  = tag payload            tag = varint(field number << 3 | wire type)
/// wire type 0: varint   1: 8 bytes little-endian   2: varint length + bytes   5: 4 bytes little-endian
/// ```
struct PayloadDecoder {
    private let bytes: [UInt8]
    private var index: Int
    private let end: Int

    /// A truncated, overlong or otherwise malformed field.
    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        index = 0
        end = bytes.count
    }

    private init(_ bytes: [UInt8], range: Range<Int>) {
        self.bytes = bytes
        index = range.lowerBound
        end = range.upperBound
    }

    mutating func payload() throws(Malformed) -> SparkplugPayload {
        var payload = SparkplugPayload()
        payload.metrics.reserveCapacity(min(end / 8, 64))  // a metric takes at least a few bytes; avoids regrowing
        while index < end {
            let (field, wireType) = try tag()
            switch (field, wireType) {
            case (1, 0): payload.timestamp = try varint()
            case (2, 2):
                var reader = PayloadDecoder(bytes, range: try lengthDelimited())
                payload.metrics.append(try reader.metric())
            case (3, 0): payload.seq = try varint()
            case (4, 2): payload.uuid = try string()
            case (5, 2): payload.body = Array(bytes[try lengthDelimited()])
            default: try skip(wireType, field: field)  // unknown, or a known field with another wire type: skipped, as protobuf does
            }
        }
        return payload
    }

    private mutating func metric() throws(Malformed) -> SparkplugMetric {
        var metric = SparkplugMetric()
        while index < end {
            let (field, wireType) = try tag()
            switch (field, wireType) {
            case (1, 2): metric.name = try string()
            case (2, 0): metric.alias = try varint()
            case (3, 0): metric.timestamp = try varint()
            case (4, 0): metric.dataTypeCode = UInt32(truncatingIfNeeded: try varint())
            case (5, 0): metric.isHistorical = try varint() != 0
            case (6, 0): metric.isTransient = try varint() != 0
            case (7, 0): metric.isNull = try varint() != 0
            case (8, 2): metric.metadata = SparkplugMetaData(try nested(Org_Eclipse_Tahu_Protobuf_Payload.MetaData.self))
            case (9, 2):
                let properties = try nested(Org_Eclipse_Tahu_Protobuf_Payload.PropertySet.self)
                do throws(SparkplugValueError) {
                    metric.properties = try SparkplugPropertySet(properties)
                    metric.propertiesError = nil
                } catch {
                    metric.properties = nil
                    metric.propertiesError = error
                }
            case (10, 0): metric.wire = .int(UInt32(truncatingIfNeeded: try varint()))
            case (11, 0): metric.wire = .long(try varint())
            case (12, 5): metric.wire = .float(Float(bitPattern: UInt32(truncatingIfNeeded: try fixed(4))))
            case (13, 1): metric.wire = .double(Double(bitPattern: try fixed(8)))
            case (14, 0): metric.wire = .boolean(try varint() != 0)
            case (15, 2): metric.wire = .string(try string())
            case (16, 2): metric.wire = .bytes(Data(bytes[try lengthDelimited()]))
            case (17, 2): metric.wire = .dataSet(try nested(Org_Eclipse_Tahu_Protobuf_Payload.DataSet.self))
            case (18, 2): metric.wire = .template(try nested(Org_Eclipse_Tahu_Protobuf_Payload.Template.self))
            case (19, 2):
                _ = try nested(Org_Eclipse_Tahu_Protobuf_Payload.Metric.MetricValueExtension.self)
                metric.wire = .extension
            default: try skip(wireType, field: field)
            }
        }
        return metric
    }

    // MARK: Wire primitives

    /// A field's key: a 32-bit varint, so at most 5 bytes, however padded (the reference decoder
    /// refuses a longer one, even when its value would fit).
    private mutating func tag() throws(Malformed) -> (field: UInt64, wireType: UInt64) {
        let start = index
        let key = try varint()
        guard index - start <= 5 else { throw Malformed(description: "field tag longer than 5 bytes") }
        guard key <= UInt64(UInt32.max), key >> 3 != 0 else { throw Malformed(description: "invalid field tag \(key)") }
        return (key >> 3, key & 7)
    }

    private mutating func varint() throws(Malformed) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < end {
            let byte = bytes[index]
            index += 1
            guard shift < 64 else { throw Malformed(description: "varint longer than 10 bytes") }
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        throw Malformed(description: "truncated varint")
    }

    private mutating func fixed(_ width: Int) throws(Malformed) -> UInt64 {
        guard end - index >= width else { throw Malformed(description: "truncated \(width)-byte field") }
        var value: UInt64 = 0
        for offset in (0..<width).reversed() { value = value << 8 | UInt64(bytes[index + offset]) }
        index += width
        return value
    }

    private mutating func lengthDelimited() throws(Malformed) -> Range<Int> {
        let length = try varint()
        guard length <= UInt64(end - index) else { throw Malformed(description: "length \(length) runs past the message") }
        let range = index..<(index + Int(length))
        index = range.upperBound
        return range
    }

    private mutating func string() throws(Malformed) -> String {
        let range = try lengthDelimited()
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw Malformed(description: "a string field is not valid UTF-8")
        }
        return text
    }

    private mutating func nested<Message: SwiftProtobuf.Message>(_ type: Message.Type) throws(Malformed) -> Message {
        let range = try lengthDelimited()
        do {
            return try Message(serializedBytes: Array(bytes[range]))
        } catch {
            throw Malformed(description: "\(Message.protoMessageName): \(error)")
        }
    }

    private mutating func skip(_ wireType: UInt64, field: UInt64) throws(Malformed) {
        switch wireType {
        case 0: _ = try varint()
        case 1: _ = try fixed(8)
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed(4)
        case 3:  // a group of an unknown field: skip to the end tag of the same field
            while true {
                guard index < end else { throw Malformed(description: "group \(field) never ends") }
                let (innerField, inner) = try tag()
                if inner == 4 {
                    guard innerField == field else { throw Malformed(description: "group \(field) ended by \(innerField)") }
                    return
                }
                try skip(inner, field: innerField)
            }
        default: throw Malformed(description: "unexpected wire type \(wireType)")
        }
    }
}
