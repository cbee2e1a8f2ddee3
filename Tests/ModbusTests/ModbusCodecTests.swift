import Modbus
import Testing

/// Byte vectors from the examples of the Modbus Application Protocol Specification V1.1b3, §6.
@Suite struct ModbusCodecTests {
    @Test func readCoilsAsTheSpecificationsExample() throws {
        // Coils 20–38 (addresses 19…37).
        let request = ModbusRequest.read(.coil, address: 0x13, count: 19)
        #expect(try request.encoded() == [0x01, 0x00, 0x13, 0x00, 0x13])
        let bits = "1011001111010110101".map { $0 == "1" }
        #expect(try request.decodeResponse([0x01, 0x03, 0xCD, 0x6B, 0x05]) == .bits(bits))
    }

    @Test func readHoldingRegistersAsTheSpecificationsExample() throws {
        let request = ModbusRequest.read(.holdingRegister, address: 0x6B, count: 3)
        #expect(try request.encoded() == [0x03, 0x00, 0x6B, 0x00, 0x03])
        #expect(try request.decodeResponse([0x03, 0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64]) == .registers([555, 0, 100]))
    }

    @Test func writesAsTheSpecificationsExamples() throws {
        let coil = ModbusRequest.writeSingleCoil(address: 0xAC, value: true)
        #expect(try coil.encoded() == [0x05, 0x00, 0xAC, 0xFF, 0x00])
        #expect(try coil.decodeResponse([0x05, 0x00, 0xAC, 0xFF, 0x00]) == .written)
        let register = ModbusRequest.writeSingleRegister(address: 1, value: 3)
        #expect(try register.encoded() == [0x06, 0x00, 0x01, 0x00, 0x03])
        let coils = ModbusRequest.writeMultipleCoils(address: 0x13, values: "1011001110".map { $0 == "1" })
        #expect(try coils.encoded() == [0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01])
        #expect(try coils.decodeResponse([0x0F, 0x00, 0x13, 0x00, 0x0A]) == .written)
        let registers = ModbusRequest.writeMultipleRegisters(address: 1, values: [0x000A, 0x0102])
        #expect(try registers.encoded() == [0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02])
        #expect(try registers.decodeResponse([0x10, 0x00, 0x01, 0x00, 0x02]) == .written)
        // An echo that differs is not taken for success.
        #expect(throws: ModbusError.self) { try registers.decodeResponse([0x10, 0x00, 0x01, 0x00, 0x03]) }
    }

    @Test func exceptionsAndMalformedAnswers() {
        let request = ModbusRequest.read(.inputRegister, address: 8, count: 1)
        #expect(throws: ModbusError.exception(.illegalDataAddress)) { try request.decodeResponse([0x84, 0x02]) }
        #expect(ModbusException.serverDeviceBusy.isTransient && !ModbusException.gatewayTargetFailedToRespond.isTransient)
        #expect(ModbusException.gatewayPathUnavailable.description == "exception 10 (gateway path unavailable)")
        for bad: [UInt8] in [[], [0x03, 0x02, 0x00, 0x01], [0x04, 0x04, 0x00, 0x01], [0x04, 0x02, 0x00], [0x84]] {
            #expect(throws: ModbusError.self) { try request.decodeResponse(bad) }
        }
    }

    @Test func limitsOfTheProtocolAreRefusedBeforeSending() {
        for request in [ModbusRequest.read(.holdingRegister, address: 0, count: 126), .read(.coil, address: 0, count: 2001),
                        .read(.inputRegister, address: 65_535, count: 2), .read(.coil, address: 0, count: 0),
                        .writeMultipleRegisters(address: 0, values: Array(repeating: 0, count: 124)),
                        .writeMultipleCoils(address: 0, values: Array(repeating: true, count: 1969))] {
            #expect(throws: ModbusError.self) { try request.validate() }
        }
        #expect(throws: Never.self) { try ModbusRequest.read(.holdingRegister, address: 65_410, count: 125).validate() }
    }

    @Test func framesCutFromAStreamInPiecesAndGarbageIsAnError() throws {
        let frames = [ModbusFrame(transaction: 1, unit: 17, pdu: [0x03, 0x02, 0x00, 0x07]), ModbusFrame(transaction: 2, unit: 17, pdu: [0x84, 0x02])]
        #expect(frames[0].encoded == [0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x11, 0x03, 0x02, 0x00, 0x07])
        var decoder = ModbusFrameDecoder()
        var received: [ModbusFrame] = []
        for byte in frames.flatMap(\.encoded) {  // one byte at a time
            decoder.append([byte])
            while let frame = try decoder.next() { received.append(frame) }
        }
        #expect(received == frames)
        for garbage: [UInt8] in [[0x00, 0x01, 0x12, 0x34, 0x00, 0x05, 0x01], [0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01], [0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x01]] {
            var decoder = ModbusFrameDecoder()
            decoder.append(garbage)
            do {
                _ = try decoder.next()
                Issue.record("accepted \(garbage)")
            } catch {
                #expect(error.description.contains("MBAP"))
            }
        }
    }

    @Test func transactionsMatchAnswersInAnyOrderAndDropLateOnes() throws {
        var transactions = ModbusTransactions()
        let first = try transactions.start(.read(.holdingRegister, address: 0, count: 1), unit: 1)
        let second = try transactions.start(.read(.coil, address: 0, count: 3), unit: 1)
        #expect(first.transaction != second.transaction && transactions.inFlight == 2)
        let coils = transactions.receive(ModbusFrame(transaction: second.transaction, unit: 1, pdu: [0x01, 0x01, 0x05]))
        #expect(coils?.transaction == second.transaction && (try? coils?.result.get()) == .bits([true, false, true]))
        let abandoned = transactions.abandon(first.transaction)
        #expect(abandoned)
        // The answer after the timeout: nobody awaits it.
        let late = transactions.receive(ModbusFrame(transaction: first.transaction, unit: 1, pdu: [0x03, 0x02, 0x00, 0x01]))
        #expect(late == nil)
        let third = try transactions.start(.read(.inputRegister, address: 0, count: 1), unit: 1)
        let wrongUnit = transactions.receive(ModbusFrame(transaction: third.transaction, unit: 2, pdu: [0x04, 0x02, 0x00, 0x01]))
        #expect(throws: ModbusError.self) { try wrongUnit?.result.get() }
        #expect(transactions.inFlight == 0)
    }
}
