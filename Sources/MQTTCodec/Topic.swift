/// The MQTT topic rules (MQTT 5.0 §4.7): validation of topic names and filters, matching, and shared subscriptions.
public enum Topic {
    /// Longest topic name or filter, in UTF-8 bytes.
    public static let maximumLength = 65_535

    /// Checks a topic name a PUBLISH may carry: 1–65,535 bytes, no `+`, `#` or U+0000.
    public static func validateName(_ name: String) throws(MQTTCodecError) {
        let bytes = name.utf8
        guard !bytes.isEmpty else { throw .init(.topicNameInvalid, "topic name is empty") }
        guard bytes.count <= maximumLength else { throw .init(.topicNameInvalid, "topic name is too long") }
        for byte in bytes where byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") || byte == 0 {
            throw .init(.topicNameInvalid, "topic name '\(name)' contains a wildcard or NUL")
        }
    }

    /// Checks a topic filter a SUBSCRIBE may carry, including `$share/<group>/<filter>`.
    public static func validateFilter(_ filter: String) throws(MQTTCodecError) {
        guard !filter.utf8.isEmpty else { throw .init(.topicFilterInvalid, "topic filter is empty") }
        guard filter.utf8.count <= maximumLength else { throw .init(.topicFilterInvalid, "topic filter is too long") }
        if filter.utf8.contains(0) { throw .init(.topicFilterInvalid, "topic filter contains U+0000") }
        if filter.hasPrefix("$share/") || filter == "$share" {
            guard SharedSubscription(filter) != nil else {
                throw .init(.topicFilterInvalid, "'\(filter)' is not $share/<group>/<filter>")
            }
            return
        }
        try validateFilterLevels(filter)
    }

    static func validateFilterLevels(_ filter: String) throws(MQTTCodecError) {
        let levels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains(UInt8(ascii: "#")) {
                guard level.count == 1, index == levels.count - 1 else {
                    throw .init(.topicFilterInvalid, "'#' must be the whole last level in '\(filter)'")
                }
            }
            if level.contains(UInt8(ascii: "+")), level.count != 1 {
                throw .init(.topicFilterInvalid, "'+' must occupy a whole level in '\(filter)'")
            }
        }
    }

    /// Whether `filter` (not a shared one) matches the topic `name`.
    ///
    /// Filters starting with a wildcard do not match topics starting with `$`.
    public static func matches(filter: String, name: String) -> Bool {
        var filterLevels = filter.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        var nameLevels = name.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        if name.utf8.first == UInt8(ascii: "$"), let first = filter.utf8.first,
           first == UInt8(ascii: "+") || first == UInt8(ascii: "#") {
            return false
        }
        while let level = filterLevels.popFirst() {
            if level.elementsEqual("#".utf8) { return true }
            guard let nameLevel = nameLevels.popFirst() else { return false }
            if level.elementsEqual("+".utf8) { continue }
            if !level.elementsEqual(nameLevel) { return false }
        }
        return nameLevels.isEmpty
    }

    /// Whether every topic `filter` matches is also matched by `pattern` (both plain filters).
    public static func covers(_ pattern: String, _ filter: String) -> Bool {
        let p = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let f = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in p.enumerated() {
            if level == "#" { return !(index == 0 && f.first?.first == "$") }
            guard index < f.count else { return false }
            if level == "+" {
                if f[index] == "#" || (index == 0 && f[index].first == "$") { return false }
                continue
            }
            if level != f[index] { return false }
        }
        return p.count == f.count
    }

    /// Whether some topic name is matched by both filters.
    public static func overlaps(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: "/", omittingEmptySubsequences: false)
        let y = b.split(separator: "/", omittingEmptySubsequences: false)
        var index = 0
        while index < x.count, index < y.count {
            let (l, r) = (x[index], y[index])
            if l == "#" || r == "#" {
                // `#` and `+` first do not reach `$` topics.
                let other = l == "#" ? r : l
                return !(index == 0 && other.first == "$")
            }
            if l != r, l != "+", r != "+" { return false }
            if index == 0, (l == "+" && r.first == "$") || (r == "+" && l.first == "$") { return false }
            index += 1
        }
        // `a/#` also matches `a`.
        if x.count == y.count { return true }
        let longer = x.count > y.count ? x : y
        return longer.count == index + 1 && longer[index] == "#"
    }
}

/// A parsed `$share/<group>/<filter>` subscription (MQTT 5.0 §4.8.2).
public struct SharedSubscription: Hashable, Sendable {
    /// The share name: subscribers with the same group and filter share the messages.
    public var group: String
    /// The filter messages are matched against.
    public var filter: String

    /// Parses `topicFilter`; `nil` if it is not a valid shared subscription.
    public init?(_ topicFilter: String) {
        guard topicFilter.hasPrefix("$share/") else { return nil }
        let rest = topicFilter.dropFirst("$share/".count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let group = String(rest[..<slash])
        let filter = String(rest[rest.index(after: slash)...])
        guard !group.isEmpty, !group.contains("+"), !group.contains("#"), !filter.isEmpty else { return nil }
        guard (try? Topic.validateFilterLevels(filter)) != nil else { return nil }
        self.group = group
        self.filter = filter
    }
}
