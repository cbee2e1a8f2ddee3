import Foundation
import GembaCore
import GembaRules
import Testing

@Suite struct RuleDocumentTests {
    let full = #"""
        {"id": "spindle-overheat", "name": "Spindle overheating", "condition": "spindle_temp > meta.limit for 2m clear < 80 after 30s",
         "severity": "high", "escalation": [{"after": "10m", "severity": "critical", "when": "spindle_temp > 95"}],
         "scope": "plant1/machining", "required_tag": "spindle_temp", "latching": true, "longest_shelve": "2h",
         "chattering": {"enabled": true, "activations": 4, "window": 120000}, "suppress_when": ["planned_stop"],
         "schedule": {"weekdays": [1, 2, 3, 4, 5], "start": "06:00", "end": "22:00", "time_zone": "Europe/Berlin"},
         "labels": {"team": "maintenance"}, "enabled": false}
        """#

    @Test func readsEveryMemberAndWritesWhatReadsBackTheSame() throws {
        let rule = try RuleDocument.decode(Data(full.utf8))
        #expect(rule.expression.onDelay == 120_000 && rule.expression.offDelay == 30_000)
        #expect(rule.escalation == [EscalationStage(after: 600_000, severity: .critical, when: try RuleParser.parseCondition("spindle_temp > 95"))])
        #expect(rule.latching && !rule.enabled && rule.longestShelve == 7_200_000 && rule.chattering.activations == 4)
        #expect(rule.schedule == RuleSchedule(weekdays: [1, 2, 3, 4, 5], start: 360, end: 1320, timeZone: "Europe/Berlin"))
        #expect(try RuleDocument.decode(RuleDocument.encode(rule)) == rule)
    }

    @Test func theJSONExpressionIsTheSameRuleAsItsText() throws {
        let text = try RuleDocument.decode(Data(#"{"id": "a", "name": "a", "severity": "low", "condition": "state in [jam, \"x y\"] and not no_data(t, 5m) or rate(t, 1m) >= -2 for 3 of 4"}"#.utf8))
        let written = try #require(String(data: RuleDocument.encode(text), encoding: .utf8))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(written.utf8)) as? [String: Any])
        let expression = try JSONSerialization.data(withJSONObject: ["id": "a", "name": "a", "severity": "low", "expression": object["expression"]!])
        #expect(try RuleDocument.decode(expression).expression == text.expression)
    }

    @Test(arguments: [
        (#"{"name": "a", "severity": "low", "condition": "t > 1"}"#, "id is required"),
        (#"{"id": "a", "name": "a", "severity": "urgent", "condition": "t > 1"}"#, "severity"),
        (#"{"id": "a", "name": "a", "severity": "low", "condition": "t >\n 1 for"}"#, "condition: line 2, column 7"),
        (#"{"id": "a", "name": "a", "severity": "low"}"#, "condition (rule text) or expression"),
        (#"{"id": "a b", "name": "a", "severity": "low", "condition": "t > 1"}"#, "rule id"),
        (#"{"id": "a", "name": "a", "severity": "low", "condition": "t > 1", "longest_shelve": "forever"}"#, "not a duration"),
        (#"{"id": "a", "name": "a", "severity": "low", "condition": "t > 1", "schedule": {"weekdays": [8], "start": "06:00", "end": "07:00", "time_zone": "UTC"}}"#, "weekdays"),
        (#"{"id": "a", "name": "a", "severity": "low", "condition": "t > 1", "scope": "a//b"}"#, "asset subtree segment name must be 1 to 64"),
        (#"{"id": "a", "name": "a", "severity": "low", "expression": {"when": {"op": "~", "left": 1, "right": 2}}}"#, "not a comparison"),
        (#"[1]"#, "the body"),
    ] as [(String, String)])
    func namesWhatIsWrong(_ json: String, _ words: String) {
        #expect {
            _ = try RuleDocument.decode(Data(json.utf8))
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return error.message.contains(words) ? true : { print(error.message); return false }()
        }
    }
}
