import GembaServer
import NIOCore
import Testing

@Suite struct JSONWriterTests {
    @Test func writesNumbersStringsAndNestingExactly() {
        var json = JSONWriter()
        json.object { json in
            json.field("ints") { json in json.array { json in for n in [0, 7, -42, Int64.max, Int64.min] { json.int(n) } } }
            json.field("doubles") { json in json.array { json in for x in [1.5, -0.25, .nan, .infinity] { json.double(x) } } }
            json.field("text") { $0.string("a \"quoted\" \\ line\nwith\ttab and \u{1}") }
            json.field("flags") { json in json.array { json in json.bool(true); json.null() } }
        }
        #expect(String(buffer: json.buffer) == #"""
            {"ints":[0,7,-42,9223372036854775807,-9223372036854775808],"doubles":[1.5,-0.25,null,null],"text":"a \"quoted\" \\ line\nwith\ttab and \u0001","flags":[true,null]}
            """#)
        #expect(JSONWriter.quoted("x\"y") == #""x\"y""#)
    }
}
