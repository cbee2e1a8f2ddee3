@testable import OPCUA
import Testing

@Suite struct SubscriptionTrackerTests {
    static func message(_ number: UInt32, keepAlive: Bool = false) -> NotificationMessage {
        var writer = UAWriter()
        writer.uint32(number)
        UADateTime(millisecondsSince1970: 0).encode(to: &writer)
        if keepAlive {
            writer.int32(0)
        } else {
            var change = UAWriter()
            change.int32(1)
            change.uint32(5)  // client handle
            DataValue(value: .uint32(number)).encode(to: &change)
            change.int32(0)
            writer.int32(1)
            ExtensionObject(typeId: NodeId(EncodingId.dataChangeNotification), body: .binary(change.bytes)).encode(to: &writer)
        }
        var reader = UAReader(writer.bytes)
        return try! NotificationMessage(from: &reader)
    }

    static func numbers(_ messages: [NotificationMessage]) -> [UInt32] { messages.map(\.sequenceNumber) }

    @Test func inOrderMessagesAreDeliveredAndAcknowledgedOnce() {
        var tracker = SubscriptionTracker(subscriptionId: 1)
        #expect(Self.message(1).dataChanges.map(\.clientHandle) == [5])
        #expect(Self.numbers(tracker.received(Self.message(1))) == [1])
        #expect(Self.numbers(tracker.received(Self.message(2))) == [2])
        #expect(tracker.received(Self.message(3, keepAlive: true)).isEmpty)
        #expect(tracker.takeAcknowledgements() == [1, 2])
        #expect(tracker.takeAcknowledgements() == [])
        #expect(tracker.takeMissing().isEmpty)
    }

    @Test func answersOvertakingEachOtherAreDeliveredInOrderWithoutARepublish() {
        var tracker = SubscriptionTracker(subscriptionId: 1, reorderWindow: 3)
        _ = tracker.received(Self.message(1))
        #expect(tracker.received(Self.message(3)).isEmpty)  // 2 is late: 3 waits
        #expect(tracker.received(Self.message(4)).isEmpty)
        #expect(Self.numbers(tracker.received(Self.message(2))) == [2, 3, 4])
        #expect(tracker.takeMissing().isEmpty && tracker.lost == 0)
        #expect(tracker.received(Self.message(3)).isEmpty)  // a copy
    }

    @Test func aGapThatStaysIsAskedForOnceAndFilledByTheRepublish() {
        var tracker = SubscriptionTracker(subscriptionId: 1, reorderWindow: 2)
        _ = tracker.received(Self.message(1))
        _ = tracker.received(Self.message(4))
        #expect(tracker.takeMissing().isEmpty)
        _ = tracker.received(Self.message(5))
        #expect(tracker.takeMissing() == [2, 3])
        #expect(tracker.received(Self.message(2)).map(\.sequenceNumber) == [2])  // republished
        _ = tracker.received(Self.message(6))
        _ = tracker.received(Self.message(7))
        #expect(tracker.takeMissing().isEmpty)  // 3 was asked for already
        #expect(Self.numbers(tracker.gaveUp(on: 3)) == [4, 5, 6, 7])
        #expect(tracker.lost == 1)
        #expect(tracker.takeAcknowledgements() == [1, 4, 5, 2, 6, 7])
    }

    @Test func keepAlivesAheadOfWhatArrivedRevealAGap() {
        var tracker = SubscriptionTracker(subscriptionId: 1, reorderWindow: 2)
        _ = tracker.received(Self.message(7))
        _ = tracker.received(Self.message(10, keepAlive: true))
        _ = tracker.received(Self.message(10, keepAlive: true))
        #expect(tracker.takeMissing() == [8, 9])
        _ = tracker.received(Self.message(8))
        #expect(Self.numbers(tracker.received(Self.message(9))) == [9])
        #expect(Self.numbers(tracker.received(Self.message(10))) == [10])
    }

    @Test func sequenceNumbersWrapPastTheLargest() {
        var tracker = SubscriptionTracker(subscriptionId: 1)
        _ = tracker.received(Self.message(.max))
        #expect(Self.numbers(tracker.received(Self.message(1))) == [1])
        #expect(tracker.takeMissing().isEmpty)
        #expect(SubscriptionTracker.isAfter(1, .max))
    }

    @Test func aHugeGapAsksForABoundedNumber() {
        var tracker = SubscriptionTracker(subscriptionId: 1, reorderWindow: 1)
        _ = tracker.received(Self.message(1))
        _ = tracker.received(Self.message(5_002))
        #expect(tracker.takeMissing().count == 1_000)
        #expect(tracker.lost == 4_000)
    }
}
