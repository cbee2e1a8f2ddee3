import Modbus
import Testing

@Suite struct ModbusPollerTests {
    static let temperature = ModbusRequest.read(.holdingRegister, address: 0, count: 2)
    static let counters = ModbusRequest.read(.inputRegister, address: 100, count: 10)
    static let ok = Result<ModbusResponse, ModbusError>.success(.registers([1, 2]))

    static func poller(interval: Int64 = 1_000, pacing: Int64 = 0) throws -> ModbusPoller {
        var configuration = ModbusPoller.Configuration(unit: 3, groups: [.init(interval: interval, reads: [temperature, counters])])
        configuration.pacing = pacing
        return try ModbusPoller(configuration)
    }

    @Test func pollsEachGroupOnItsIntervalOneRequestAtATime() throws {
        var poller = try Self.poller()
        #expect(poller.handle(.start, now: 0) == [.connect])
        #expect(poller.handle(.connected, now: 10) == [.send(Self.temperature, unit: 3)])
        #expect(poller.handle(.answered(Self.ok), now: 20) == [.send(Self.counters, unit: 3)])
        #expect(poller.handle(.answered(Self.ok), now: 30) == [.deliver(group: 0, answers: [Self.ok, Self.ok], due: 0, at: 30), .wait(until: 1_000)])
        #expect(poller.handle(.tick, now: 1_000) == [.send(Self.temperature, unit: 3)])
        // An answer nobody asked for (a second one) changes nothing.
        #expect(poller.handle(.answered(Self.ok), now: 1_010) == [.send(Self.counters, unit: 3)])
        #expect(poller.handle(.answered(Self.ok), now: 1_011) == [.deliver(group: 0, answers: [Self.ok, Self.ok], due: 1_000, at: 1_011), .wait(until: 2_000)])
        #expect(poller.handle(.answered(Self.ok), now: 1_012) == [.wait(until: 2_000)])
        #expect(poller.completedPolls == 2 && poller.latePolls == 0)
    }

    @Test func pacingSpacesRequestsAndABusyDeviceIsAskedAgain() throws {
        var poller = try Self.poller(pacing: 50)
        _ = poller.handle(.start, now: 0)
        _ = poller.handle(.connected, now: 0)
        let busy = Result<ModbusResponse, ModbusError>.failure(.exception(.serverDeviceBusy))
        #expect(poller.handle(.answered(busy), now: 10) == [.wait(until: 210)])  // busy: 200 ms (pacing is shorter)
        #expect(poller.handle(.tick, now: 210) == [.send(Self.temperature, unit: 3)])
        #expect(poller.handle(.answered(busy), now: 220) == [.wait(until: 420)])
        _ = poller.handle(.tick, now: 420)
        // Busy a third time: two retries are spent, the read keeps the exception and the next read goes after the pacing.
        #expect(poller.handle(.answered(busy), now: 430) == [.wait(until: 480)])
        #expect(poller.handle(.tick, now: 480) == [.send(Self.counters, unit: 3)])
        #expect(poller.handle(.answered(Self.ok), now: 490) == [.deliver(group: 0, answers: [busy, Self.ok], due: 0, at: 490), .wait(until: 1_000)])
    }

