import GembaConnectors
import Modbus
import Testing

@Suite struct EdgeConfigurationTests {
    static let valid = """
        broker:
          url: mqtt://gateway@10.0.0.5:1884
          password: {env: BROKER_PASSWORD}
        sparkplug: {group: plant1, node: gateway1, primaryHost: gemba}
        modbus:
          - device: press3
            host: 10.0.0.12
            unit: 7
            addressing: one-based
            every: 500ms
            pacing: 20ms
            tags:
              - {name: temp, table: holding-register, address: 1, type: float32, order: cdab, unit: °C, deadband: 0.5}
              - {name: status, table: holding-register, address: 3}
              - {name: door, table: holding-register, address: 3, type: bit3}
              - {name: reset, table: coil, address: 6, writable: true, every: 5s}
          - device: oven1
            host: oven1.local
            port: 5020
            addressing: modicon
            tags:
              - {name: zone1, reference: "30001", type: int16, scale: 0.1, offset: -5}
              - {name: name, reference: "400101", type: string8}
        """

    @Test func aValidFileGivesItsDevicesWithAddressesAsStated() throws {
        let configuration = try EdgeConfiguration.parse(Self.valid, file: "edge.yaml", environment: ["BROKER_PASSWORD": "s3cret"])
        #expect(configuration.broker.host == "10.0.0.5" && configuration.broker.port == 1884)
        #expect(configuration.broker.username == "gateway" && configuration.broker.password == Array("s3cret".utf8))
        #expect(configuration.group == "plant1" && configuration.node == "gateway1" && configuration.primaryHost == "gemba")
        let press = configuration.modbus[0]
        #expect(press.unit == 7 && press.port == 502 && press.pacing == 20 && press.timeout == 2000)
        // one-based: address 1 is protocol address 0.
        #expect(press.tags[0].point == ModbusPoint(table: .holdingRegister, address: 0, type: .float32))
        #expect(press.tags[0].order == .cdab && press.tags[0].deadband == 0.5 && press.tags[0].interval == 500)
        #expect(press.tags[1].point.type == .uint16 && press.tags[2].point.type == .bit(3))
        #expect(press.tags[3].point == ModbusPoint(table: .coil, address: 5, type: .bool) && press.tags[3].writable && press.tags[3].interval == 5000)
        let oven = configuration.modbus[1]
        #expect(oven.tags[0].point == ModbusPoint(table: .inputRegister, address: 0, type: .int16) && oven.tags[0].offset == -5)
        #expect(oven.tags[1].point == ModbusPoint(table: .holdingRegister, address: 100, type: .string(registers: 8)))
    }

    @Test func everyProblemIsReportedWithItsLineAndNothingIsReturned() {
        let text = """
            broker: {url: "http://nope", password: {env: MISSING}}
            sparkplug: {group: plant1}
            modbus:
              - device: press/3
                host: 10.0.0.12
                addressing: zero-based
                colour: blue
                tags:
                  - {name: a, table: holding-register, address: 0, type: float64}
                  - {name: b, table: holding-register, address: 2, type: int16}
                  - {name: c, table: input-register, address: 0, writable: true}
                  - {name: d, table: holding-register, address: 10, type: bit3, writable: true}
                  - {name: e, table: holding-register, address: 10, type: bit3}
                  - {name: f, table: discrete-input, address: 0, type: uint16}
                  - {name: b, table: holding-register, address: 40}
              - device: oven1
                host: oven1.local
                addressing: modicon
                every: 0s
                tags:
                  - {name: x, table: coil, address: 1}
            """
        #expect {
            _ = try EdgeConfiguration.parse(text, file: "edge.yaml")
        } throws: { error in
            guard let errors = error as? ConfigurationErrors else { return false }
            let found = errors.issues.map { "\($0.line): \($0.message)" }
            let expected = [
                "1: broker: 'password': the environment variable MISSING is not set",
                "2: sparkplug: 'node' is required",
                "4: device 'press/3': the device id must be 1–64 characters without '/', '+' or '#'",
                "7: a Modbus device: unknown key 'colour'",
                "10: device 'press/3': tag 'b' (holding-register 2…2) overlaps 'a' (0…3)",
                "11: device 'press/3', tag 'c': only coils and holding registers can be written",
                "12: device 'press/3', tag 'd': a bit of a register cannot be written on its own",
                "13: device 'press/3': tag 'e' reads a bit another tag reads",
                "14: device 'press/3', tag 'f': coils and discrete inputs hold bool values only",
                "15: device 'press/3': tag 'b' is listed twice",
                "19: device 'oven1': 'every' must be a duration",
                "21: device 'oven1', tag 'x': with modicon addressing, give a 'reference'",
            ]
            for line in expected where !found.contains(where: { $0.hasPrefix(line) }) {
                Issue.record("missing: \(line)\nfound:\n\(found.joined(separator: "\n"))")
            }
            // The secret's name may appear, the broker's url too, but never a resolved secret.
            return errors.description.contains("edge.yaml:2:") && found.count >= expected.count
        }
    }

    @Test func aSecretComesFromAFileAndASyntaxErrorNamesItsPlace() throws {
        let text = "broker: {url: mqtt://u@h, password: {file: /run/secrets/broker}}\nsparkplug: {group: g, node: n}\nmodbus:\n  - {device: d, host: h, addressing: zero-based, tags: [{name: t, table: coil, address: 0}]}\n"
        let configuration = try EdgeConfiguration.parse(text, file: "e.yaml") { $0 == "/run/secrets/broker" ? "from-file\n" : nil }
        #expect(configuration.broker.password == Array("from-file".utf8))
        #expect {
            _ = try EdgeConfiguration.parse("broker: [a\n  b: c", file: "e.yaml")
        } throws: { error in
            (error as? ConfigurationErrors)?.issues.first.map { $0.line == 2 && $0.message.hasPrefix("not valid YAML") } ?? false
        }
    }
}
