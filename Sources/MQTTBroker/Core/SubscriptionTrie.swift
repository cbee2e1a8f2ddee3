import MQTTCodec

/// One client's subscription to a filter.
struct SubscriptionEntry: Hashable, Sendable {
    var options: SubscriptionOptions
    var identifier: Int?
    /// Patterns of topics the authorizer holds back from this subscription (usually none).
    var excluded: [String] = []

    func excludes(_ topic: String) -> Bool {
        !excluded.isEmpty && excluded.contains { Topic.matches(filter: $0, name: topic) }
    }
}

/// What matching a topic yields for one client: overlapping subscriptions merged (highest QoS, all identifiers).
struct MatchedSubscriber: Sendable {
    var clientID: String
    var qos: QoS
    var retainAsPublished: Bool
    var subscriptionIDs: [Int]
}

/// Subscriptions indexed by topic level, so a PUBLISH is matched without scanning every filter.
///
/// Each node is one level; `+` and `#` are ordinary children that the matcher treats specially.
/// Shared subscriptions (`$share/<group>/<filter>`) hang off their filter's node, one group per name.
struct SubscriptionTrie: Sendable {
    private final class Node: @unchecked Sendable {
        var children: [Substring: Node] = [:]
        var subscribers: [String: SubscriptionEntry] = [:]
        var groups: [String: SharedGroup] = [:]
        var isEmpty: Bool { children.isEmpty && subscribers.isEmpty && groups.isEmpty }
    }

    /// Members of one shared subscription, served round robin.
    struct SharedGroup: Sendable {
        var members: [String] = []
        var entries: [String: SubscriptionEntry] = [:]
        var next = 0
    }

    private let root = Node()
    private(set) var count = 0

    private static func levels(_ topic: String) -> [Substring] {
        topic.split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Adds or replaces `clientID`'s subscription; returns whether it already existed.
    @discardableResult
    mutating func insert(filter: String, clientID: String, entry: SubscriptionEntry) -> Bool {
        let shared = SharedSubscription(filter)
        var node = root
        for level in Self.levels(shared?.filter ?? filter) {
            if let child = node.children[level] {
                node = child
            } else {
                let child = Node()
                node.children[level] = child
                node = child
            }
        }
        let existed: Bool
        if let shared {
            var group = node.groups[shared.group] ?? SharedGroup()
            existed = group.entries.updateValue(entry, forKey: clientID) != nil
            if !existed { group.members.append(clientID) }
            node.groups[shared.group] = group
        } else {
            existed = node.subscribers.updateValue(entry, forKey: clientID) != nil
        }
        if !existed { count += 1 }
        return existed
    }

    /// Removes `clientID`'s subscription to `filter`; returns whether there was one.
    @discardableResult
    mutating func remove(filter: String, clientID: String) -> Bool {
        let shared = SharedSubscription(filter)
        var path: [(Node, Substring)] = []
        var node = root
        for level in Self.levels(shared?.filter ?? filter) {
            guard let child = node.children[level] else { return false }
            path.append((node, level))
            node = child
        }
        let removed: Bool
        if let shared {
            guard var group = node.groups[shared.group], group.entries.removeValue(forKey: clientID) != nil else {
                return false
            }
            group.members.removeAll { $0 == clientID }
            node.groups[shared.group] = group.members.isEmpty ? nil : group
            removed = true
        } else {
            removed = node.subscribers.removeValue(forKey: clientID) != nil
        }
        if removed { count -= 1 }
        for (parent, level) in path.reversed() {
            guard let child = parent.children[level], child.isEmpty else { break }
            parent.children[level] = nil
        }
        return removed
    }

    /// Every subscriber of `topic`, merged per client; shared groups contribute one member each.
    ///
    /// - Parameters:
    ///   - publisherID: skipped for subscriptions with no-local.
    ///   - isOnline: preferred when a shared group picks its member.
    mutating func match(topic: String, publisherID: String, isOnline: (String) -> Bool) -> [MatchedSubscriber] {
        var result: [String: MatchedSubscriber] = [:]
        let levels = Self.levels(topic)
        let isSystem = topic.hasPrefix("$")
        var sharedHits: [(Node, String)] = []
        collect(node: root, levels: levels[...], skipWildcards: isSystem) { node in
            for (clientID, entry) in node.subscribers {
                if entry.options.noLocal, clientID == publisherID { continue }
                if entry.excludes(topic) { continue }
                Self.merge(&result, clientID: clientID, entry: entry)
            }
            for name in node.groups.keys { sharedHits.append((node, name)) }
        }
        for (node, name) in sharedHits {
            guard var group = node.groups[name], !group.members.isEmpty else { continue }
            let start = group.next % group.members.count
            var chosen = group.members[start]
            for offset in 0..<group.members.count {
                let candidate = group.members[(start + offset) % group.members.count]
                if isOnline(candidate) {
                    chosen = candidate
                    break
                }
            }
            group.next = (group.members.firstIndex(of: chosen)! + 1) % group.members.count
            node.groups[name] = group
            let entry = group.entries[chosen]!
            if !entry.excludes(topic) { Self.merge(&result, clientID: chosen, entry: entry) }
        }
        return Array(result.values)
    }

    private static func merge(_ result: inout [String: MatchedSubscriber], clientID: String, entry: SubscriptionEntry) {
        let ids = entry.identifier.map { [$0] } ?? []
        if var existing = result[clientID] {
            existing.qos = max(existing.qos, entry.options.qos)
            existing.retainAsPublished = existing.retainAsPublished || entry.options.retainAsPublished
            existing.subscriptionIDs += ids
            result[clientID] = existing
        } else {
            result[clientID] = MatchedSubscriber(clientID: clientID, qos: entry.options.qos,
                                                 retainAsPublished: entry.options.retainAsPublished,
                                                 subscriptionIDs: ids)
        }
    }

    private func collect(node: Node, levels: ArraySlice<Substring>, skipWildcards: Bool, visit: (Node) -> Void) {
        if !skipWildcards, let hash = node.children["#"] { visit(hash) }
        guard let level = levels.first else {
            visit(node)
            return
        }
        let rest = levels.dropFirst()
        if let exact = node.children[level] { collect(node: exact, levels: rest, skipWildcards: false, visit: visit) }
        if !skipWildcards, let plus = node.children["+"] {
            collect(node: plus, levels: rest, skipWildcards: false, visit: visit)
        }
    }
}
