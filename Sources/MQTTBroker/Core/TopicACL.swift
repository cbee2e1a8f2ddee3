import Foundation
internal import MQTTCodec

/// Allow and deny rules on topic patterns, for publishers and subscribers: the broker's access
/// control list for a whole namespace. Rules are read in order and the first one that applies
/// decides; when none applies, the caller's default stands.
///
/// One rule per line: `allow|deny publish|subscribe|pubsub <who> <pattern>`, where `<who>` is
/// `all`, `anonymous`, `user:<name>`, `device:<name>`, `device:*`, `key:<name>`, `key:*` or
/// `role:<role>`, optionally followed by `@<tenant>`; and `<pattern>` is a topic filter in which
/// `%u` stands for the principal's name and `%c` for the client id. Blank lines and lines
/// starting with `#` are ignored.
///
/// Subjects read the principal's attributes `kind` (`device`, `api_key`), `role` and `tenant`.
/// A rule with `%u` or `%c` does not apply when the name or client id is empty or contains `/`,
/// `+` or `#`, so no one widens a pattern by choosing a name.
public struct TopicACL: Sendable, Equatable {
    public enum Effect: String, Sendable, Equatable, Codable { case allow, deny }

    /// What a rule governs.
    public enum Access: String, Sendable, Equatable, Codable {
        case publish, subscribe, pubsub

        func includes(_ other: Access) -> Bool { self == .pubsub || self == other }
    }

    /// Whom a rule applies to.
    public enum Subject: Sendable, Equatable {
        case everyone
        case anonymous
        /// A principal by name (device username or API key name).
        case user(String)
        /// A device credential; `nil` for any device.
        case device(String?)
        /// An API key; `nil` for any key.
        case apiKey(String?)
        /// API keys acting with exactly this role.
        case role(String)
    }

    public struct Rule: Sendable, Equatable {
        public var effect: Effect
        public var access: Access
        public var subject: Subject
        /// Only principals of this tenant; `nil` for every tenant.
        public var tenant: String?
        public var pattern: String
        /// The rule's text as written, for listings and messages.
        public var text: String

        /// Parses one rule line; throws a message naming what is wrong.
        public init(parsing line: String) throws(TopicACLError) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard words.count == 4 else {
                throw TopicACLError("expected 'allow|deny publish|subscribe|pubsub <who> <pattern>', got \(words.count) words")
            }
            guard let effect = Effect(rawValue: words[0]) else { throw TopicACLError("'\(words[0])' is not allow or deny") }
            guard let access = Access(rawValue: words[1]) else {
                throw TopicACLError("'\(words[1])' is not publish, subscribe or pubsub")
            }
            (subject, tenant) = try Self.subject(words[2])
            do {
                try Topic.validateFilter(words[3])
            } catch {
                throw TopicACLError("pattern: \(error.context)")
            }
            guard SharedSubscription(words[3]) == nil else { throw TopicACLError("a pattern cannot be a $share filter") }
            self.effect = effect
            self.access = access
            self.pattern = words[3]
            self.text = words.joined(separator: " ")
        }

        private static func subject(_ word: String) throws(TopicACLError) -> (Subject, String?) {
            var name = Substring(word), tenant: String?
            if let at = word.lastIndex(of: "@") {
                tenant = String(word[word.index(after: at)...])
                name = word[..<at]
                guard tenant?.isEmpty == false else { throw TopicACLError("'\(word)' names an empty tenant") }
            }
            let parts = name.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let value = parts.count == 2 ? parts[1] : nil
            if value?.isEmpty == true { throw TopicACLError("'\(word)' names no one after ':'") }
            switch (parts.first ?? "", value) {
            case ("all", nil): return (.everyone, tenant)
            case ("anonymous", nil):
                guard tenant == nil else { throw TopicACLError("anonymous clients have no tenant to name") }
                return (.anonymous, nil)
            case ("user", let value?): return (.user(value), tenant)
            case ("device", let value?): return (.device(value == "*" ? nil : value), tenant)
            case ("key", let value?): return (.apiKey(value == "*" ? nil : value), tenant)
            case ("role", let value?): return (.role(value), tenant)
            default:
                throw TopicACLError("'\(word)' is not all, anonymous, user:<name>, device:<name|*>, key:<name|*> or role:<role>")
            }
        }

