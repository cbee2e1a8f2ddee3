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
/// Each node is one level. The `+` and `#` children have fields of their own, so matching a topic
/// looks up each of its levels once, in place (no array of levels), and hashes nothing at a node
/// without literal children. Shared subscriptions (`$share/<group>/<filter>`) hang off their
/// filter's node, one group per name.
struct SubscriptionTrie: Sendable {
    private final class Node: @unchecked Sendable {
        /// Children for literal levels.
        var children: [Substring: Node] = [:]
        /// The `+` child.
        var plus: Node?
        /// The `#` child.
        var hash: Node?
        var subscribers: [String: SubscriptionEntry] = [:]
        var groups: [String: SharedGroup] = [:]

        var isEmpty: Bool {
            children.isEmpty && plus == nil && hash == nil && subscribers.isEmpty && groups.isEmpty
        }

        func child(_ level: Substring) -> Node? {
            switch level {
            case "+": plus
            case "#": hash
            default: children[level]
            }
        }

        func setChild(_ level: Substring, _ node: Node?) {
            switch level {
            case "+": plus = node
            case "#": hash = node
            default: children[level] = node
            }
        }
    }

    /// Members of one shared subscription, served round robin.
    struct SharedGroup: Sendable {
        var members: [String] = []
        var entries: [String: SubscriptionEntry] = [:]
        var next = 0
    }

    private let root = Node()
    private(set) var count = 0

    private static func levels(_ filter: String) -> [Substring] {
        filter.split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Adds or replaces `clientID`'s subscription; returns whether it already existed.
    @discardableResult
    mutating func insert(filter: String, clientID: String, entry: SubscriptionEntry) -> Bool {
        let shared = SharedSubscription(filter)
        var node = root
        for level in Self.levels(shared?.filter ?? filter) {
            if let child = node.child(level) {
                node = child
            } else {
                let child = Node()
                node.setChild(level, child)
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
            guard let child = node.child(level) else { return false }
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
            guard let child = parent.child(level), child.isEmpty else { break }
            parent.setChild(level, nil)
        }
        return removed
    }

    /// Every subscriber of `topic`, merged per client; shared groups contribute one member each.
    ///
    /// - Parameters:
    ///   - publisherID: skipped for subscriptions with no-local.
    ///   - isOnline: preferred when a shared group picks its member.
    mutating func match(topic: String, publisherID: String, isOnline: (String) -> Bool) -> [MatchedSubscriber] {
        var result = MatchedSubscribers()
        var sharedHits: [(Node, String)] = []
        collect(node: root, rest: topic[...], skipWildcards: topic.utf8.first == UInt8(ascii: "$")) { node in
            for (clientID, entry) in node.subscribers {
                if entry.options.noLocal, clientID == publisherID { continue }
                if entry.excludes(topic) { continue }
                result.merge(clientID: clientID, entry: entry)
            }
            if !node.groups.isEmpty {
                for name in node.groups.keys { sharedHits.append((node, name)) }
            }
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
            if !entry.excludes(topic) { result.merge(clientID: chosen, entry: entry) }
        }
        return result.list
    }

    /// Visits the nodes whose filters match the topic levels `rest` below `node` (nil: none left).
    private func collect(node: Node, rest: Substring?, skipWildcards: Bool, visit: (Node) -> Void) {
        if !skipWildcards, let hash = node.hash { visit(hash) }
        guard let rest else {
            visit(node)
            return
        }
        let plus = skipWildcards ? nil : node.plus
        // No filter goes deeper from here (as below `fleet/#` alone): the rest of the topic is not cut up.
        guard plus != nil || !node.children.isEmpty else { return }
        let level: Substring, next: Substring?
        if let slash = rest.utf8.firstIndex(of: UInt8(ascii: "/")) {
            (level, next) = (rest[..<slash], rest[rest.utf8.index(after: slash)...])
        } else {
            (level, next) = (rest, nil)
        }
        if !node.children.isEmpty, let exact = node.children[level] {
            collect(node: exact, rest: next, skipWildcards: false, visit: visit)
        }
        if let plus { collect(node: plus, rest: next, skipWildcards: false, visit: visit) }
    }
}

/// Subscribers matched so far, one per client, in the order found. A topic usually matches a few
/// subscriptions, so clients are found by a linear search; an index is built only past a handful.
private struct MatchedSubscribers {
    private static let linearLimit = 8
    private(set) var list: [MatchedSubscriber] = []
    private var index: [String: Int] = [:]

    mutating func merge(clientID: String, entry: SubscriptionEntry) {
        let ids = entry.identifier.map { [$0] } ?? []
        if let position = position(of: clientID) {
            list[position].qos = max(list[position].qos, entry.options.qos)
            list[position].retainAsPublished = list[position].retainAsPublished || entry.options.retainAsPublished
            list[position].subscriptionIDs += ids
            return
        }
        if list.count >= Self.linearLimit { index[clientID] = list.count }
        list.append(MatchedSubscriber(clientID: clientID, qos: entry.options.qos,
                                      retainAsPublished: entry.options.retainAsPublished, subscriptionIDs: ids))
    }

    private mutating func position(of clientID: String) -> Int? {
        guard list.count >= Self.linearLimit else { return list.firstIndex { $0.clientID == clientID } }
        if index.isEmpty {
            for (position, match) in list.enumerated() { index[match.clientID] = position }
        }
        return index[clientID]
    }
}
