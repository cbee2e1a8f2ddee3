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

    @Test func inOrderMessagesAreDeliveredAndAcknowledgedOnce() {
        var tracker = SubscriptionTracker(subscriptionId: 1)
        #expect(Self.message(1).dataChanges.map(\.clientHandle) == [5])
        #expect(tracker.received(Self.message(1)) == .deliver)
        #expect(tracker.received(Self.message(2)) == .deliver)
        #expect(tracker.received(Self.message(3, keepAlive: true)) == .ignore)
        #expect(tracker.takeAcknowledgements() == [1, 2])
        #expect(tracker.takeAcknowledgements() == [])
        #expect(tracker.missing.isEmpty)
    }

    @Test func aGapIsAskedForAgainAndTheRepublishedMessageIsDeliveredOnce() {
        var tracker = SubscriptionTracker(subscriptionId: 1)
        _ = tracker.received(Self.message(1))
        #expect(tracker.received(Self.message(4)) == .deliver)
        #expect(tracker.missing == [2, 3])
        #expect(tracker.received(Self.message(2)) == .deliver)  // republished
        #expect(tracker.received(Self.message(2)) == .ignore)  // a second copy
        tracker.gaveUp(on: 3)
        #expect(tracker.missing.isEmpty && tracker.lost == 1)
        #expect(tracker.takeAcknowledgements() == [1, 4, 2, 2])
    }

    @Test func aKeepAliveAheadOfWhatArrivedRevealsAGap() {
        var tracker = SubscriptionTracker(subscriptionId: 1)
        _ = tracker.received(Self.message(7))
        #expect(tracker.received(Self.message(10, keepAlive: true)) == .ignore)
        #expect(tracker.missing == [8, 9])
        #expect(tracker.received(Self.message(10)) == .deliver)
    }

    @Test func sequenceNumbersWrapPastTheLargest() {
        var tracker = SubscriptionTracker(subscriptionId: 1)
        _ = tracker.received(Self.message(.max))
        #expect(tracker.received(Self.message(1)) == .deliver)
        #expect(tracker.missing.isEmpty)
        #expect(SubscriptionTracker.isAfter(1, .max))
    }

    @Test func aHugeGapAsksForABoundedNumber() {
        var tracker = SubscriptionTracker(subscriptionId: 1)
        _ = tracker.received(Self.message(1))
        _ = tracker.received(Self.message(5_002))
        #expect(tracker.missing.count == 1_000)
        #expect(tracker.lost == 4_000)
    }
}
