/// Records kept in a dictionary, read and changed where the dictionary stores them.
///
/// `records[key]?.field` may copy the whole record first, and `records[key]!.field = x` copies it
/// out and back: every reference the record holds is retained and released, which touches each
/// referenced object's memory. On the per-message path, where a device's records are cold in the
/// cache, that costs more than the work itself. These go through `values[index]`'s `_modify`
/// accessor, which hands out the stored record itself. (Its getter copies the record: the standard
/// library gives `Dictionary.Values` no borrowing read accessor yet, so even a read goes through
/// `_modify`, and needs the dictionary mutable and not shared.)
extension Dictionary {
    /// What `body` reads from the record for `key`, the record not copied; nil without a record.
    mutating func read<Result>(_ key: Key, _ body: (Value) -> Result) -> Result? {
        guard let index = index(forKey: key) else { return nil }
        return Self.lend(&values[index], to: body)
    }

    /// `body` borrows the stored value (an `inout` argument is passed on without a copy).
    private static func lend<Result>(_ value: inout Value, to body: (Value) -> Result) -> Result { body(value) }

    /// Changes the record for `key` where it is stored; nil (and `body` not called) without a record.
    @discardableResult
    mutating func update<Result>(_ key: Key, _ body: (inout Value) -> Result) -> Result? {
        guard let index = index(forKey: key) else { return nil }
        return body(&values[index])
    }
}
