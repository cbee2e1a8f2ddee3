import MQTTCodec

/// The topics that hold a retained message, by level, so a SUBSCRIBE finds the ones its filter
/// matches by walking the filter's path (all children for `+`, the subtree for `#`) instead of
/// testing every retained topic.
struct RetainedIndex: Sendable {
    private final class Node: @unchecked Sendable {  // owned by the broker's state, confined to its loop
        var children: [Substring: Node] = [:]
        /// The full topic when a retained message ends at this node.
        var topic: String?
    }

    private let root = Node()

    mutating func insert(_ topic: String) {
        var node = root
        for level in topic.split(separator: "/", omittingEmptySubsequences: false) {
            if let child = node.children[level] {
                node = child
            } else {
                let child = Node()
                node.children[level] = child
                node = child
            }
        }
        node.topic = topic
    }

    mutating func remove(_ topic: String) {
        var path: [(Node, Substring)] = []
        var node = root
        for level in topic.split(separator: "/", omittingEmptySubsequences: false) {
            guard let child = node.children[level] else { return }
            path.append((node, level))
            node = child
        }
        node.topic = nil
        for (parent, level) in path.reversed() {
            guard let child = parent.children[level], child.topic == nil, child.children.isEmpty else { break }
            parent.children[level] = nil
        }
    }

    /// Every retained topic `filter` matches (MQTT 5.0 §4.7, `$` topics only for filters naming them).
    func topics(matching filter: String) -> [String] {
        var found: [String] = []
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        collect(root, levels[...], first: true, into: &found)
        return found
    }

    private func collect(_ node: Node, _ levels: ArraySlice<Substring>, first: Bool, into found: inout [String]) {
        guard let level = levels.first else {
            if let topic = node.topic { found.append(topic) }
            return
        }
        switch level {
        case "#":
            // `a/#` matches `a` itself too.
            if let topic = node.topic, !first { found.append(topic) }
            for (name, child) in node.children where !(first && name.first == "$") { subtree(child, into: &found) }
        case "+":
            for (name, child) in node.children where !(first && name.first == "$") {
                collect(child, levels.dropFirst(), first: false, into: &found)
            }
        default:
            if let child = node.children[level] { collect(child, levels.dropFirst(), first: false, into: &found) }
        }
    }

    private func subtree(_ node: Node, into found: inout [String]) {
        if let topic = node.topic { found.append(topic) }
        for child in node.children.values { subtree(child, into: &found) }
    }
}
