/// An OPC UA status code (Part 4 §7.39): the top two bits tell good, uncertain or bad.
public struct StatusCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible, UACodable {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public init(from reader: inout UAReader) throws(UADecodingError) { rawValue = try reader.uint32() }

    public func encode(to writer: inout UAWriter) { writer.uint32(rawValue) }

    public enum Severity: String, Sendable { case good, uncertain, bad }

    public var severity: Severity {
        switch rawValue >> 30 {
        case 0: .good
        case 1: .uncertain
        default: .bad
        }
    }

    public var isGood: Bool { severity == .good }
    public var isBad: Bool { severity == .bad }

    public static let good = StatusCode(rawValue: 0)
    public static let badTimeout = StatusCode(rawValue: 0x800A_0000)
    public static let badSecureChannelIdInvalid = StatusCode(rawValue: 0x8022_0000)
    public static let badSessionIdInvalid = StatusCode(rawValue: 0x8025_0000)
    public static let badSessionClosed = StatusCode(rawValue: 0x8026_0000)
    public static let badSubscriptionIdInvalid = StatusCode(rawValue: 0x8028_0000)
    public static let badNoSubscription = StatusCode(rawValue: 0x8079_0000)
    public static let badMessageNotAvailable = StatusCode(rawValue: 0x807B_0000)
    public static let badTooManyPublishRequests = StatusCode(rawValue: 0x8078_0000)
    public static let badFilterNotAllowed = StatusCode(rawValue: 0x8045_0000)
    public static let badMonitoredItemFilterUnsupported = StatusCode(rawValue: 0x8044_0000)
    public static let badDeadbandFilterInvalid = StatusCode(rawValue: 0x808E_0000)
    public static let badNodeIdUnknown = StatusCode(rawValue: 0x8034_0000)
    public static let badTypeMismatch = StatusCode(rawValue: 0x8074_0000)
    public static let badUserAccessDenied = StatusCode(rawValue: 0x801F_0000)
    public static let badIdentityTokenRejected = StatusCode(rawValue: 0x8021_0000)
    public static let badIdentityTokenInvalid = StatusCode(rawValue: 0x8020_0000)
    public static let badServiceUnsupported = StatusCode(rawValue: 0x800B_0000)
    public static let badCommunicationError = StatusCode(rawValue: 0x8005_0000)
    public static let badDecodingError = StatusCode(rawValue: 0x8007_0000)
    public static let badTcpMessageTooLarge = StatusCode(rawValue: 0x8080_0000)
    public static let badConnectionClosed = StatusCode(rawValue: 0x80AE_0000)
    public static let badResponseTooLarge = StatusCode(rawValue: 0x80B9_0000)
    public static let badNoMatch = StatusCode(rawValue: 0x806F_0000)
    public static let badTooManyMonitoredItems = StatusCode(rawValue: 0x80DB_0000)
    public static let badCertificateInvalid = StatusCode(rawValue: 0x8013_0000)
    public static let badCertificateUntrusted = StatusCode(rawValue: 0x801A_0000)
    public static let badSecurityChecksFailed = StatusCode(rawValue: 0x8010_0000)

