/// The wire form of accepted samples between Gemba nodes: what one node relays to the others
/// (through the broker they share), so that live views on every node show what any node
/// ingested, and what a commit appends to the alarm feed (PostgreSQL), which the node evaluating
/// alarms reads.
///
/// Version 1, all integers little-endian, counts and lengths as LEB128 varints:
///
///     0x01
///     series count, then per series: id, tenant, machine path, tag (each string: length, UTF-8)
///     sample count, then per sample: series index, time (ms, 8 bytes), quality (1 byte),
///       value kind (0 double, 1 int, 2 bool, 3 string), value (8 bytes, 8 bytes, 1 byte, string)
///
/// Each series is written once per batch, however many of its samples follow.
public enum LiveBatch {
    static let version: UInt8 = 1

    /// Why bytes are not a live batch.
    public struct DecodingError: Error, CustomStringConvertible, Equatable {
        public let description: String

        public init(description: String) { self.description = description }
    }

    /// Encodes `samples`, in their order.
    public static func encode(_ samples: [AcceptedSample]) -> [UInt8] {
        var writer = Writer()
        writer.bytes.reserveCapacity(16 + samples.count * 20)
        writer.bytes.append(version)
        var indices: [Int64: Int] = [:]
        var series: [AcceptedSample] = []
        for sample in samples where indices[sample.seriesID] == nil {
            indices[sample.seriesID] = series.count
            series.append(sample)
        }
        writer.varint(UInt64(series.count))
        for first in series {
            writer.varint(UInt64(bitPattern: first.seriesID))
            writer.string(first.key.tenant.rawValue)
            writer.string(first.key.machine.description)
            writer.string(first.key.tag)
        }
        writer.varint(UInt64(samples.count))
        for sample in samples {
            writer.varint(UInt64(indices[sample.seriesID]!))
            writer.fixed(UInt64(bitPattern: sample.sample.time.millisecondsSinceEpoch))
            writer.bytes.append(sample.sample.quality.rawValue)
            switch sample.sample.value {
            case .double(let value):
                writer.bytes.append(0)
                writer.fixed(value.bitPattern)
            case .int(let value):
                writer.bytes.append(1)
                writer.fixed(UInt64(bitPattern: value))
            case .bool(let value):
                writer.bytes.append(2)
                writer.bytes.append(value ? 1 : 0)
            case .string(let value):
                writer.bytes.append(3)
                writer.string(value)
            }
        }
        return writer.bytes
    }

    /// Decodes a batch; throws ``DecodingError`` for anything that is not a whole, valid batch.
    public static func decode(_ bytes: some Collection<UInt8>) throws(DecodingError) -> [AcceptedSample] {
        var reader = Reader(bytes: Array(bytes))
        guard try reader.byte() == version else { throw DecodingError(description: "unknown live batch version") }
        let seriesCount = try reader.count()
        var series: [(id: Int64, key: SeriesKey)] = []
        series.reserveCapacity(seriesCount)
        // A machine's tags follow one another: its path is checked once per batch, not once per tag.
        var machines: [String: AssetPath] = [:]
        for _ in 0..<seriesCount {
            let id = Int64(bitPattern: try reader.varint())
            guard let tenant = TenantID(try reader.string()) else { throw DecodingError(description: "invalid tenant") }
            let path = try reader.string()
            let machine: AssetPath
            if let known = machines[path] {
                machine = known
            } else {
                guard let parsed = try? AssetPath(path) else { throw DecodingError(description: "invalid machine path \(path)") }
                machines[path] = parsed
                machine = parsed
            }
            series.append((id, SeriesKey(tenant: tenant, machine: machine, tag: try reader.string())))
        }
        let sampleCount = try reader.count()
        var samples: [AcceptedSample] = []
        samples.reserveCapacity(sampleCount)
        for _ in 0..<sampleCount {
            let index = try reader.varint()
            guard index < UInt64(series.count) else { throw DecodingError(description: "series index out of range") }
            let time = Timestamp(millisecondsSinceEpoch: Int64(bitPattern: try reader.fixed()))
            guard let quality = Quality(rawValue: try reader.byte()) else { throw DecodingError(description: "invalid quality") }
            let value: SampleValue
            switch try reader.byte() {
            case 0:
                let number = Double(bitPattern: try reader.fixed())
                guard number.isFinite else { throw DecodingError(description: "a double that is not finite") }
                value = .double(number)
            case 1: value = .int(Int64(bitPattern: try reader.fixed()))
            case 2: value = .bool(try reader.byte() != 0)
            case 3: value = .string(try reader.string())
            default: throw DecodingError(description: "unknown value kind")
            }
            let (id, key) = series[Int(index)]
            samples.append(AcceptedSample(seriesID: id, key: key,
                                          sample: Sample(time: time, value: value, quality: quality)))
        }
        guard reader.atEnd else { throw DecodingError(description: "bytes after the last sample") }
        return samples
    }

    private struct Writer {
        var bytes: [UInt8] = []

        mutating func varint(_ value: UInt64) {
            var value = value
            while value >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }

        mutating func fixed(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }

        mutating func string(_ text: String) {
            let utf8 = Array(text.utf8)
            varint(UInt64(utf8.count))
            bytes += utf8
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var atEnd: Bool { offset == bytes.count }

        mutating func byte() throws(DecodingError) -> UInt8 {
            guard offset < bytes.count else { throw DecodingError(description: "truncated live batch") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func varint() throws(DecodingError) -> UInt64 {
            var value: UInt64 = 0
            for shift in stride(from: UInt64(0), to: 64, by: 7) {
                let next = try byte()
                value |= UInt64(next & 0x7F) << shift
                if next < 0x80 { return value }
            }
            throw DecodingError(description: "varint too long")
        }

        /// A count or a length: a varint no larger than what the remaining bytes could hold.
        mutating func count() throws(DecodingError) -> Int {
            let value = try varint()
            guard value <= UInt64(bytes.count - offset) + 1 else { throw DecodingError(description: "count larger than the batch") }
            return Int(value)
        }

        mutating func fixed() throws(DecodingError) -> UInt64 {
            guard bytes.count - offset >= 8 else { throw DecodingError(description: "truncated live batch") }
            var value: UInt64 = 0
            for index in 0..<8 { value |= UInt64(bytes[offset + index]) << UInt64(8 * index) }
            offset += 8
            return value
        }

        mutating func string() throws(DecodingError) -> String {
            let length = try count()
            guard bytes.count - offset >= length else { throw DecodingError(description: "truncated live batch") }
            defer { offset += length }
            guard let text = String(validating: bytes[offset..<offset + length], as: UTF8.self) else {
                throw DecodingError(description: "a string that is not UTF-8")
            }
            return text
        }
    }
}
