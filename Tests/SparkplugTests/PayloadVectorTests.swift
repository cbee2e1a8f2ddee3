import Foundation
@testable import Sparkplug
import Testing

/// Decodes every payload two third-party edge nodes produced (`../shared/testdata/sparkplug`) and
/// checks each field against the reading Google's `protoc --decode` gave for the same bytes.
@Suite struct PayloadVectorTests {
    struct Vector: Sendable {
        let topic: String
        let producer: String
        let payload: [UInt8]
        let expected: [TextField]
    }

    static let vectors: [Vector] = {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("shared/testdata/sparkplug/vectors.jsonl")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { line in
            let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let hex = object["payload_hex"] as! String
            let bytes = stride(from: 0, to: hex.count, by: 2).map { offset -> UInt8 in
                let start = hex.index(hex.startIndex, offsetBy: offset)
                return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
            }
            var parser = TextFormatParser(object["protoc_decoded"] as! String)
            return Vector(topic: object["topic"] as! String, producer: object["producer"] as! String, payload: bytes,
                          expected: parser.fields())
        }
    }()

    @Test func theVectorsArePresent() {
        #expect(Self.vectors.count == 17, "../shared/testdata/sparkplug/vectors.jsonl is missing or changed")
    }

    @Test(arguments: 0..<17)
    func decodesLikeProtoc(index: Int) throws {
        guard index < Self.vectors.count else { return }
        let vector = Self.vectors[index]
        let payload = try SparkplugPayload(decoding: vector.payload)
        var metrics = payload.metrics[...]
        for field in vector.expected {
            switch (field.name, field.value) {
            case ("timestamp", .scalar(let text)): #expect(payload.timestamp == UInt64(text), "\(vector.topic)")
            case ("seq", .scalar(let text)): #expect(payload.seq == UInt64(text), "\(vector.topic)")
            case ("metrics", .message(let fields)):
                let next = metrics.popFirst()
                let metric = try #require(next, "\(vector.topic): fewer metrics than protoc reads")
                try check(metric, against: fields, in: vector)
            default: Issue.record("\(vector.topic): unexpected top-level field \(field.name)")
            }
        }
        #expect(metrics.isEmpty, "\(vector.topic): more metrics than protoc reads")
        #expect(payload.serialized() == vector.payload, "\(vector.topic) (\(vector.producer)): re-encoding changes the bytes")
    }

    private func check(_ metric: SparkplugMetric, against fields: [TextField], in vector: Vector) throws {
        let context = "\(vector.topic) metric \(metric.name ?? "?")"
        for field in fields {
            guard case .scalar(let text) = field.value else {
                Issue.record("\(context): nested \(field.name) not expected in these vectors")
                continue
            }
            switch field.name {
            case "name": #expect(metric.name == text, "\(context)")
            case "alias": #expect(metric.alias == UInt64(text), "\(context)")
            case "timestamp": #expect(metric.timestamp == UInt64(text), "\(context)")
            case "datatype": #expect(metric.dataTypeCode == UInt32(text), "\(context)")
            case "is_historical": #expect(metric.isHistorical == (text == "true"), "\(context)")
            case "is_null": #expect(metric.isNull == (text == "true"), "\(context)")
            default:
                try checkValue(metric, field: field.name, text: text, context: context)
            }
        }
    }

    /// The raw field must be the one protoc saw, and the typed reading must agree with it.
    private func checkValue(_ metric: SparkplugMetric, field: String, text: String, context: String) throws {
        let value = try metric.value()
        switch (field, metric.wire, metric.dataType) {
        case ("int_value", .int(let raw)?, let type?):
            #expect(raw == UInt32(text), "\(context)")
            let expected: Int64 = switch type {
            case .int8: Int64(Int8(truncatingIfNeeded: raw))
            case .int16: Int64(Int16(truncatingIfNeeded: raw))
            case .int32: Int64(Int32(bitPattern: raw))
            default: Int64(raw)
            }
            #expect(value == .int(expected), "\(context)")
        case ("long_value", .long(let raw)?, let type?):
            #expect(raw == UInt64(text), "\(context)")
            switch type {
            case .uint64: #expect(value == .uint64(raw), "\(context)")
            case .dateTime: #expect(value == .dateTime(Int64(bitPattern: raw)), "\(context)")
            default: #expect(value == .int(Int64(bitPattern: raw)), "\(context)")
            }
        case ("float_value", .float(let raw)?, _):
            #expect(raw == Float(text), "\(context)")
            #expect(value == .float(Float(text)!), "\(context)")
        case ("double_value", .double(let raw)?, _):
            #expect(raw == Double(text), "\(context)")
            #expect(value == .double(Double(text)!), "\(context)")
        case ("boolean_value", .boolean(let raw)?, _):
            #expect(raw == (text == "true"), "\(context)")
            #expect(value == .boolean(text == "true"), "\(context)")
        case ("string_value", .string(let raw)?, _):
            #expect(raw == text, "\(context)")
            #expect(value == .string(text), "\(context)")
        default:
            Issue.record("\(context): protoc read \(field) \(text), we read \(String(describing: metric.wire))")
        }
    }
}

/// A field of protoc's text format: `name: scalar` or `name { … }`.
struct TextField: Sendable {
    enum Value: Sendable { case scalar(String), message([TextField]) }
    let name: String
    let value: Value
}

/// Reads the subset of protobuf text format `protoc --decode` prints for these payloads (strings
/// here hold no escapes).
struct TextFormatParser {
    private var lines: ArraySlice<Substring>

    init(_ text: String) { lines = text.split(separator: "\n")[...] }

    mutating func fields() -> [TextField] {
        var fields: [TextField] = []
        while let line = lines.popFirst()?.trimmingCharacters(in: .whitespaces) {
            if line == "}" { break }
            if line.hasSuffix("{") {
                fields.append(TextField(name: String(line.dropLast(2)), value: .message(self.fields())))
            } else if let colon = line.firstIndex(of: ":") {
                var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                fields.append(TextField(name: String(line[..<colon]), value: .scalar(value)))
            }
        }
        return fields
    }
}
