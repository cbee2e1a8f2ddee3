/// A subscription's bookkeeping on the client side, as a pure state machine (Part 4 §5.13.1):
/// which notifications to acknowledge with the next Publish, and which sequence numbers went
/// missing and must be asked for again with Republish. Values are delivered once, in the order
/// the server numbered them, even when a republished message arrives after later ones.
public struct SubscriptionTracker: Sendable {
    public let subscriptionId: UInt32
    /// The sequence number expected next; nil before the first notification.
    public private(set) var expected: UInt32?
    /// Received, not yet acknowledged.
    private var unacknowledged: [UInt32] = []
    /// Missing numbers still to ask for.
    public private(set) var missing: [UInt32] = []
    /// Messages given up on (the server no longer had them).
    public private(set) var lost: UInt64 = 0

    public init(subscriptionId: UInt32) { self.subscriptionId = subscriptionId }

    /// What to do with a notification message that arrived.
    public enum Outcome: Sendable, Equatable {
        /// Deliver its changes.
        case deliver
        /// A keep-alive, or a message already delivered: nothing to deliver.
        case ignore
    }

    /// Takes a notification message (from Publish or Republish).
    public mutating func received(_ message: NotificationMessage) -> Outcome {
        if message.isKeepAlive {
            // A keep-alive carries the number the next message will have: anything before it is missing.
            if let expected, message.sequenceNumber != expected, Self.isAfter(message.sequenceNumber, expected) {
                markMissing(from: expected, to: message.sequenceNumber)
            }
            if expected == nil || Self.isAfter(message.sequenceNumber, expected!) { expected = message.sequenceNumber }
            return .ignore
        }
        let number = message.sequenceNumber
        if let index = missing.firstIndex(of: number) {  // a republished one
            missing.remove(at: index)
            unacknowledged.append(number)
            return .deliver
        }
        if let expected {
            guard number == expected || Self.isAfter(number, expected) else {
                unacknowledged.append(number)
                return .ignore  // already delivered: acknowledge it again
            }
            if number != expected { markMissing(from: expected, to: number) }
        }
        expected = Self.next(number)
        unacknowledged.append(number)
        return .deliver
    }

    /// The acknowledgements to send with the next Publish (each once).
    public mutating func takeAcknowledgements() -> [UInt32] {
        defer { unacknowledged = [] }
        return unacknowledged
    }

    /// The server answered a Republish with BadMessageNotAvailable: the message is gone.
    public mutating func gaveUp(on number: UInt32) {
        guard let index = missing.firstIndex(of: number) else { return }
        missing.remove(at: index)
        lost += 1
    }

    /// At most this many numbers are asked for after one gap; the rest count as lost.
    static let maximumGap: UInt32 = 1_000

    private mutating func markMissing(from start: UInt32, to end: UInt32) {
        var number = start
        var count: UInt32 = 0
        while number != end {
            if count < Self.maximumGap { missing.append(number) } else { lost += 1 }
            count += 1
            number = Self.next(number)
        }
    }

    /// Sequence numbers run 1…UInt32.max and wrap to 1 (0 is never used).
    static func next(_ number: UInt32) -> UInt32 { number == .max ? 1 : number + 1 }

    /// Whether `a` comes after `b`, allowing for the wrap (within half the range).
    static func isAfter(_ a: UInt32, _ b: UInt32) -> Bool { a != b && (a &- b) < 0x8000_0000 }
}
