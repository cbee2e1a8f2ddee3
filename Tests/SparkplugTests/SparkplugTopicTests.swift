import Sparkplug
import Testing

@Suite struct SparkplugTopicTests {
    @Test func validTopicsParseAndPrintBack() throws {
        let table: [(String, SparkplugTopic)] = [
            ("spBv1.0/plant1/NBIRTH/gw-1", .edge(.nbirth, group: "plant1", node: "gw-1", device: nil)),
            ("spBv1.0/plant1/DDATA/gw-1/press 7", .edge(.ddata, group: "plant1", node: "gw-1", device: "press 7")),
            ("spBv1.0/Plant Ö/NCMD/gw.1", .edge(.ncmd, group: "Plant Ö", node: "gw.1", device: nil)),
            ("spBv1.0/g/DCMD/n/d", .edge(.dcmd, group: "g", node: "n", device: "d")),
            ("spBv1.0/STATE/gemba-host", .state(host: "gemba-host")),
        ]
        for (text, expected) in table {
            let topic = try SparkplugTopic(parsing: text)
            #expect(topic == expected, "\(text)")
            #expect(topic.description == text)
        }
    }

    @Test func invalidTopicsAreRefusedWithAReason() {
        let table: [(String, String)] = [
            ("spAv1.0/g/NDATA/n", "does not start with spBv1.0/"),
            ("spBv1.0/g/NDATA", "got 3 levels"),
            ("spBv1.0/g/NDATA/n/d/x", "got 6 levels"),
            ("spBv1.0/g/DATA/n", "unknown message type \"DATA\""),
            ("spBv1.0/g/ndata/n", "unknown message type \"ndata\""),
            ("spBv1.0/g/DDATA/n", "DDATA needs a device id"),
            ("spBv1.0/g/NDATA/n/d", "NDATA takes no device id"),
            ("spBv1.0//NDATA/n", "the group id is empty"),
            ("spBv1.0/g/NDATA/", "the edge node id is empty"),
            ("spBv1.0/g+/NDATA/n", "the group id \"g+\" contains the reserved character +"),
            ("spBv1.0/g/DDATA/n/#", "the device id \"#\" contains the reserved character #"),
            ("spBv1.0/STATE", "a STATE topic is spBv1.0/STATE/<host id>"),
            ("spBv1.0/STATE/h/extra", "a STATE topic is spBv1.0/STATE/<host id>"),
            ("spBv1.0/STATE/", "the host id is empty"),
        ]
        for (text, reason) in table {
            #expect(throws: SparkplugTopicError.self, "\(text)") { try SparkplugTopic(parsing: text) }
            do {
                _ = try SparkplugTopic(parsing: text)
            } catch {
                #expect(error.reason.contains(reason), "\(text): \(error.reason)")
            }
        }
    }
}