        func applies(to principal: Principal) -> Bool {
            if let tenant, principal.attributes["tenant"] != tenant { return false }
            let kind = principal.attributes["kind"]
            switch subject {
            case .everyone: return true
            case .anonymous: return kind == nil && principal.name.isEmpty
            case .user(let name): return principal.name == name
            case .device(let name): return kind == "device" && (name == nil || principal.name == name)
            case .apiKey(let name): return kind == "api_key" && (name == nil || principal.name == name)
            case .role(let role): return kind == "api_key" && principal.attributes["role"] == role
            }
        }

        /// The pattern with `%u` and `%c` filled in; `nil` when a substitution is not safe.
        func pattern(for principal: Principal, clientID: String) -> String? {
            guard pattern.contains("%") else { return pattern }
            var result = pattern
            for (token, value) in [("%u", principal.name), ("%c", clientID)] where result.contains(token) {
                guard Self.isSafeLevelText(value) else { return nil }
                result = result.replacingOccurrences(of: token, with: value)
            }
            return result
        }

        private static func isSafeLevelText(_ value: String) -> Bool {
            !value.isEmpty && !value.utf8.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
        }
    }

    /// What the rules say about a subscription.
    public struct SubscriptionDecision: Sendable, Equatable {
        /// The deciding rule's effect; `nil` when no rule covers the filter.
        public var effect: Effect?
        /// Denied patterns that overlap the filter without covering it: messages on those topics are
        /// not delivered through this subscription.
        public var excluded: [String]
    }

    public private(set) var rules: [Rule]

    public init(rules: [Rule] = []) { self.rules = rules }

    /// Parses a rules file; the error names the first bad line.
    public init(parsing text: String) throws(TopicACLError) {
        var rules: [Rule] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                rules.append(try Rule(parsing: String(line)))
            } catch {
                throw TopicACLError("line \(index + 1): \(error.message)")
            }
        }
        self.rules = rules
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// The effect of the first rule that applies to publishing `topic`, `nil` when none does.
    public func publishDecision(_ principal: Principal, clientID: String, topic: String) -> Effect? {
        for rule in rules where rule.access.includes(.publish) && rule.applies(to: principal) {
            guard let pattern = rule.pattern(for: principal, clientID: clientID) else { continue }
            if Topic.matches(filter: pattern, name: topic) { return rule.effect }
        }
        return nil
    }

    /// What the rules say about subscribing to `filter` (a `$share` filter is judged by its inner filter).
    ///
    /// The first rule whose pattern covers the filter decides. Deny rules met before it whose
    /// patterns only overlap the filter hold those topics back.
    public func subscriptionDecision(_ principal: Principal, clientID: String, filter: String) -> SubscriptionDecision {
        let plain = SharedSubscription(filter)?.filter ?? filter
        var excluded: [String] = []
        for rule in rules where rule.access.includes(.subscribe) && rule.applies(to: principal) {
            guard let pattern = rule.pattern(for: principal, clientID: clientID) else { continue }
            if Topic.covers(pattern, plain) { return SubscriptionDecision(effect: rule.effect, excluded: excluded) }
            if rule.effect == .deny, Topic.overlaps(pattern, plain) { excluded.append(pattern) }
        }
        return SubscriptionDecision(effect: nil, excluded: excluded)
    }
}

/// Why a rule or rules file was refused.
public struct TopicACLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var result = self
        while let first = result.first, first.isWhitespace { result.removeFirst() }
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }
}
