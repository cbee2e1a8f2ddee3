/// Units an operator records as scrap or rework on a machine, with a defect code: found at
/// inspection, so not (or not rightly) in the machine's own counters.
public struct QualityEntry: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Bad units: taken from the good ones (quality falls).
        case scrap
        /// Units made good only by reworking them: still good, but not first time (first-pass yield falls).
        case rework
    }

    /// `q_` and 16 hex digits, given by the server.
    public var id: String
    public var machine: AssetPath
    /// When the units were made or found, ms since the epoch: they count in the window holding it.
    public var time: Int64
    public var kind: Kind
    public var quantity: Int64
    /// The defect code (`porosity`, `D-17`), the plant's own.
    public var reason: String
    public var note: String?
    public var enteredBy: String
    public var enteredAt: Int64

    public init(id: String, machine: AssetPath, time: Int64, kind: Kind, quantity: Int64, reason: String, note: String? = nil,
                enteredBy: String, enteredAt: Int64) {
        self.id = id
        self.machine = machine
        self.time = time
        self.kind = kind
        self.quantity = quantity
        self.reason = reason
        self.note = note
        self.enteredBy = enteredBy
        self.enteredAt = enteredAt
    }

    /// The defect code of scrap that no counter per defect and no entry explains.
    public static let unspecifiedReason = "unspecified"

    /// Checks a defect code: 1 to 64 letters, digits, `_`, `-` or `.`.
    public static func validate(reason: String) throws(ModelError) {
        let allowed = { (byte: UInt8) in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || "_-.".utf8.contains(byte)
        }
        guard (1...64).contains(reason.utf8.count), reason.utf8.allSatisfy(allowed) else { throw ModelError(.invalid, "a defect code is 1 to 64 letters, digits, \"_\", \"-\" or \".\", got \"\(reason)\"") }
    }
}
