/// A subscription's bookkeeping on the client side, as a pure state machine (Part 4 §5.13.1):
/// notification messages are delivered once and in the order the server numbered them, whatever
/// order several outstanding Publish requests complete in. A message after a gap is held; the
/// gap is asked for again with Republish only once `reorderWindow` more messages (or keep-alives)
/// came without filling it, since with several requests outstanding a late answer is usually just
/// that. Every message received is acknowledged with the next Publish.
public struct SubscriptionTracker: Sendable {
    public let subscriptionId: UInt32
    /// Messages (or keep-alives) arriving after a gap before the gap is asked for.
    public let reorderWindow: Int
    /// The sequence number to deliver next; nil before the first notification.
    public private(set) var expected: UInt32?
    /// Messages after a gap, by sequence number.
    private var held: [UInt32: NotificationMessage] = [:]
    /// The first number no message is known for yet (from messages and keep-alives).
    private var horizon: UInt32?
    /// Arrivals while a gap is open.
    private var waited = 0
    /// Numbers given up on: skipped when delivering.
    private var skipped: Set<UInt32> = []
    /// Received, not yet acknowledged.
    private var unacknowledged: [UInt32] = []
    /// Missing numbers to ask for (each once).
    public private(set) var missing: [UInt32] = []
    private var asked: Set<UInt32> = []
    /// Messages given up on (the server no longer had them).
    public private(set) var lost: UInt64 = 0

    public init(subscriptionId: UInt32, reorderWindow: Int = 6) {
        self.subscriptionId = subscriptionId
        self.reorderWindow = reorderWindow
    }

    /// Takes a notification message (from Publish or Republish); answers those now due, in order.
    public mutating func received(_ message: NotificationMessage) -> [NotificationMessage] {
        let number = message.sequenceNumber
        if message.isKeepAlive {
            // A keep-alive carries the number the next message will have.
            if expected == nil { expected = number }
            advanceHorizon(to: number)
        } else {
            if expected == nil { expected = number }
            unacknowledged.append(number)
            guard let expected, number == expected || Self.isAfter(number, expected), held[number] == nil else { return [] }  // a copy
            held[number] = message
            advanceHorizon(to: Self.next(number))
        }
        let due = release()
        if gapIsOpen {
            waited += 1
            if waited >= reorderWindow { askForGap() }
        } else {
            waited = 0
        }
        return due
    }

    /// The server answered a Republish with BadMessageNotAvailable: the message is gone. Answers
    /// the held messages it was keeping back.
    public mutating func gaveUp(on number: UInt32) -> [NotificationMessage] {
        missing.removeAll { $0 == number }
        guard let expected, number == expected || Self.isAfter(number, expected) else { return [] }
        lost += 1
        skipped.insert(number)
        return release()
    }

    /// The acknowledgements to send with the next Publish (each once).
    public mutating func takeAcknowledgements() -> [UInt32] {
        defer { unacknowledged = [] }
        return unacknowledged
    }

    /// Hands out the numbers to republish (each once).
    public mutating func takeMissing() -> [UInt32] {
        defer { missing = [] }
        return missing
    }

    /// At most this many numbers are asked for after one gap; the rest count as lost.
    static let maximumGap: UInt32 = 1_000

    private var gapIsOpen: Bool {
        guard let expected, let horizon else { return false }
        return expected != horizon && Self.isAfter(horizon, expected)
    }

    private mutating func advanceHorizon(to number: UInt32) {
        if horizon == nil || Self.isAfter(number, horizon!) { horizon = number }
    }

    /// Delivers from `expected` on while messages are there (or given up on).
    private mutating func release() -> [NotificationMessage] {
        guard var next = expected else { return [] }
        var due: [NotificationMessage] = []
        while true {
            if let message = held.removeValue(forKey: next) {
                due.append(message)
            } else if skipped.remove(next) == nil {
                break
            }
            asked.remove(next)
            next = Self.next(next)
        }
        expected = next
        return due
    }

    /// Asks for every number between the next to deliver and the horizon that is not held.
    private mutating func askForGap() {
        guard var number = expected, let horizon else { return }
        var count: UInt32 = 0
        while number != horizon {
            if held[number] == nil, !skipped.contains(number), !asked.contains(number) {
                if count < Self.maximumGap {
                    missing.append(number)
                    asked.insert(number)
                    count += 1
                } else {
                    lost += 1
                    skipped.insert(number)
                }
            }
            number = Self.next(number)
        }
        waited = 0
    }

    /// Sequence numbers run 1…UInt32.max and wrap to 1 (0 is never used).
    static func next(_ number: UInt32) -> UInt32 { number == .max ? 1 : number + 1 }

    /// Whether `a` comes after `b`, allowing for the wrap (within half the range).
    static func isAfter(_ a: UInt32, _ b: UInt32) -> Bool { a != b && (a &- b) < 0x8000_0000 }
}
