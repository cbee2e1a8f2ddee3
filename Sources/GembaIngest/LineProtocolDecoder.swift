public import GembaCore

/// Decodes the InfluxDB line protocol as Telegraf's `outputs.influxdb` and `outputs.influxdb_v2` send it:
///
///     measurement[,tag=value…] field=value[,field=value…] [timestamp]
///
/// Mapping to Gemba (documented in the README):
/// - the machine comes from the tags `site`, `area` (optional), `line` and `machine`; `machine` may
///   also hold a whole path (`plant1/line3/press-7`); missing leading segments are taken from the
///   request's bucket/database when it names `site/[area/]line`;
/// - each field becomes the tag `<measurement>.<field>`; characters a tag name cannot hold become `_`;
/// - other tags (`host`, …) are not stored; floats → double, `i`/`u` integers → int, booleans → bool,
///   strings → string; a missing timestamp means the time of receipt.
/// Bad lines are reported with their number and skipped; the other lines are kept.
public struct LineProtocolDecoder: Sendable {
    /// The unit of the timestamps in the body.
    public enum Precision: Sendable {
        case nanoseconds, microseconds, milliseconds, seconds, minutes, hours

        /// Parses `ns`/`n`, `us`/`u`, `ms`, `s`, `m`, `h` (v1 and v2 spellings); `nil` for anything else.
        public init?(_ text: String?) {
            switch text {
            case nil, "", "ns", "n": self = .nanoseconds
            case "us", "u": self = .microseconds
            case "ms": self = .milliseconds
            case "s": self = .seconds
            case "m": self = .minutes
            case "h": self = .hours
            default: return nil
            }
        }

        func milliseconds(_ value: Int64) -> Int64? {
            switch self {
            case .nanoseconds: return value.dividedFloor(1_000_000)
            case .microseconds: return value.dividedFloor(1000)
            case .milliseconds: return value
            case .seconds: return value.multipliedReportingOverflow(by: 1000).overflow ? nil : value * 1000
            case .minutes: return value.multipliedReportingOverflow(by: 60_000).overflow ? nil : value * 60_000
            case .hours: return value.multipliedReportingOverflow(by: 3_600_000).overflow ? nil : value * 3_600_000
            }
        }
    }

    public var validation: SampleValidation

    public init(validation: SampleValidation = SampleValidation()) { self.validation = validation }

    /// Decodes a whole request body. `defaultLine` (`site/[area/]line`, from the bucket or database)
    /// completes machine tags that name only the machine.
    public func decode(_ body: some Collection<UInt8>, precision: Precision, defaultLine: String?, tenant: TenantID,
                       now: Timestamp) -> DecodedPoints {
        var out = DecodedPoints()
        let prefix = defaultLine.map { $0.split(separator: "/").map(String.init) } ?? []
        let bytes = Array(body)
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = bytes[start..<lineEnd]
            start = end + 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) || line.first == UInt8(ascii: "#") {
                continue
            }
            do {
                var parser = LineParser(bytes: line)
                let parsed = try parser.parse()
                try append(parsed, precision: precision, prefix: prefix, tenant: tenant, now: now, into: &out)
            } catch {
                out.errors.append(PointError(location: "line \(lineNumber)", error))
            }
        }
        return out
    }

    private func append(_ line: ParsedLine, precision: Precision, prefix: [String], tenant: TenantID, now: Timestamp,
                        into out: inout DecodedPoints) throws(ModelError) {
        let machine = try machinePath(tags: line.tags, prefix: prefix)
        var time = now
        if let raw = line.timestamp {
            guard let millis = precision.milliseconds(raw) else { throw ModelError(.invalidTimestamp, "timestamp out of range") }
            time = Timestamp(millisecondsSinceEpoch: millis)
        }
        try validation.check(time: time, now: now)
        var points: [Point] = []
        for (field, value) in line.fields {
            let name = Self.tagName(measurement: line.measurement, field: field)
            try Tag.validate(name: name)
            do {
                try validation.check(value: value)
            } catch {
                throw ModelError(error.code, "field \(field): \(error.message)")
            }
            points.append(Point(series: SeriesKey(tenant: tenant, machine: machine, tag: name), sample: Sample(time: time, value: value)))
        }
        out.points += points
    }

    /// `<measurement>.<field>`, with every character a tag name cannot hold replaced by `_`.
    static func tagName(measurement: String, field: String) -> String {
        let raw = measurement + "." + field
        return String(decoding: raw.utf8.map { AssetPath.isAllowed($0) ? $0 : UInt8(ascii: "_") }, as: UTF8.self)
    }

    private func machinePath(tags: [(String, String)], prefix: [String]) throws(ModelError) -> AssetPath {
        func tag(_ name: String) -> String? { tags.first { $0.0 == name }?.1 }
        guard let machine = tag("machine") else {
            throw ModelError(.invalidPath, "no 'machine' tag: add the tags site, line and machine (see the README's line protocol mapping)")
        }
        if machine.contains("/") { return try AssetPath(machine) }
        if let site = tag("site"), let line = tag("line") {
            return try AssetPath(site: site, area: tag("area"), line: line, machine: machine)
        }
        guard prefix.count == 2 || prefix.count == 3 else {
            throw ModelError(.invalidPath, "tag machine=\(machine) needs the tags site and line, or a bucket/database named site/[area/]line")
        }
        return try AssetPath(segments: (prefix + [machine])[...])
    }
}