    @Test func aFailedReadSpoilsOnlyItsPointsAndALostConnectionIsMadeAgainWithBackoff() throws {
        var poller = try Self.poller()
        _ = poller.handle(.start, now: 0)
        _ = poller.handle(.connected, now: 0)
        #expect(poller.handle(.answered(.failure(.timeout)), now: 2) == [.send(Self.counters, unit: 3)])
        #expect(poller.handle(.answered(Self.ok), now: 3) == [.deliver(group: 0, answers: [.failure(.timeout), Self.ok], due: 0, at: 3), .wait(until: 1_000)])
        _ = poller.handle(.tick, now: 1_000)
        let lost = ModbusError.disconnected("reset by peer")
        #expect(poller.handle(.disconnected(lost), now: 1_005) == [.deliver(group: 0, answers: [.failure(lost), .failure(lost)], due: 1_000, at: 1_005),
                                                                   .wait(until: 1_505)])
        #expect(!poller.isConnected)
        #expect(poller.handle(.tick, now: 1_505) == [.connect])
        #expect(poller.handle(.connectFailed(.disconnected("refused")), now: 1_510) == [.wait(until: 2_000)])  // the next poll comes first
        // Polls due while the device is away are skipped and counted as late, not caught up with.
        #expect(poller.handle(.tick, now: 2_000) == [.wait(until: 2_510)])
        #expect(poller.handle(.tick, now: 2_510) == [.connect])
        #expect(poller.handle(.connected, now: 2_520) == [.send(Self.temperature, unit: 3)])
        #expect(poller.latePolls == 0)  // the 2,000 poll waited in the queue and goes now
        _ = poller.handle(.answered(Self.ok), now: 2_530)
        #expect(poller.handle(.answered(Self.ok), now: 2_540) == [.deliver(group: 0, answers: [Self.ok, Self.ok], due: 2_000, at: 2_540), .wait(until: 3_000)])
    }

    @Test func aWriteGoesAheadOfWaitingPollsAndFailsAtOnceWhileTheDeviceIsAway() throws {
        var poller = try Self.poller(pacing: 5)
        let write = ModbusRequest.writeSingleRegister(address: 7, value: 42)
        _ = poller.handle(.start, now: 0)
        #expect(poller.handle(.write(write, id: 1), now: 1) == [.written(id: 1, .failure(.disconnected("the device is not connected")))])
        _ = poller.handle(.connected, now: 2)  // the first poll's first read is in flight
        #expect(poller.handle(.write(write, id: 2), now: 3).isEmpty)
        #expect(poller.handle(.answered(Self.ok), now: 4) == [.wait(until: 9)])  // the write next, after the pacing
        #expect(poller.handle(.tick, now: 9) == [.send(write, unit: 3)])
        #expect(poller.handle(.answered(.success(.written)), now: 10) == [.written(id: 2, .success(.written)), .wait(until: 15)])
        #expect(poller.handle(.tick, now: 15) == [.send(Self.counters, unit: 3)])
        // A write under way when the connection drops fails with it; a read is no write.
        _ = poller.handle(.answered(Self.ok), now: 16)
        _ = poller.handle(.write(write, id: 3), now: 20)
        #expect(poller.handle(.tick, now: 21) == [.send(write, unit: 3)])
        let lost = ModbusError.disconnected("reset")
        #expect(poller.handle(.disconnected(lost), now: 22).first == .written(id: 3, .failure(lost)))
        #expect(poller.handle(.write(Self.counters, id: 4), now: 23).first == .written(id: 4, .failure(.invalidRequest("not a write: \(Self.counters)"))))
    }

    @Test func aSlowDeviceMakesLatePollsCountedAndSkipped() throws {
        var poller = try Self.poller(interval: 100)
        _ = poller.handle(.start, now: 0)
        _ = poller.handle(.connected, now: 0)
        _ = poller.handle(.answered(Self.ok), now: 50)
        // The second read is answered only at 350: the polls due at 100 and 200 are late; the one due at 300 goes.
        #expect(poller.handle(.answered(Self.ok), now: 350) == [.deliver(group: 0, answers: [Self.ok, Self.ok], due: 0, at: 350), .send(Self.temperature, unit: 3)])
        #expect(poller.latePolls == 2)
        _ = poller.handle(.answered(Self.ok), now: 360)
        #expect(poller.handle(.answered(Self.ok), now: 370) == [.deliver(group: 0, answers: [Self.ok, Self.ok], due: 300, at: 370), .wait(until: 400)])
    }

    @Test func aConfigurationThatCannotPollIsRefused() {
        for groups in [[ModbusPoller.Group(interval: 0, reads: [Self.temperature])], [.init(interval: 1_000, reads: [])],
                       [.init(interval: 1_000, reads: [.read(.holdingRegister, address: 0, count: 200)])]] {
            #expect(throws: ModbusError.self) { try ModbusPoller(.init(unit: 1, groups: groups)) }
        }
    }
}
