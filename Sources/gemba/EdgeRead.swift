import ArgumentParser
import Foundation
import GembaCore
import Modbus
import NIOCore

/// `gemba edge read modbus://host[:port]`: reads a register range or bits from a device and prints
/// each value, once or every few seconds, for an engineer checking a register map before configuring it.
/// `gemba edge read opc.tcp://… --node …` reads OPC UA nodes' values, status and source time.
struct EdgeRead: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read registers or bits from a Modbus TCP device, or nodes of an OPC UA server, once and print them.",
        discussion: """
            Modbus addresses are stated explicitly: either --table with the 0-based protocol --address, or a 1-based \
            Modicon --reference (40001 is holding register 0). --count values of --type are read from there.
            OPC UA: give each --node (ns=2;s=Line1.Speed); each prints as node, value, status and source time.
            """)

    @Argument(help: "The device: modbus://host[:port] (port 502 by default), or an OPC UA server, opc.tcp://host[:port][/path].")
    var device: String
    @Option(help: "OPC UA: a node to read (repeat for more).") var node: [String] = []
    @OptionGroup(title: "OPC UA") var opcua: OPCUAConnectOptions
    @Option(help: "Unit id (1–247 behind a gateway; many devices answer any).") var unit: UInt8 = 1
    @Option(help: "Table: coil, discrete-input, holding-register or input-register.") var table: String?
    @Option(help: "0-based protocol address of the first value.") var address: UInt16?
    @Option(help: "1-based Modicon reference of the first value instead (40001, 30001, 10001, 00001).") var reference: String?
    @Option(help: "How many values to read.") var count = 1
    @Option(help: "Value type: int16, uint16, int32, uint32, int64, uint64, float32, float64, bitN, stringN (registers) or bool (bits).")
    var type: String?
    @Option(help: "Byte and word order of multi-register values: ABCD, CDAB, BADC or DCBA.") var order = "ABCD"
    @Option(help: "Multiply each number by this.") var scale = 1.0
    @Option(help: "Then add this.") var offset = 0.0
    @Option(help: "Poll every this many seconds (reconnecting when the device goes away) instead of reading once.")
    var every: Double?
    @Option(help: "With --every, stop after this many polls (0: until interrupted).") var polls = 0

    func run() async throws {
        if device.hasPrefix("opc.tcp://") { return try await OPCUARead(endpoint: device, nodes: node, connection: opcua).run() }
        let (host, port) = try Self.endpoint(device)
        let (table, address) = try start()
        let valueType = try type.map { text in
            guard let type = ModbusValueType(text) else { throw ValidationError("--type \(text) is not a value type") }
            return type
        } ?? (table.holdsBits ? .bool : .uint16)
        guard let order = ModbusWordOrder(rawValue: order.uppercased()) else { throw ValidationError("--order must be ABCD, CDAB, BADC or DCBA") }
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        let points = (0..<count).map { ModbusPoint(table: table, address: address &+ UInt16(truncatingIfNeeded: $0 * valueType.width), type: valueType) }
        guard Int(address) + count * valueType.width <= 65_536 else { throw ValidationError("--count values from \(address) run past address 65535") }
        let plan = try ModbusReadPlan(points, maximumGap: 0)
        let decode = { (response: ModbusResponse, point: ModbusPoint) -> ModbusValue in
            switch response {
            case .bits(let bits): .bool(bits[0])
            case .registers(let registers): point.type.decode(registers: registers, order: order, scale: self.scale, offset: self.offset)
            case .written: .bool(false)
            }
        }
        if let every {
            try await watch(plan, points: points, every: every, host: host, port: port, decode: decode)
            return
        }
        let client = try await ModbusTCPClient.connect(host: host, port: port, timeout: .milliseconds(Int64(opcua.timeout * 1000)))
        var answers: [Result<ModbusResponse, ModbusError>] = []
        for read in plan.reads {
            do { answers.append(.success(try await client.send(read.request, unit: unit))) } catch { answers.append(.failure(error)) }
        }
        await client.close()
        let values = plan.values(answers, points: points) { index, response in decode(response, points[index]) }
        var failed: ModbusError?
        for (point, value) in zip(points, values) {
            switch value {
            case .success(let value): print("\(point.address)\t\(Self.text(value))")
            case .failure(let error): failed = error
            }
        }
        if let failed { throw ValidationError("\(device) unit \(unit), \(table.rawValue) \(address): \(failed)") }
    }

    /// Polls with `ModbusPoller`: each poll's values as `time<TAB>address<TAB>value`, a failed read's points as its error.
    private func watch(_ plan: ModbusReadPlan, points: [ModbusPoint], every: Double, host: String, port: Int,
                       decode: @escaping (ModbusResponse, ModbusPoint) -> ModbusValue) async throws {
        guard every > 0, polls >= 0 else { throw ValidationError("--every must be above 0 and --polls not negative") }
        let poller = try ModbusPoller(.init(unit: unit, groups: [.init(interval: Int64(every * 1000), reads: plan.reads.map(\.request))]))
        var delivered = 0
        await ModbusPollRunner(host: host, port: port, timeout: .milliseconds(Int64(opcua.timeout * 1000)))
            .run(poller, now: { Timestamp.now().millisecondsSinceEpoch }) { report in
                guard case .polled(_, let answers, let at, _) = report else { return true }
                let time = Timestamp(millisecondsSinceEpoch: at).rfc3339
                for (point, value) in zip(points, plan.values(answers, points: points) { index, response in decode(response, points[index]) }) {
                    switch value {
                    case .success(let value): print("\(time)\t\(point.address)\t\(Self.text(value))")
                    case .failure(let error): print("\(time)\t\(point.address)\terror: \(error)")
                    }
                }
                fflush(nil)  // each poll as it comes, also through a pipe
                delivered += 1
                return polls == 0 || delivered < polls
            }
    }

    private func start() throws -> (ModbusTable, UInt16) {
        switch (reference, table, address) {
        case (let reference?, nil, nil): return try ModbusTable.reference(reference)
        case (nil, let table?, let address?):
            let tables = ["coil": ModbusTable.coil, "discrete-input": .discreteInput, "holding-register": .holdingRegister, "input-register": .inputRegister]
            guard let table = tables[table] else { throw ValidationError("--table must be coil, discrete-input, holding-register or input-register") }
            return (table, address)
        default: throw ValidationError("give either --reference, or --table and --address")
        }
    }

    static func endpoint(_ url: String) throws -> (host: String, port: Int) {
        guard url.hasPrefix("modbus://") else { throw ValidationError("the device is modbus://host[:port], got \(url)") }
        let rest = url.dropFirst("modbus://".count)
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard !rest.isEmpty, parts.count <= 2, !parts[0].isEmpty else { throw ValidationError("the device is modbus://host[:port], got \(url)") }
        guard parts.count == 2 else { return (String(parts[0]), 502) }
        guard let port = Int(parts[1]), (1...65_535).contains(port) else { throw ValidationError("\(url): the port must be 1 to 65535") }
        return (String(parts[0]), port)
    }

    static func text(_ value: ModbusValue) -> String {
        switch value {
        case .bool(let flag): String(flag)
        case .int(let number): String(number)
        case .uint(let number): String(number)
        case .double(let number): String(number)
        case .string(let text): text
        }
    }
}
