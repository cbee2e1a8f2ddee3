import GembaCore
import GembaIngest
import Testing

let tenant = TenantID.default
let now = Timestamp(millisecondsSinceEpoch: 1_732_200_000_000)
let press = try! AssetPath("plant1/press-shop/line3/press-7")

@Suite struct JSONParserTests {
    @Test func parsesEveryKind() throws {
        let value = try JSONParser.parse(Array(#"{"a":[1,-2.5e3,true,false,null,"x\"\u00e9\ud83d\ude00"],"b":{}}"#.utf8))
        #expect(value["a"] == .array([.integer(1), .number(-2500), .bool(true), .bool(false), .null, .string("x\"é😀")]))
        #expect(value["b"] == .object([]))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\u{01}\"", "nul", "{}x", "\"\\ud800\"", "1e999",
                      String(repeating: "[", count: 100) + String(repeating: "]", count: 100)])
    func rejectsMalformed(text: String) {
        #expect(throws: JSONError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }
}

@Suite struct JSONRecordDecoderTests {
    let decoder = JSONRecordDecoder()

    @Test func machineTopicWithRecord() {
        let payload = #"{"ts": 1732199990000, "values": {"spindle_temp": 71.2, "state": "running", "good_count": 1200, "door": false}}"#
        let out = decoder.decodeMQTT(topic: "gemba/v1/plant1/press-shop/line3/press-7", payload: Array(payload.utf8), tenant: tenant, now: now)
        #expect(out.errors.isEmpty)
        let byTag = Dictionary(uniqueKeysWithValues: out.points.map { ($0.series.tag, $0) })
        #expect(byTag["spindle_temp"]?.sample.value == .double(71.2))
        #expect(byTag["state"]?.sample.value == .string("running"))
        #expect(byTag["good_count"]?.sample.value == .int(1200))
        #expect(byTag["door"]?.sample.value == .bool(false))
        #expect(out.points.allSatisfy { $0.series.machine == press && $0.sample.time.millisecondsSinceEpoch == 1_732_199_990_000 })
    }

    @Test func machineTopicWithoutAreaAndRFC3339() {
        let payload = #"{"ts": "2024-11-21T14:39:59.5Z", "values": {"speed": {"value": 12, "unit": "rpm", "quality": "uncertain"}}}"#
        let out = decoder.decodeMQTT(topic: "gemba/v1/plant1/line3/press-7", payload: Array(payload.utf8), tenant: tenant, now: now)
        #expect(out.errors.isEmpty)
        #expect(out.points.first?.series.machine == (try? AssetPath("plant1/line3/press-7")))
        #expect(out.points.first?.sample == Sample(time: Timestamp(millisecondsSinceEpoch: 1_732_199_999_500), value: .double(12), quality: .uncertain))
        #expect(out.points.first?.unit == "rpm")
    }

    @Test func tagTopicWithScalar() {
        let out = decoder.decodeMQTT(topic: "gemba/v1/plant1/press-shop/line3/press-7/spindle_temp", payload: Array("71.5".utf8),
                                     tenant: tenant, now: now)
        #expect(out.points == [Point(series: SeriesKey(tenant: tenant, machine: press, tag: "spindle_temp"),
                                     sample: Sample(time: now, value: .double(71.5)))])
        // Four segments with a scalar: site/line/machine/tag.
        let short = decoder.decodeMQTT(topic: "gemba/v1/plant1/line3/press-7/state", payload: Array("\"idle\"".utf8), tenant: tenant, now: now)
        #expect(short.points.first?.series.tag == "state")
        #expect(short.points.first?.series.machine.description == "plant1/line3/press-7")
    }

    @Test(arguments: [
        ("gemba/v1/plant1/line3/press-7", "{not json", PointError.malformed),
        ("gemba/v1/plant1/line3/press-7", #"{"values": {"t": null}}"#, ModelError.Code.invalidValue),
        ("gemba/v1/plant1/line3/press-7", #"{"ts": 1000, "values": {"t": 1}}"#, ModelError.Code.invalidTimestamp),
        ("gemba/v1/plant1/line3/press-7", #"{"ts": "yesterday", "values": {"t": 1}}"#, ModelError.Code.invalidTimestamp),
        ("gemba/v1/plant1/line3/press-7", #"{"ts": 1832200000000, "values": {"t": 1}}"#, ModelError.Code.invalidTimestamp),
        ("gemba/v1/plant1/line3/press-7", #"{"values": {"bad tag": 1}}"#, ModelError.Code.invalidTag),
        ("gemba/v1/plant1/line3/press-7", #"{"values": {"t": [1]}}"#, ModelError.Code.invalidValue),
        ("gemba/v1/plant1/press-7", "1", ModelError.Code.invalidPath),
        ("gemba/v1/a/b/c/d/e/f", "1", ModelError.Code.invalidPath),
        ("other/topic", "1", ModelError.Code.invalidPath),
    ])
    func badInputIsRejectedWithAReason(topic: String, payload: String, code: ModelError.Code) {
        let out = decoder.decodeMQTT(topic: topic, payload: Array(payload.utf8), tenant: tenant, now: now)
        #expect(out.points.isEmpty)
        #expect(out.errors.map(\.code) == [code])
    }

    @Test func batchKeepsGoodRecordsAndNamesTheBadOnes() {
        let body = #"""
        {"records": [
          {"machine": "plant1/line3/press-7", "values": {"temp": 70.5, "state": "running"}},
          {"machine": "plant1/press-7", "values": {"temp": 1}},
          {"machine": "plant1/line3/mill-2", "ts": "2024-11-21T14:39:00Z", "values": {"temp": 65, "vib": "x", "bad": {"v": 1}}}
        ]}
        """#
        let out = decoder.decodeBatch(Array(body.utf8), tenant: tenant, now: now)
        #expect(out.points.count == 4)
        #expect(out.errors.map(\.location) == ["records[1].machine", "records[2].values.bad"])
    }

    @Test func batchMustBeRecords() {
        #expect(decoder.decodeBatch(Array("{\"x\": 1}".utf8), tenant: tenant, now: now).errors.first?.code == PointError.malformed)
        #expect(decoder.decodeBatch(Array("[".utf8), tenant: tenant, now: now).errors.first?.message.contains("byte 1") == true)
    }
}

@Suite struct LineProtocolDecoderTests {
    let decoder = LineProtocolDecoder()

    func decode(_ text: String, precision: LineProtocolDecoder.Precision = .nanoseconds, bucket: String? = nil) -> DecodedPoints {
        decoder.decode(Array(text.utf8), precision: precision, defaultLine: bucket, tenant: tenant, now: now)
    }

    @Test func telegrafStyleLines() {
        let out = decode("""
            modbus,site=plant1,area=press-shop,line=line3,machine=press-7,host=gw1 temperature=71.2,count=42i,ok=true,mode="auto \\"x\\"" 1732199999123456789
            # a comment

            cpu,machine=plant1/line3/press-7 usage_idle=99.5 1732199999000000000\r
            """)
        #expect(out.errors.isEmpty)
        let values = out.points.map { "\($0.series.machine)/\($0.series.tag)=\($0.sample.value)@\($0.sample.time.millisecondsSinceEpoch)" }
        #expect(values == [
            "plant1/press-shop/line3/press-7/modbus.temperature=double(71.2)@1732199999123",
            "plant1/press-shop/line3/press-7/modbus.count=int(42)@1732199999123",
            "plant1/press-shop/line3/press-7/modbus.ok=bool(true)@1732199999123",
            "plant1/press-shop/line3/press-7/modbus.mode=string(\"auto \\\"x\\\"\")@1732199999123",
            "plant1/line3/press-7/cpu.usage_idle=double(99.5)@1732199999000",
        ])
    }

    @Test func escapesPrecisionAndBucket() {
        let out = decode(#"my\ meas,machine=press-7 field\=x=1u,f2=-3e2 1732199999"#, precision: .seconds, bucket: "plant1/line3")
        #expect(out.errors.isEmpty, "\(out.errors)")
        #expect(out.points.map(\.series.tag) == ["my_meas.field_x", "my_meas.f2"])
        #expect(out.points.first?.series.machine.description == "plant1/line3/press-7")
        #expect(out.points.last?.sample.value == .double(-300))
        #expect(out.points.allSatisfy { $0.sample.time.millisecondsSinceEpoch == 1_732_199_999_000 })
        let noTime = decode("m,machine=a/b/c v=1")
        #expect(noTime.points.first?.sample.time == now)
    }

    @Test(arguments: [
        ("m,machine=a/b/c", "expected 'space'"),
        ("m,machine=a/b/c v=", "not a number"),
        ("m,machine=a/b/c v=NaN", "not a number"),
        ("m,machine=a/b/c v=+Inf", "not a number"),
        ("m,machine=a/b/c v=\"open", "unterminated"),
        ("m,machine=a/b/c v=1 12x", "not an integer"),
        ("m,host=x v=1", "no 'machine' tag"),
        ("m,machine=c v=1", "needs the tags site and line"),
        ("m,machine=a/b/c v=1 1000", "older than"),
        ("m,machine=a/b/c v=99999999999999999999u", "out of range"),
    ])
    func badLinesAreReportedByNumber(line: String, reason: String) {
        let out = decode("ok,machine=a/b/c v=1\n" + line)
        #expect(out.points.count == 1)
        #expect(out.errors.count == 1)
        #expect(out.errors.first?.location == "line 2")
        #expect(out.errors.first?.message.contains(reason) == true, "\(out.errors)")
    }

    @Test func precisionNames() {
        #expect(LineProtocolDecoder.Precision("u") == .microseconds)
        #expect(LineProtocolDecoder.Precision(nil) == .nanoseconds)
        #expect(LineProtocolDecoder.Precision("rfc3339") == nil)
    }
}
