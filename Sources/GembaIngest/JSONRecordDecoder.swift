public import GembaCore

/// Decodes Gemba's JSON telemetry formats: the MQTT topic convention and HTTP ingest batches.
///
/// A record is `{"ts": <epoch ms or RFC 3339>, "quality": "good", "values": {"tag": <scalar>, …}}`;
/// a value may also be `{"value": <scalar>, "quality": …, "unit": …, "ts": …}`. `ts` defaults to
/// the time of receipt. JSON integers become `int` samples for counter-like tags (`*_count`, `*_total`)
/// and `double` otherwise; a tag registered as `int` accepts integral numbers.
public struct JSONRecordDecoder: Sendable {
    public var validation: SampleValidation

    /// The topic prefix of the MQTT convention.
    public static let topicPrefix = "gemba/v1/"

    public init(validation: SampleValidation = SampleValidation()) { self.validation = validation }

    /// Decodes an MQTT message published under `gemba/v1/`:
    /// `gemba/v1/<site>/[<area>/]<line>/<machine>` with a record object, or
    /// `gemba/v1/<site>/[<area>/]<line>/<machine>/<tag>` with a bare JSON scalar.
    /// A 4-segment topic is a machine (with area) when the payload is an object, a tag otherwise.
    public func decodeMQTT(topic: String, payload: some Collection<UInt8>, tenant: TenantID, now: Timestamp) -> DecodedPoints {
        guard topic.hasPrefix(Self.topicPrefix) else {
            return DecodedPoints(errors: [PointError(location: topic, code: .invalidPath,
                                                     message: "topic is not under \(Self.topicPrefix)")])
        }
        let segments = topic.dropFirst(Self.topicPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
            .map { String($0) }
        let json: JSONValue
        do {
            json = try JSONParser.parse(payload)
        } catch {
            return DecodedPoints(errors: [PointError(location: topic, code: PointError.malformed, message: error.description)])
        }
        var out = DecodedPoints()
        if case .object = json, segments.count == 3 || segments.count == 4 {
            do {
                let machine = try AssetPath(segments: segments[...])
                decodeRecord(json, machine: machine, tenant: tenant, now: now, location: topic, into: &out)
            } catch {
                out.errors.append(PointError(location: topic, error))
            }
            return out
        }
        guard segments.count == 4 || segments.count == 5 else {
            out.errors.append(PointError(location: topic, code: .invalidPath, message:
                "expected gemba/v1/<site>/[<area>/]<line>/<machine> with an object or …/<machine>/<tag> with a scalar"))
            return out
        }
        do {
            let machine = try AssetPath(segments: segments.dropLast())
            let tag = segments[segments.count - 1]
            try Tag.validate(name: tag)
            let value = try scalar(json, tag: tag)
            try validation.check(value: value)
            try validation.check(time: now, now: now)
            out.points.append(Point(series: SeriesKey(tenant: tenant, machine: machine, tag: tag), sample: Sample(time: now, value: value)))
        } catch {
            out.errors.append(PointError(location: topic, error))
        }
        return out
    }

    /// Decodes an HTTP ingest body: `{"records": [record, …]}` or a bare array of records,
    /// each record naming its machine (`"machine": "site/[area/]line/machine"`).
    public func decodeBatch(_ body: some Collection<UInt8>, tenant: TenantID, now: Timestamp) -> DecodedPoints {
        let json: JSONValue
        do {
            json = try JSONParser.parse(body)
        } catch {
            return DecodedPoints(errors: [PointError(location: "body", code: PointError.malformed, message: error.description)])
        }
        let records: [JSONValue]
        switch json {
        case .array(let elements): records = elements
        case .object where json["records"] != nil:
            guard case .array(let elements)? = json["records"] else {
                return DecodedPoints(errors: [PointError(location: "records", code: PointError.malformed,
                                                         message: "'records' must be an array")])
            }
            records = elements
        default:
            return DecodedPoints(errors: [PointError(location: "body", code: PointError.malformed,
                                                     message: "expected {\"records\": [...]} or an array of records")])
        }
        var out = DecodedPoints()
        for (index, record) in records.enumerated() {
            let location = "records[\(index)]"
            guard case .string(let path)? = record["machine"] else {
                out.errors.append(PointError(location: location + ".machine", code: .invalidPath,
                                             message: "each record needs \"machine\": \"site/[area/]line/machine\""))
                continue
            }
            do {
                let machine = try AssetPath(path)
                decodeRecord(record, machine: machine, tenant: tenant, now: now, location: location, into: &out)
            } catch {
                out.errors.append(PointError(location: location + ".machine", error))
            }
        }
        return out
    }

    /// Decodes one record object of one machine.
    func decodeRecord(_ record: JSONValue, machine: AssetPath, tenant: TenantID, now: Timestamp, location: String,
                      into out: inout DecodedPoints) {
        guard case .object = record else {
            out.errors.append(PointError(location: location, code: PointError.malformed, message: "a record must be an object"))
            return
        }
        let time: Timestamp
        let quality: Quality
        do {
            time = try timestamp(record["ts"], default: now)
            try validation.check(time: time, now: now)
            quality = try self.quality(record["quality"])
        } catch {
            out.errors.append(PointError(location: location + ".ts", error))
            return
        }
        guard case .object(let values)? = record["values"] else {
            out.errors.append(PointError(location: location + ".values", code: PointError.malformed,
                                         message: "a record needs \"values\": {\"tag\": value, …}"))
            return
        }
        for (tag, raw) in values {
            let where_ = "\(location).values.\(tag)"
            do throws(ModelError) {
                try Tag.validate(name: tag)
                var sample = Sample(time: time, value: .bool(false), quality: quality)
                var unit: String?
                if case .object = raw {
                    guard let inner = raw["value"] else {
                        throw ModelError(.invalidValue, "an object value needs a \"value\" member")
                    }
                    sample.value = try scalar(inner, tag: tag)
                    sample.time = try timestamp(raw["ts"], default: time)
                    try validation.check(time: sample.time, now: now)
                    sample.quality = raw["quality"] == nil ? quality : try self.quality(raw["quality"])
                    if case .string(let text)? = raw["unit"] { unit = text }
                } else {
                    sample.value = try scalar(raw, tag: tag)
                }
                try validation.check(value: sample.value)
                out.points.append(Point(series: SeriesKey(tenant: tenant, machine: machine, tag: tag), sample: sample, unit: unit))
            } catch {
                out.errors.append(PointError(location: where_, error))
            }
        }
    }

    func scalar(_ json: JSONValue, tag: String) throws(ModelError) -> SampleValue {
        switch json {
        case .bool(let flag): return .bool(flag)
        case .string(let text): return .string(text)
        case .number(let number): return .double(number)
        case .integer(let integer):
            return Tag.inferredKind(name: tag, valueType: .int) == .counter ? .int(integer) : .double(Double(integer))
        case .null: throw ModelError(.invalidValue, "null is not a value")
        case .array, .object: throw ModelError(.invalidValue, "expected a number, boolean or string")
        }
    }

    func timestamp(_ json: JSONValue?, default now: Timestamp) throws(ModelError) -> Timestamp {
        switch json {
        case nil, .null?: return now
        case .integer(let millis)?: return Timestamp(millisecondsSinceEpoch: millis)
        case .number(let millis)? where millis.isFinite && millis.rounded() == millis && abs(millis) < 1e15:
            return Timestamp(millisecondsSinceEpoch: Int64(millis))
        case .string(let text)?:
            guard let time = Timestamp(rfc3339: text) else {
                throw ModelError(.invalidTimestamp, "'\(text)' is not an RFC 3339 date-time")
            }
            return time
        default:
            throw ModelError(.invalidTimestamp, "\"ts\" must be epoch milliseconds or an RFC 3339 string")
        }
    }

    func quality(_ json: JSONValue?) throws(ModelError) -> Quality {
        switch json {
        case nil: return .good
        case .string(let name)?:
            guard let quality = Quality(name: name) else {
                throw ModelError(.invalidValue, "quality must be good, uncertain or bad, got '\(name)'")
            }
            return quality
        default: throw ModelError(.invalidValue, "quality must be a string")
        }
    }
}
