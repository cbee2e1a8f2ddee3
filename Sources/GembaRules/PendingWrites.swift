extension AlarmEngine {
    /// The instances waiting to be written, with the state the store holds for those where it is
    /// known (the state before their first change since the last write). An instance that changed
    /// and changed back before the write, as a delay that starts on one sample of a noisy tag and
    /// stops on the next, is not written again.
    struct PendingWrites: Sendable {
        private(set) var keys: Set<InstanceKey> = []
        private var stored: [InstanceKey: RuleInstance] = [:]

        var isEmpty: Bool { keys.isEmpty }

        /// Marks an instance changed; `stored` is its state before this change, nil when that is not
        /// what the store holds (a new instance) and it must be written whatever it becomes.
        mutating func mark(_ key: InstanceKey, storedAs before: RuleInstance?) {
            if keys.insert(key).inserted {
                stored[key] = before
            } else if before == nil {
                stored[key] = nil
            }
        }

        mutating func remove(where shouldRemove: (InstanceKey) -> Bool) {
            keys = keys.filter { !shouldRemove($0) }
            stored = stored.filter { !shouldRemove($0.key) }
        }

        /// Takes every marked instance: those whose state (`current`) differs from what the store
        /// holds become rows (`row`) to write; the rest are dropped.
        mutating func take<Row>(current: (InstanceKey) -> RuleInstance?, row: (InstanceKey, RuleInstance) -> Row?) -> [Row] {
            defer { (keys, stored) = ([], [:]) }
            return keys.compactMap { key in
                guard let instance = current(key), stored[key] != instance else { return nil }
                return row(key, instance)
            }
        }
    }
}
