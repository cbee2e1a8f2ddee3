/// A domain rule broken by some input: a bad path, tag name, value or timestamp.
///
/// `code` is stable for metrics and API clients; `message` says what was wrong in plain words.
public struct ModelError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of rule was broken.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let invalidPath = Code("invalid_path")
        public static let invalidTag = Code("invalid_tag")
        public static let invalidValue = Code("invalid_value")
        public static let invalidTimestamp = Code("invalid_timestamp")
        public static let typeMismatch = Code("type_mismatch")
        public static let limitExceeded = Code("limit_exceeded")
        public static let invalid = Code("invalid")
        public static let forbidden = Code("forbidden")
        public static let notFound = Code("not_found")
        public static let unavailable = Code("unavailable")
        /// The machine is retired: it keeps its history and takes no new data.
        public static let retired = Code("retired")
        /// The change collides with something that exists (a machine at the target path, a tag's value type).
        public static let conflict = Code("conflict")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