    /// The names of the codes a client meets most, for messages people read.
    private static let names: [UInt32: String] = [
        0: "Good", 0x800A_0000: "BadTimeout", 0x8022_0000: "BadSecureChannelIdInvalid", 0x8025_0000: "BadSessionIdInvalid",
        0x8026_0000: "BadSessionClosed", 0x8028_0000: "BadSubscriptionIdInvalid", 0x8079_0000: "BadNoSubscription",
        0x807B_0000: "BadMessageNotAvailable", 0x8078_0000: "BadTooManyPublishRequests", 0x8045_0000: "BadFilterNotAllowed",
        0x8044_0000: "BadMonitoredItemFilterUnsupported", 0x808E_0000: "BadDeadbandFilterInvalid",
        0x8034_0000: "BadNodeIdUnknown", 0x8033_0000: "BadNodeIdInvalid", 0x8074_0000: "BadTypeMismatch",
        0x801F_0000: "BadUserAccessDenied", 0x8021_0000: "BadIdentityTokenRejected", 0x8020_0000: "BadIdentityTokenInvalid",
        0x800B_0000: "BadServiceUnsupported", 0x8005_0000: "BadCommunicationError", 0x8007_0000: "BadDecodingError",
        0x8080_0000: "BadTcpMessageTooLarge", 0x80AE_0000: "BadConnectionClosed", 0x803B_0000: "BadNotWritable",
        0x803A_0000: "BadNotReadable", 0x8035_0000: "BadAttributeIdInvalid", 0x800E_0000: "BadTooManyOperations",
        0x8002_0000: "BadInternalError", 0x8001_0000: "BadUnexpectedError", 0x8010_0000: "BadSecurityChecksFailed",
        0x8013_0000: "BadCertificateInvalid", 0x801A_0000: "BadCertificateUntrusted", 0x8055_0000: "BadSecurityPolicyRejected",
        0x8008_0000: "BadEncodingError", 0x8006_0000: "BadEncodingLimitsExceeded", 0x80AB_0000: "BadRequestTooLarge",
        0x80B9_0000: "BadResponseTooLarge", 0x4000_0000: "Uncertain", 0x8000_0000: "Bad", 0x8031_0000: "BadNoCommunication",
        0x8032_0000: "BadWaitingForInitialData", 0x8040_0000: "BadNothingToDo", 0x8076_0000: "BadOutOfRange",
        0x8086_0000: "BadTcpEndpointUrlInvalid", 0x80BE_0000: "BadMaxConnectionsReached", 0x806F_0000: "BadNoMatch", 0x80DB_0000: "BadTooManyMonitoredItems",
    ]

    public var description: String {
        let hex = String(rawValue, radix: 16, uppercase: true)
        let code = "0x" + String(repeating: "0", count: 8 - hex.count) + hex
        return Self.names[rawValue & 0xFFFF_0000].map { "\($0) (\(code))" } ?? code
    }
}

/// A point in time as OPC UA writes it: 100-nanosecond ticks since 1601-01-01 UTC (Part 6 §5.2.2.5).
public struct UADateTime: Hashable, Sendable, Comparable, UACodable {
    public var ticks: Int64

    /// Ticks between 1601-01-01 and 1970-01-01.
    static let unixEpochTicks: Int64 = 116_444_736_000_000_000

    public init(ticks: Int64) { self.ticks = ticks }

    public init(millisecondsSince1970 milliseconds: Int64) {
        ticks = milliseconds.multipliedReportingOverflow(by: 10_000).partialValue &+ Self.unixEpochTicks
    }

    public var millisecondsSince1970: Int64 { (ticks - Self.unixEpochTicks) / 10_000 }

    /// Whether it says "no time" (0, or the largest value, per §5.2.2.5).
    public var isUnset: Bool { ticks <= 0 || ticks == .max }

    public init(from reader: inout UAReader) throws(UADecodingError) { ticks = try reader.int64() }

    public func encode(to writer: inout UAWriter) { writer.int64(ticks) }

    public static func < (lhs: UADateTime, rhs: UADateTime) -> Bool { lhs.ticks < rhs.ticks }
}

/// A structure carried opaquely: its encoding's node id and its body (Part 6 §5.2.2.15).
public struct ExtensionObject: Hashable, Sendable, UACodable {
    public enum Body: Hashable, Sendable {
        case none
        case binary([UInt8])
        case xml(String)
    }

    public var typeId: NodeId
    public var body: Body

    public init(typeId: NodeId, body: Body) {
        self.typeId = typeId
        self.body = body
    }

    /// An object whose binary body is `value`'s encoding.
    public init(encodingId: UInt32, _ value: some UAEncodable) {
        self.init(typeId: NodeId(encodingId), body: .binary(value.encoded))
    }

