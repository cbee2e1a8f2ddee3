import GembaConnectors
import GembaCore
import Modbus
import Sparkplug
import Testing

@Suite struct ModbusDeviceTests {
    static let device = ModbusDeviceConfiguration(
        device: "press3", host: "127.0.0.1", port: 502, unit: 1, timeout: 1000, pacing: 0, maximumGap: 16,
        tags: [
            ModbusTag(name: "temp", point: .init(table: .holdingRegister, address: 0, type: .float32), order: .cdab, unit: "°C", deadband: 0.5),
            ModbusTag(name: "count", point: .init(table: .holdingRegister, address: 4, type: .uint32)),
            ModbusTag(name: "speed", point: .init(table: .holdingRegister, address: 8, type: .uint16), scale: 0.1, writable: true),
            ModbusTag(name: "door", point: .init(table: .holdingRegister, address: 8, type: .bit(15))),
            ModbusTag(name: "reset", point: .init(table: .coil, address: 3, type: .bool), interval: 5000, writable: true),
        ])

    @Test func tagsOfOneIntervalShareAPlanAndAreBornWithTheirTypesAndHealth() throws {
        let map = try ModbusDeviceMap(Self.device)
        #expect(map.poller.groups.map(\.interval) == [1000, 5000])
        #expect(map.poller.groups[0].reads == [.read(.holdingRegister, address: 0, count: 9)])
        #expect(map.poller.groups[1].reads == [.read(.coil, address: 3, count: 1)])
        let types = Dictionary(uniqueKeysWithValues: map.metrics.map { ($0.name, $0.dataType) })
        #expect(types["temp"] == .float && types["count"] == .uint32 && types["speed"] == .double && types["door"] == .boolean)
        #expect(types["device/connected"] == .boolean && types["device/last_good_read"] == .dateTime)
        #expect(map.metrics.first { $0.name == "temp" }?.deadband == 0.5)
    }

    @Test func writesAreEncodedForTheirTagAndRefusedOtherwise() throws {
        let map = try ModbusDeviceMap(Self.device)
        #expect(try map.write("speed", value: .double(123.4)).get() == .writeSingleRegister(address: 8, value: 1234))
        #expect(try map.write("reset", value: .boolean(true)).get() == .writeSingleCoil(address: 3, value: true))
        #expect(throws: ModbusError.self) { try map.write("temp", value: .float(1)).get() }  // not writable
        #expect(throws: ModbusError.self) { try map.write("speed", value: .double(7_000)).get() }  // 70,000 does not fit a UINT16
        #expect(throws: ModbusError.self) { try map.write("reset", value: .int(1)).get() }
        #expect(throws: ModbusError.self) { try map.write("nothing", value: .int(1)).get() }
    }

    @Test func aFailedReadKeepsItsTagsLastValuesAsBadAndALostDeviceTurnsEverythingBad() throws {
        var reporter = ModbusDeviceReporter(map: try ModbusDeviceMap(Self.device))
        _ = reporter.connected(at: 1_000)
        // 72.5 as FLOAT32 is 0x4291_0000; CDAB puts the low word first. Speed 1500 with bit 15 clear.
        let registers: [UInt16] = [0x0000, 0x4291, 0, 0, 0x0001, 0x0002, 0, 0, 1500]
        let (first, failures) = reporter.polled(group: 0, answers: [.success(.registers(registers))], at: 1_010, latePolls: 0)
        let values = Dictionary(first.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        #expect(failures.isEmpty)
        #expect(values["temp"]?.value == .float(72.5) && values["temp"]?.timestamp == 1_010 && values["temp"]?.quality == .good)
        #expect(values["count"]?.value == .int(0x0001_0002) && values["speed"]?.value == .double(150) && values["door"]?.value == .boolean(false))
        #expect(values["device/last_good_read"]?.value == .dateTime(1_010))

        let (second, failing) = reporter.polled(group: 0, answers: [.failure(.exception(.illegalDataAddress))], at: 2_000, latePolls: 1)
        #expect(failing.map(\.tag) == ["temp", "count", "speed", "door"])
        #expect(second.first { $0.name == "temp" } == .init(name: "temp", value: .float(72.5), quality: .bad, timestamp: 2_000))
        #expect(second.first { $0.name == "device/read_errors" }?.value == .uint64(1))
        #expect(second.first { $0.name == "device/late_polls" }?.value == .uint64(1))
        // Failing again is not news.
        #expect(reporter.polled(group: 0, answers: [.failure(.timeout)], at: 3_000, latePolls: 1).failures.isEmpty)

        let lost = reporter.disconnected(.disconnected("reset"), at: 4_000)
        #expect(lost.first { $0.name == "count" }?.quality == .bad)
        #expect(lost.first { $0.name == "device/connected" }?.value == .boolean(false))
        #expect(!lost.contains { $0.name == "reset" })  // never read: nothing to mark
        // Attempts to reconnect that fail change only the health.
        #expect(reporter.disconnected(.disconnected("refused"), at: 4_500).allSatisfy { $0.name.hasPrefix("device/") })
    }

    @Test func aFloatThatIsNotANumberIsABadReadingNotAValue() throws {
        var reporter = ModbusDeviceReporter(map: try ModbusDeviceMap(Self.device))
        let nan: [UInt16] = [0x0000, 0x7FC0, 0, 0, 0, 0, 0, 0, 0]
        let (readings, failures) = reporter.polled(group: 0, answers: [.success(.registers(nan))], at: 1, latePolls: 0)
        #expect(failures.map(\.tag) == ["temp"])
        #expect(!readings.contains { $0.name == "temp" })
    }
}
