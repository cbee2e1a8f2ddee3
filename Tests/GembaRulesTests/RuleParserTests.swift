import GembaRules
import Testing

@Suite struct RuleParserTests {
    @Test func readsTheIssuesExamples() throws {
        let overheat = try RuleParser.parse("spindle_temp > 85 for 2m clear < 80")
        #expect(overheat.condition == .compare(.tag("spindle_temp"), .greater, .literal(.number(85))))
        #expect(overheat.onDelay == 120_000)
        #expect(overheat.clear == .compare(.tag("spindle_temp"), .less, .literal(.number(80))))

        let stopped = try RuleParser.parse("state in [breakdown, jam] for 5m")
        #expect(stopped.condition == .member(.state, [.string("breakdown"), .string("jam")], negated: false))
        #expect(stopped.onDelay == 300_000)

        let silent = try RuleParser.parse("no_data(vibration, 5m)")
        #expect(silent.condition == .noData(tag: "vibration", duration: 300_000))
        #expect(silent.dependsOnTime)
    }

    @Test func nestsAndOrNotWithPrecedence() throws {
        let expression = try RuleParser.parse("a > 1 or b > 2 and not (c == \"x\" || d)")
        #expect(expression.condition == .any([
            .compare(.tag("a"), .greater, .literal(.number(1))),
            .all([
                .compare(.tag("b"), .greater, .literal(.number(2))),
                .not(.any([.compare(.tag("c"), .equal, .literal(.string("x"))), .compare(.tag("d"), .equal, .literal(.bool(true)))])),
            ]),
        ]))
    }

    /// Nesting is bounded: 64 levels read, deeper ones are refused with the place, and a hostile
    /// document of a hundred thousand parentheses or `not`s costs an error, not the stack.
    @Test func nestingIsBoundedSoNoInputExhaustsTheStack() throws {
        let deep = String(repeating: "(", count: 63) + "a > 1" + String(repeating: ")", count: 63)
        #expect(try RuleParser.parseCondition(deep) == .compare(.tag("a"), .greater, .literal(.number(1))))
        for hostile in [String(repeating: "(", count: 100_000) + "a > 1", String(repeating: "not ", count: 100_000) + "a > 1"] {
            #expect(throws: RuleSyntaxError.self) { try RuleParser.parse(hostile) }
            do { _ = try RuleParser.parseCondition(hostile) } catch { #expect(error.message == "conditions nest at most 64 deep") }
        }
    }

    @Test func readsFunctionsMetadataKPIsAndTiming() throws {
        let expression = try RuleParser.parse("""
            # per-machine threshold from the asset's metadata
            rate(spindle_temp, 10m) >= meta.max_rise AND deviation(power, 1h) > 3
              OR shift.oee < 0.6
            for 3 of 5 samples clear when shift.oee >= 0.65 after 90s
            """)
        #expect(expression.samples == .init(count: 3, window: 5))
        #expect(expression.offDelay == 90_000)
        #expect(expression.readsKPIs)
        #expect(expression.longestWindow == 3_600_000)
        #expect(expression.tags == ["spindle_temp", "power"])
    }

    @Test(arguments: [
        "spindle_temp > 85 for 2m clear < 80",
        "state in [breakdown, jam] for 5m",
        "no_data(vibration, 5m)",
        "a > 1 or b > 2 and not (c == \"x\" or d == true)",
        "rate(`tag with space`, 10m) >= meta.max_rise and deviation(power, 1h) > -3.5 for 3 of 5 samples clear when shift.oee >= 0.65 after 90s",
        "state not in [\"true\", planned_stop] clear after 1500ms",
        #"`and` == 'it\'s \\ \"q\"'"#,
    ])
    func writesTextThatReadsBackTheSame(_ text: String) throws {
        let expression = try RuleParser.parse(text)
        #expect(try RuleParser.parse(RuleText.text(expression)) == expression)
    }

    @Test(arguments: [
        ("", 1, 1, "empty"),
        ("spindle_temp >", 1, 15, "expected a tag, number or string"),
        ("temp > 85 for", 1, 14, "expected a duration"),
        ("temp > 85\n  and foo(x, 5m) > 1", 2, 7, "unknown function \"foo\""),
        ("temp > 85 for 2x", 1, 16, "unknown unit \"x\""),
        ("(temp > 85", 1, 11, "expected \")\""),
        ("temp > 85 or humid > 2 clear < 80", 1, 24, "deadband"),
        ("temp > \"85", 1, 8, "not closed"),
        ("temp > 85 @", 1, 11, "unexpected character"),
        ("shift.uptime < 1", 1, 1, "unknown KPI"),
        ("temp >= 5 5", 1, 11, "unexpected the number 5"),
    ] as [(String, Int, Int, String)])
    func namesTheLineAndColumnOfAnError(_ text: String, _ line: Int, _ column: Int, _ words: String) {
        do {
            let expression = try RuleParser.parse(text)
            Issue.record("parsed \(text) as \(expression)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.column == column, "\(error)")
            #expect(error.message.contains(words), "\(error)")
        }
    }
}
