import Foundation
@testable import Sparkplug
import Testing

/// Every datatype through a payload and back, plus the array layouts of 3.0 § 6.4.17.
@Suite struct ValueTests {
    static let cases: [(SparkplugDataType, SparkplugValue)] = [
        (.int8, .int(-23)), (.int16, .int(-30_000)), (.int32, .int(-2_000_000_000)), (.int64, .int(Int64.min)),
        (.uint8, .int(255)), (.uint16, .int(65_535)), (.uint32, .int(4_294_967_295)), (.uint64, .uint64(UInt64.max)),
        (.float, .float(1.25)), (.double, .double(-0.1)), (.boolean, .boolean(true)), (.string, .string("Ölpumpe 3")),
        (.dateTime, .dateTime(1_700_000_000_123)), (.text, .string("long text")),
        (.uuid, .string("5b1b1e2a-3c3e-4a7e-9a43-2f3c2b1a0a10")), (.bytes, .bytes([0, 1, 254, 255])),
        (.file, .bytes(Array("a,b\n1,2\n".utf8))),
        (.int8Array, .intArray([-23, 123])), (.int16Array, .intArray([-1, 32_767])),
        (.int32Array, .intArray([123_456_789, 987_654_321])), (.int64Array, .intArray([Int64.min, 42])),
        (.uint8Array, .intArray([0, 255])), (.uint16Array, .intArray([1, 65_535])),
        (.uint32Array, .intArray([4_294_967_295])), (.uint64Array, .uint64Array([UInt64.max, 0])),
        (.floatArray, .floatArray([1.5, -2.25])), (.doubleArray, .doubleArray([0.1, 1e300])),
        (.booleanArray, .booleanArray([false, false, true, true, false, true, false, false, true, true, false, true])),
        (.stringArray, .stringArray(["ABC", "", "héllo"])), (.dateTimeArray, .dateTimeArray([1_700_000_000_000, 0])),
        (.dataSet, .dataSet(SparkplugDataSet(columns: ["id", "name", "ok"], types: [.uint32, .string, .boolean],
                                             rows: [[.int(1), .string("a"), .boolean(true)], [.int(2), nil, .boolean(false)]]))),
        (.template, .template(SparkplugTemplate(
            version: "1.0", templateRef: "Motor", isDefinition: false,
            metrics: [try! SparkplugMetric(name: "rpm", dataType: .double, value: .double(1450.5))],
            parameters: [SparkplugTemplateParameter(name: "poles", type: .uint32, value: .int(4))]))),
    ]

    @Test func everyDatatypeRoundTrips() throws {
        #expect(Self.cases.count == SparkplugDataType.allCases.count - 3, "all but Unknown, PropertySet, PropertySetList")
        let metrics = try Self.cases.map { type, value in try SparkplugMetric(name: "\(type)", dataType: type, value: value) }
        let bytes = SparkplugPayload(timestamp: 1, seq: 7, metrics: metrics).serialized()
        let decoded = try SparkplugPayload(decoding: bytes)
        #expect(decoded.seq == 7)
        for (metric, (type, value)) in zip(decoded.metrics, Self.cases) {
            #expect(metric.dataType == type)
            #expect(try metric.value() == value, "\(type)")
        }
    }

    @Test func arraysUseTheSpecificationsLayout() throws {
        func bytes(_ type: SparkplugDataType, _ value: SparkplugValue) throws -> [UInt8] {
            guard case .bytes(let data) = try value.wire(as: type) else { return [] }
            return [UInt8](data)
        }
        #expect(try bytes(.int8Array, .intArray([-23, 123])) == [0xE9, 0x7B])
        #expect(try bytes(.int32Array, .intArray([123_456_789, 987_654_321])) == [0x15, 0xCD, 0x5B, 0x07, 0xB1, 0x68, 0xDE, 0x3A])
        #expect(try bytes(.booleanArray, .booleanArray([false, false, true, true, false, true, false, false, true, true, false, true]))
            == [0x0C, 0x00, 0x00, 0x00, 0x34, 0xD0])
        #expect(try bytes(.stringArray, .stringArray(["AB", "C"])) == [0x41, 0x42, 0x00, 0x43, 0x00])
        #expect(try bytes(.floatArray, .floatArray([1.0])) == [0x00, 0x00, 0x80, 0x3F])
    }

    @Test func propertiesCarryUnitsAndNestedSets() throws {
        let nested = SparkplugPropertySet([("limit", SparkplugPropertyValue(type: .double, value: .double(80)))])
        let properties = SparkplugPropertySet([
            ("engUnit", SparkplugPropertyValue(type: .string, value: .string("°C"))),
            ("Quality", SparkplugPropertyValue(type: .int32, value: .int(192))),
            ("alarms", SparkplugPropertyValue(type: .propertySet, value: .propertySet(nested))),
            ("history", SparkplugPropertyValue(type: .propertySetList, value: .propertySetList([nested, nested]))),
            ("note", SparkplugPropertyValue(type: .string, value: nil)),
        ])
        let metric = try SparkplugMetric(name: "t", dataType: .double, value: .double(21), properties: properties)
        let decoded = try SparkplugPayload(decoding: SparkplugPayload(metrics: [metric]).serialized()).metrics[0]
        #expect(decoded.properties == properties)
        #expect(decoded.properties?["ENGUNIT"]?.value == .string("°C"))
    }

    @Test func valuesThatDoNotFitTheirDatatypeAreRefusedWithAReason() throws {
        let wrongField = try SparkplugMetric(name: "x", dataType: .string, value: .string("7"))
        var mislabelled = wrongField
        mislabelled.dataTypeCode = SparkplugDataType.int32.rawValue
        #expect(throws: SparkplugValueError.self) { try mislabelled.value() }
        #expect(throws: SparkplugValueError.self) { try SparkplugValue.decode(.int(300), as: .uint8) }
        #expect(throws: SparkplugValueError.self) { try SparkplugValue.decode(.bytes(Data([1, 2, 3])), as: .int16Array) }
        #expect(throws: SparkplugValueError.self) { try SparkplugValue.decode(.bytes(Data([9, 0, 0, 0, 0])), as: .booleanArray) }
        #expect(throws: SparkplugValueError.self) { try SparkplugValue.decode(.bytes(Data([0x41])), as: .stringArray) }
        var unknown = wrongField
        unknown.dataTypeCode = 99
        #expect(throws: SparkplugValueError.self) { try unknown.value() }
        // Narrow negatives arrive both sign-extended and in their own width.
        #expect(try SparkplugValue.decode(.int(0xFFFF_FFE9), as: .int8) == .int(-23))
        #expect(try SparkplugValue.decode(.int(0xE9), as: .int8) == .int(-23))
    }

    @Test func corruptPayloadsThrowInsteadOfCrashing() {
        let good = SparkplugPayload(timestamp: 5, seq: 1, metrics: [try! SparkplugMetric(
            name: "Temperature", dataType: .double, value: .double(21.5))]).serialized()
        for cut in 1..<good.count {
            _ = try? SparkplugPayload(decoding: good.prefix(cut))  // must not crash; some prefixes are valid messages
        }
        #expect(throws: SparkplugPayloadError.self) { try SparkplugPayload(decoding: [0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) }
        #expect(throws: SparkplugPayloadError.self) { try SparkplugPayload(decoding: Array("{\"json\": true}".utf8)) }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let noise = (0..<Int.random(in: 0...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            if let payload = try? SparkplugPayload(decoding: noise) {
                for metric in payload.metrics { _ = try? metric.value() }
            }
        }
    }
}