    public static let empty = ExtensionObject(typeId: .null, body: .none)

    public init(from reader: inout UAReader) throws(UADecodingError) {
        typeId = try NodeId(from: &reader)
        switch try reader.byte() {
        case 0: body = .none
        case 1: body = .binary(try reader.byteString() ?? [])
        case 2: body = .xml(try reader.string() ?? "")
        case let other: throw reader.error("unknown ExtensionObject encoding \(other)")
        }
    }

    public func encode(to writer: inout UAWriter) {
        typeId.encode(to: &writer)
        switch body {
        case .none: writer.byte(0)
        case .binary(let bytes): writer.byte(1); writer.byteString(bytes)
        case .xml(let text): writer.byte(2); writer.string(text)
        }
    }

    /// Decodes the binary body as `T` when the type id is `encodingId`; nil otherwise.
    public func decode<T: UADecodable>(_: T.Type, encodingId: UInt32) throws(UADecodingError) -> T? {
        guard typeId == NodeId(encodingId), case .binary(let bytes) = body else { return nil }
        var reader = UAReader(bytes)
        return try T(from: &reader)
    }
}

/// Diagnostics a server may add to an answer (Part 6 §5.2.2.12). Read and kept, never asked for.
public indirect enum DiagnosticInfo: Hashable, Sendable, UACodable {
    case info(symbolicId: Int32?, namespaceURI: Int32?, locale: Int32?, localizedText: Int32?, additionalInfo: String?,
              innerStatus: StatusCode?, inner: DiagnosticInfo?)

    public static let empty = DiagnosticInfo.info(symbolicId: nil, namespaceURI: nil, locale: nil, localizedText: nil,
                                                  additionalInfo: nil, innerStatus: nil, inner: nil)

    public init(from reader: inout UAReader) throws(UADecodingError) {
        self = try reader.nested { (reader: inout UAReader) throws(UADecodingError) -> DiagnosticInfo in
            let mask = try reader.byte()
            let symbolicId = mask & 0x01 != 0 ? try reader.int32() : nil
            let namespaceURI = mask & 0x02 != 0 ? try reader.int32() : nil
            let locale = mask & 0x08 != 0 ? try reader.int32() : nil
            let localizedText = mask & 0x04 != 0 ? try reader.int32() : nil
            let additionalInfo = mask & 0x10 != 0 ? try reader.string() : nil
            let innerStatus = mask & 0x20 != 0 ? try StatusCode(from: &reader) : nil
            let inner = mask & 0x40 != 0 ? try DiagnosticInfo(from: &reader) : nil
            return .info(symbolicId: symbolicId, namespaceURI: namespaceURI, locale: locale, localizedText: localizedText,
                         additionalInfo: additionalInfo, innerStatus: innerStatus, inner: inner)
        }
    }

    public func encode(to writer: inout UAWriter) {
        guard case .info(let symbolicId, let namespaceURI, let locale, let localizedText, let additionalInfo, let innerStatus, let inner) = self else { return }
        var mask: UInt8 = 0
        if symbolicId != nil { mask |= 0x01 }
        if namespaceURI != nil { mask |= 0x02 }
        if localizedText != nil { mask |= 0x04 }
        if locale != nil { mask |= 0x08 }
        if additionalInfo != nil { mask |= 0x10 }
        if innerStatus != nil { mask |= 0x20 }
        if inner != nil { mask |= 0x40 }
        writer.byte(mask)
        if let symbolicId { writer.int32(symbolicId) }
        if let namespaceURI { writer.int32(namespaceURI) }
        if let locale { writer.int32(locale) }
        if let localizedText { writer.int32(localizedText) }
        if let additionalInfo { writer.string(additionalInfo) }
        if let innerStatus { innerStatus.encode(to: &writer) }
        if let inner { inner.encode(to: &writer) }
    }
}
