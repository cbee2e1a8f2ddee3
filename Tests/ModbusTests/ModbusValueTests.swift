import Modbus
import Testing

@Suite struct ModbusValueTests {
    /// 123.456 as FLOAT32 is 0x42F6E979; each word order puts its bytes elsewhere.
    @Test func float32InEveryWordOrder() {
        let layouts: [(ModbusWordOrder, [UInt16])] = [(.abcd, [0x42F6, 0xE979]), (.cdab, [0xE979, 0x42F6]),
                                                      (.badc, [0xF642, 0x79E9]), (.dcba, [0x79E9, 0xF642])]
        for (order, registers) in layouts {
            guard case .double(let value) = ModbusValueType.float32.decode(registers: registers, order: order) else {
                Issue.record("not a number")
                continue
            }
            #expect(abs(value - 123.456) < 1e-4, "\(order)")
            #expect(ModbusValueType.float32.encode(.double(123.456), order: order) == registers, "\(order)")
        }
    }

    @Test func integersStringsBitsAndScaling() {
        #expect(ModbusValueType.int16.decode(registers: [0xFFFE]) == .int(-2))
        #expect(ModbusValueType.uint16.decode(registers: [0xFFFE]) == .int(65_534))
        #expect(ModbusValueType.int32.decode(registers: [0xFFFF, 0xFFFF]) == .int(-1))
        #expect(ModbusValueType.uint32.decode(registers: [0x0001, 0x0000], order: .cdab) == .int(1))
        #expect(ModbusValueType.int64.decode(registers: [0x0000, 0x0000, 0x0001, 0x0000]) == .int(65_536))
        #expect(ModbusValueType.uint64.decode(registers: [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]) == .uint(.max))
        #expect(ModbusValueType.float64.decode(registers: [0x4009, 0x21FB, 0x5444, 0x2D18]) == .double(.pi))
        #expect(ModbusValueType.bit(3).decode(registers: [0b1000]) == .bool(true))
        #expect(ModbusValueType.bit(2).decode(registers: [0b1000]) == .bool(false))
        #expect(ModbusValueType.string(registers: 3).decode(registers: [0x4142, 0x4320, 0x0000]) == .string("ABC"))
        #expect(ModbusValueType.string(registers: 2).encode(.string("ABC")) == [0x4142, 0x4300])
        // A temperature in tenths of a degree with an offset: 215 × 0.1 − 1 = 20.5.
        #expect(ModbusValueType.int16.decode(registers: [215], scale: 0.1, offset: -1) == .double(215 * 0.1 - 1))
        #expect(ModbusValueType.int16.encode(.int(40_000)) == nil && ModbusValueType.uint16.encode(.int(-1)) == nil)
        #expect(ModbusValueType.int32.encode(.int(-1), order: .cdab) == [0xFFFF, 0xFFFF])
        #expect(ModbusValueType("float32") == .float32 && ModbusValueType("bit15") == .bit(15) && ModbusValueType("string8") == .string(registers: 8))
        #expect(ModbusValueType("bit16") == nil && ModbusValueType("real") == nil)
    }

    @Test func readsCoalesceWithinTheLimitsAndGaps() throws {
        let points = [ModbusPoint(table: .holdingRegister, address: 0, type: .float32),
                      ModbusPoint(table: .holdingRegister, address: 4, type: .int16),     // a gap of 2: same read
                      ModbusPoint(table: .holdingRegister, address: 100, type: .uint16),  // too far: a read of its own
                      ModbusPoint(table: .holdingRegister, address: 120, type: .float64), // 100…123 fits 125
                      ModbusPoint(table: .holdingRegister, address: 200, type: .string(registers: 30)),  // 100…229 would not
                      ModbusPoint(table: .coil, address: 7, type: .bool),
                      ModbusPoint(table: .coil, address: 3, type: .bool)]
        let plan = try ModbusReadPlan(points, maximumGap: 20)
        #expect(plan.reads.map(\.request) == [.read(.coil, address: 3, count: 5), .read(.holdingRegister, address: 0, count: 5),
                                              .read(.holdingRegister, address: 100, count: 24), .read(.holdingRegister, address: 200, count: 30)])
        #expect(plan.reads[0].points.map(\.index) == [6, 5] && plan.reads[0].points.map(\.offset) == [0, 4])
        let answers: [Result<ModbusResponse, ModbusError>] = [.success(.bits([true, false, false, false, true])),
                                                              .success(.registers([0x42F6, 0xE979, 0, 0, 7])),
                                                              .failure(.exception(.serverDeviceBusy)), .failure(.timeout)]
        let values = plan.values(answers, points: points) { index, response -> ModbusValue in
            switch response {
            case .bits(let bits): .bool(bits[0])
            case .registers(let registers): points[index].type.decode(registers: registers)
            case .written: .bool(false)
            }
        }
        #expect((try? values[1].get()) == .int(7) && (try? values[5].get()) == .bool(true) && (try? values[6].get()) == .bool(true))
        #expect(throws: ModbusError.exception(.serverDeviceBusy)) { try values[2].get() }
        #expect(throws: ModbusError.exception(.serverDeviceBusy)) { try values[3].get() }
        // Without gaps every point is a read of its own.
        #expect(try ModbusReadPlan(Array(points.prefix(2)), maximumGap: 0).reads.count == 2)
        // Refused: a bool in registers, a float in coils, past the last address.
        for point in [ModbusPoint(table: .inputRegister, address: 0, type: .bool), ModbusPoint(table: .coil, address: 0, type: .float32),
                      ModbusPoint(table: .holdingRegister, address: 65_535, type: .int32)] {
            #expect(throws: ModbusError.self) { try ModbusReadPlan([point]) }
        }
    }
}
