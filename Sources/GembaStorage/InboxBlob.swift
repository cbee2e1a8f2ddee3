internal import GembaCore

/// The inbox keeps each commit's new samples as one BLOB: recovery is its only reader, so one
/// row per commit (not per sample) is all the writer pays.
///
/// Layout, little-endian, per sample:
///
///     series: Int64 | time: Int64 | quality: UInt8 | kind: UInt8 | value
///
/// `kind` 0 = double (8 bytes, IEEE 754 bits), 1 = int (8 bytes), 2 = bool (1 byte),
/// 3 = string (UInt32 length, then UTF-8 bytes).
enum InboxBlob {
    static func encode(_ samples: [SeriesSample]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(samples.count * 26)
        func put(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        for entry in samples {
            put(UInt64(bitPattern: entry.series))
            put(UInt64(bitPattern: entry.sample.time.millisecondsSinceEpoch))
            out.append(entry.sample.quality.rawValue)
            switch entry.sample.value {
            case .double(let number): out.append(0); put(number.bitPattern)
            case .int(let number): out.append(1); put(UInt64(bitPattern: number))
            case .bool(let flag): out.append(2); out.append(flag ? 1 : 0)
            case .string(let text):
                out.append(3)
                withUnsafeBytes(of: UInt32(text.utf8.count).littleEndian) { out.append(contentsOf: $0) }
                out.append(contentsOf: text.utf8)
            }
        }
        return out
    }

    /// Decodes a blob; nil when it is damaged (a torn write cannot happen inside a committed row, but a bug could).
    static func decode(_ bytes: [UInt8]) -> [SeriesSample]? {
        var result: [SeriesSample] = []
        var index = 0
        func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard index + count <= bytes.count else { return nil }
            defer { index += count }
            return bytes[index..<index + count]
        }
        func u64() -> UInt64? {
            guard let slice = take(8) else { return nil }
            return slice.reversed().reduce(0) { $0 << 8 | UInt64($1) }
        }
        while index < bytes.count {
            guard let series = u64(), let time = u64(), let flags = take(2),
                  let quality = Quality(rawValue: flags.first!) else { return nil }
            let value: SampleValue
            switch flags.last! {
            case 0: guard let bits = u64() else { return nil }; value = .double(Double(bitPattern: bits))
            case 1: guard let bits = u64() else { return nil }; value = .int(Int64(bitPattern: bits))
            case 2: guard let flag = take(1) else { return nil }; value = .bool(flag.first! != 0)
            case 3:
                guard let length = take(4), case let count = Int(length.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }),
                      let text = take(count), let string = String(validating: text, as: UTF8.self) else { return nil }
                value = .string(string)
            default: return nil
            }
            result.append(SeriesSample(series: Int64(bitPattern: series),
                                       sample: Sample(time: Timestamp(millisecondsSinceEpoch: Int64(bitPattern: time)), value: value,
                                                      quality: quality)))
        }
        return result
    }
}
