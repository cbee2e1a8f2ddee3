public import GembaCore

/// One rejected input item: where it was (`line 3`, `records[2].values.temp`) and why.
public struct PointError: Error, Hashable, Sendable, CustomStringConvertible {
    public var location: String
    public var code: ModelError.Code
    public var message: String

    public init(location: String, code: ModelError.Code, message: String) {
        self.location = location
        self.code = code
        self.message = message
    }

    public init(location: String, _ error: ModelError) {
        self.init(location: location, code: error.code, message: error.message)
    }

    public var description: String { "\(location): \(message)" }

    /// The input could not be parsed at all.
    public static let malformed = ModelError.Code("malformed")
}

/// What a decoder made of one payload: the valid points and a reason for every rejected item.
public struct DecodedPoints: Sendable {
    public var points: [Point] = []
    public var errors: [PointError] = []

    public init(points: [Point] = [], errors: [PointError] = []) {
        self.points = points
        self.errors = errors
    }
}

/// The checks every source applies to a sample before it enters the pipeline.
public struct SampleValidation: Sendable, Hashable {
    /// How far in the past a timestamp may lie, in ms (default 30 days).
    public var maxAge: Int64
    /// How far in the future a timestamp may lie, in ms (default 5 minutes, for clock skew).
    public var maxLead: Int64
    /// Longest string value, in UTF-8 bytes.
    public var maxStringLength: Int

    public init(maxAge: Int64 = 30 * TenantLimits.day, maxLead: Int64 = 5 * 60_000, maxStringLength: Int = 1024) {
        self.maxAge = maxAge
        self.maxLead = maxLead
        self.maxStringLength = maxStringLength
    }

    /// Throws unless `time` lies within the accepted window around `now`.
    public func check(time: Timestamp, now: Timestamp) throws(ModelError) {
        let delta = time.millisecondsSinceEpoch.clampedSubtracting(now.millisecondsSinceEpoch)
        if delta > maxLead {
            throw ModelError(.invalidTimestamp, "timestamp \(time.rfc3339) is more than \(maxLead / 1000) s in the future")
        }
        if delta < -maxAge {
            throw ModelError(.invalidTimestamp, "timestamp \(time.rfc3339) is older than the accepted \(maxAge / 86_400_000) days")
        }
    }

    /// Throws for NaN and infinite doubles and for oversized strings.
    public func check(value: SampleValue) throws(ModelError) {
        switch value {
        case .double(let number) where !number.isFinite:
            throw ModelError(.invalidValue, "value \(number) is not a finite number")
        case .string(let text) where text.utf8.count > maxStringLength:
            throw ModelError(.invalidValue, "string value longer than \(maxStringLength) bytes")
        default:
            return
        }
    }
}