struct ParsedLine {
    var measurement: String
    var tags: [(String, String)]
    var fields: [(String, SampleValue)]
    var timestamp: Int64?
}

/// Parses one line of line protocol, with its escaping rules.
private struct LineParser {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    mutating func parse() throws(ModelError) -> ParsedLine {
        let measurement = try token(stops: [UInt8(ascii: ","), UInt8(ascii: " ")], what: "measurement")
        var tags: [(String, String)] = []
        while peek == UInt8(ascii: ",") {
            index += 1
            let key = try token(stops: [UInt8(ascii: "=")], what: "tag key")
            try expect("=", after: "tag key \(key)")
            let value = try token(stops: [UInt8(ascii: ","), UInt8(ascii: " ")], what: "value of tag \(key)")
            tags.append((key, value))
        }
        try expect(" ", after: "measurement and tags")
        var fields: [(String, SampleValue)] = []
        repeat {
            if !fields.isEmpty { index += 1 }
            let key = try token(stops: [UInt8(ascii: "=")], what: "field key")
            try expect("=", after: "field key \(key)")
            fields.append((key, try fieldValue(key)))
        } while peek == UInt8(ascii: ",")
        var timestamp: Int64?
        if peek == UInt8(ascii: " ") {
            while peek == UInt8(ascii: " ") { index += 1 }
            if index < bytes.endIndex {
                let text = String(decoding: bytes[index...], as: UTF8.self).trimmingSuffixSpaces()
                guard let value = Int64(text) else { throw ModelError(.invalidTimestamp, "timestamp '\(text)' is not an integer") }
                timestamp = value
                index = bytes.endIndex
            }
        }
        guard index == bytes.endIndex else { throw ModelError(.invalidValue, "unexpected text after the fields") }
        return ParsedLine(measurement: measurement, tags: tags, fields: fields, timestamp: timestamp)
    }

    var peek: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

    mutating func expect(_ character: Unicode.Scalar, after what: String) throws(ModelError) {
        guard peek == UInt8(ascii: character) else {
            throw ModelError(.invalidValue, "expected '\(character == " " ? "space" : String(character))' after \(what)")
        }
        index += 1
    }

    /// Reads up to an unescaped stop byte; `\` escapes the next byte.
    mutating func token(stops: [UInt8], what: String) throws(ModelError) -> String {
        var out: [UInt8] = []
        while let byte = peek, !stops.contains(byte), byte != UInt8(ascii: " ") {
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.endIndex {
                out.append(bytes[index + 1])
                index += 2
                continue
            }
            out.append(byte)
            index += 1
        }
        guard !out.isEmpty else { throw ModelError(.invalidValue, "missing \(what)") }
        guard let text = String(validating: out, as: UTF8.self) else { throw ModelError(.invalidValue, "\(what) is not UTF-8") }
        return text
    }

    mutating func fieldValue(_ key: String) throws(ModelError) -> SampleValue {
        if peek == UInt8(ascii: "\"") {
            index += 1
            var out: [UInt8] = []
            while let byte = peek {
                index += 1
                if byte == UInt8(ascii: "\\"), let next = peek, next == UInt8(ascii: "\"") || next == UInt8(ascii: "\\") {
                    out.append(next)
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    guard let text = String(validating: out, as: UTF8.self) else {
                        throw ModelError(.invalidValue, "field \(key): string is not UTF-8")
                    }
                    return .string(text)
                } else {
                    out.append(byte)
                }
            }
            throw ModelError(.invalidValue, "field \(key): unterminated string")
        }
        let start = index
        while let byte = peek, byte != UInt8(ascii: ","), byte != UInt8(ascii: " ") { index += 1 }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        switch text {
        case "t", "T", "true", "True", "TRUE": return .bool(true)
        case "f", "F", "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if text.hasSuffix("i"), let integer = Int64(text.dropLast()) { return .int(integer) }
        if text.hasSuffix("u") {
            guard let unsigned = UInt64(text.dropLast()), let integer = Int64(exactly: unsigned) else {
                throw ModelError(.invalidValue, "field \(key): unsigned value '\(text)' out of range")
            }
            return .int(integer)
        }
        guard !text.isEmpty, let number = Double(text), text.first != "+", !text.lowercased().contains("n") else {
            throw ModelError(.invalidValue, "field \(key): '\(text)' is not a number, boolean or quoted string")
        }
        guard number.isFinite else { throw ModelError(.invalidValue, "field \(key): value \(text) is not finite") }
        return .double(number)
    }
}

extension String {
    fileprivate func trimmingSuffixSpaces() -> String {
        var text = self
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}

extension Int64 {
    fileprivate func dividedFloor(_ divisor: Int64) -> Int64 {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? quotient - 1 : quotient
    }
}
