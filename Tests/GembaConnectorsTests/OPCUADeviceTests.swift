import Foundation
import GembaConnectors
import GembaCore
import OPCUA
import Sparkplug
import Testing

@Suite struct OPCUADeviceTests {
    static let file = """
        broker: mqtt://127.0.0.1:1883
        sparkplug: {group: plant1, node: gateway1}
        opcua:
          - device: press7
            endpoint: opc.tcp://10.0.0.20:4840/press
            user: gateway
            password: {file: /run/secrets/press7}
            publishingInterval: 250ms
            tags:
              - {name: speed, node: "ns=2;s=Press.Speed", unit: rpm, deadband: 0.5, sampling: 100ms}
              - {name: level, path: "Objects/2:Press/2:Level", type: float, percentDeadband: 2, writable: true}
              - {name: count, path: "ns=2;s=Press/2:Count", type: uint32, queueSize: 50}
              - {name: product, node: "ns=2;s=Press.Name", type: string}
          - device: oven1
            endpoint: opc.tcp://oven1
            mode: poll
            every: 2s
            tags:
              - {name: zone1, node: "i=2258", type: datetime}
        """

    @Test func aValidFileGivesServersTagsAndIdentities() throws {
        let configuration = try EdgeConfiguration.parse(Self.file, file: "edge.yaml") { $0 == "/run/secrets/press7" ? "pa55\n" : nil }
        #expect(configuration.modbus.isEmpty && configuration.opcua.count == 2)
        let press = configuration.opcua[0]
        #expect(press.identity == .userName("gateway", password: "pa55") && press.publishingInterval == 250 && press.mode == .subscribe)
        #expect(press.tags[0] == OPCUATag(name: "speed", target: .node(NodeId("Press.Speed", namespace: 2)), dataType: .double, unit: "rpm",
                                          deadband: .absolute(0.5), samplingInterval: 100))
        #expect(press.tags[1].target == .path(start: WellKnownNode.objectsFolder, names: [QualifiedName("Press", namespace: 2), QualifiedName("Level", namespace: 2)]))
        #expect(press.tags[1].deadband == .percent(2) && press.tags[1].dataType == .float && press.tags[1].writable)
        #expect(press.tags[2].target == .path(start: NodeId("Press", namespace: 2), names: [QualifiedName("Count", namespace: 2)]))
        #expect(press.tags[2].queueSize == 50)
        let oven = configuration.opcua[1]
        #expect(oven.mode == .poll && oven.pollInterval == 2000 && oven.identity == .anonymous && oven.tags[0].dataType == .dateTime)
        #expect(configuration.devices.map(\.sourceId) == ["opcua:press7", "opcua:oven1"])
    }

    @Test func aUserCertificateIsReadFromItsFilesAndAKeyAloneIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-user-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let own = try CertificateStore(directory: directory.path).identity(applicationURI: "urn:test:operator", name: "operator")
        let certificate = directory.path + "/own/certificate.der", key = directory.path + "/own/private/key.pem"
        let text = """
            broker: mqtt://127.0.0.1:1883
            sparkplug: {group: plant1, node: gateway1}
            opcua:
              - {device: press7, endpoint: "opc.tcp://h", userCertificate: \(certificate), userKey: \(key), tags: [{name: a, node: "i=1"}]}
              - {device: press8, endpoint: "opc.tcp://h", userKey: \(key), tags: [{name: a, node: "i=1"}]}
            """
        do {
            _ = try EdgeConfiguration.parse(text, file: "edge.yaml") { try? String(contentsOfFile: $0, encoding: .utf8) }
            Issue.record("a key without a certificate must be refused")
        } catch {
            #expect(error.issues.map(\.line) == [5], "\(error)")
        }
        let valid = try EdgeConfiguration.parse(text.components(separatedBy: "\n").dropLast().joined(separator: "\n"), file: "edge.yaml") {
            try? String(contentsOfFile: $0, encoding: .utf8)
        }
        guard case .certificate(let der, _) = valid.opcua[0].identity else {
            Issue.record("expected a certificate identity")
            return
        }
        #expect(der == own.certificate)
    }

    @Test func aDeviceMovingFromModbusToOPCUAIsStoppedAndStartedAnew() throws {
        let modbus = """
            broker: mqtt://127.0.0.1:1883
            sparkplug: {group: plant1, node: gateway1}
            modbus:
              - {device: press7, host: 10.0.0.20, addressing: zero-based, tags: [{name: speed, table: holding-register, address: 0}]}
              - {device: oven1, host: 10.0.0.21, addressing: zero-based, tags: [{name: zone1, table: holding-register, address: 0}]}
            """
        let before = try EdgeConfiguration.parse(modbus, file: "a.yaml")
        let after = try EdgeConfiguration.parse(modbus.replacingOccurrences(of: "  - {device: press7, host: 10.0.0.20, addressing: zero-based, tags: [{name: speed, table: holding-register, address: 0}]}\n", with: "")
            + "\nopcua:\n  - {device: press7, endpoint: \"opc.tcp://10.0.0.20\", tags: [{name: speed, node: \"ns=2;i=7\"}]}\n", file: "b.yaml")
        let change = before.change(to: after)
        #expect(change.removed.map(\.sourceId) == ["modbus:press7"])
        #expect(change.changed.map(\.sourceId) == ["opcua:press7"])  // oven1 did not change
    }

    @Test func problemsAreReportedByLine() {
        let text = """
            broker: mqtt://127.0.0.1:1883
            sparkplug: {group: plant1, node: gateway1}
            opcua:
              - device: press7
                endpoint: tcp://x
                securityPolicy: Basic256Sha256
                mode: push
                tags:
                  - {name: a, node: "ns=2;q=1"}
                  - {name: b}
                  - {name: c, node: "i=1", type: text}
                  - {name: d, node: "i=1", type: boolean, deadband: 1}
                  - {name: e, node: "i=1", path: "Objects/x"}
                  - {name: d, node: "i=2"}
            """
        do {
            _ = try EdgeConfiguration.parse(text, file: "edge.yaml")
            Issue.record("a broken file must be refused")
        } catch {
            #expect(error.issues.map(\.line) == [5, 6, 7, 9, 10, 11, 12, 13, 14], "\(error)")
        }
    }

    /// Signing needs a policy that signs: `securityMode: Sign` with no policy, or with `None`, is
    /// refused on its line.
    @Test func signingWithoutASecuredPolicyIsRefused() {
        for policy in ["", "    securityPolicy: None\n"] {
            let text = "broker: mqtt://127.0.0.1:1883\nsparkplug: {group: plant1, node: gateway1}\nopcua:\n"
                + "  - device: press7\n    endpoint: opc.tcp://x\n" + policy
                + "    securityMode: Sign\n    tags: [{name: a, node: \"i=1\"}]\n"
            do {
                _ = try EdgeConfiguration.parse(text, file: "edge.yaml")
                Issue.record("signing without a secured policy must be refused (\(policy))")
            } catch {
                #expect(error.issues.map(\.line) == [policy.isEmpty ? 6 : 7], "\(error)")
                #expect("\(error)".contains("secured"), "\(error)")
            }
        }
    }

    static func device(_ tags: [OPCUATag]) -> OPCUADeviceConfiguration {
        OPCUADeviceConfiguration(device: "press7", endpoint: "opc.tcp://h", tags: tags)
    }

    @Test func valuesArePublishedAtTheirSourceTimeWithQualityFromTheirStatus() {
        var reporter = OPCUADeviceReporter(Self.device([
            OPCUATag(name: "speed", target: .node(NodeId(1))), OPCUATag(name: "count", target: .node(NodeId(2)), dataType: .uint16),
            OPCUATag(name: "name", target: .node(NodeId(3)), dataType: .string),
        ]))
        let source = UADateTime(millisecondsSince1970: 1_000), server = UADateTime(millisecondsSince1970: 2_000)
        var good = DataValue(value: .float(1.5), sourceTimestamp: source)
        good.serverTimestamp = server
        let uncertain = DataValue(value: .int32(7), status: StatusCode(rawValue: 0x4092_0000), serverTimestamp: server)
        let (readings, failures) = reporter.values([(0, good), (1, uncertain), (2, DataValue(value: .localizedText(LocalizedText("P7"))))], at: 5_000)
        #expect(failures.isEmpty)
        #expect(Array(readings.prefix(3)) == [
            .init(name: "speed", value: .double(1.5), quality: .good, timestamp: 1_000),
            .init(name: "count", value: .int(7), quality: .uncertain, timestamp: 2_000),  // no source time: the server's
            .init(name: "name", value: .string("P7"), quality: .good, timestamp: 5_000),  // neither: the gateway's
        ])
        #expect(reporter.health.lastGoodRead == 5_000)
    }

    @Test func aBadOrUnfittingValueKeepsTheLastGoodOneAndIsReportedOnce() {
        var reporter = OPCUADeviceReporter(Self.device([OPCUATag(name: "count", target: .node(NodeId(2)), dataType: .uint16)]))
        _ = reporter.values([(0, DataValue(value: .uint32(9)))], at: 1)
        let (readings, failures) = reporter.values([(0, DataValue(status: .badNodeIdUnknown))], at: 2)
        #expect(readings.first == .init(name: "count", value: .int(9), quality: .bad, timestamp: 2))
        #expect(failures.map(\.tag) == ["count"] && failures[0].reason.contains("BadNodeIdUnknown"))
        #expect(reporter.values([(0, DataValue(value: .uint32(70_000)))], at: 3).failures.isEmpty)  // failing already: not again
        #expect(reporter.health.readErrors == 2)
        let lost = reporter.disconnected("gone", at: 4)
        #expect(lost.contains { $0.name == "device/connected" && $0.value == .boolean(false) })
        _ = reporter.connected(at: 5)
        let back = reporter.values([(0, DataValue(value: .uint32(10)))], at: 6)
        #expect(back.readings.first == .init(name: "count", value: .int(10), timestamp: 6) && back.failures.isEmpty)
    }

    @Test func conversionsBothWaysRespectTheTypes() {
        #expect(OPCUAValueConversion.metricValue(.double(3.0), as: .int32) == .int(3))
        #expect(OPCUAValueConversion.metricValue(.double(3.5), as: .int32) == nil)
        #expect(OPCUAValueConversion.metricValue(.int32(-1), as: .uint8) == nil)
        #expect(OPCUAValueConversion.metricValue(.uint64(.max), as: .uint64) == .uint64(.max))
        #expect(OPCUAValueConversion.metricValue(.boolean(true), as: .double) == .double(1))
        #expect(OPCUAValueConversion.metricValue(.string("x"), as: .double) == nil)
        #expect(OPCUAValueConversion.metricValue(.dateTime(UADateTime(millisecondsSince1970: 42)), as: .dateTime) == .dateTime(42))
        #expect(OPCUAValueConversion.variant(.double(12.0), as: .uint16) == .uint16(12))
        #expect(OPCUAValueConversion.variant(.double(12.5), as: .uint16) == nil)
        #expect(OPCUAValueConversion.variant(.int(-1), as: .byte) == nil)
        #expect(OPCUAValueConversion.variant(.double(61.5), as: .double) == .double(61.5))
        #expect(OPCUAValueConversion.variant(.string("on"), as: .string) == .string("on"))
        #expect(OPCUAValueConversion.variant(.string("on"), as: .double) == nil)
        #expect(OPCUAValueConversion.variant(.boolean(true), as: .boolean) == .boolean(true))
        #expect(OPCUAValueConversion.quality(StatusCode(rawValue: 0x80AB_0000)) == .bad)
    }
}
