#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

/// A change one node makes that the other nodes on the same store must follow (their in-memory
/// state), sent between them as one line of JSON.
public protocol NodeChange: Codable, Sendable {}

extension NodeChange {
    /// The change as one line of JSON.
    public var encoded: String { String(decoding: (try? JSONEncoder().encode(self)) ?? Data(), as: UTF8.self) }

    /// A change from its ``encoded`` form; nil when `text` is not one.
    public init?(encoded text: String) {
        guard let change = try? JSONDecoder().decode(Self.self, from: Data(text.utf8)) else { return nil }
        self = change
    }
}
