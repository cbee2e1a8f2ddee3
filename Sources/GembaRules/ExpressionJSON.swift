internal import GembaCore

/// A rule's expression in JSON, for tools that build rules rather than write them:
///
/// ```json
/// {"when": {"op": ">", "left": {"tag": "spindle_temp"}, "right": 85}, "for": "2m",
///  "clear": {"op": "<", "left": {"tag": "spindle_temp"}, "right": 80}, "clear_after": "30s"}
/// ```
///
/// Conditions: `{"op", "left", "right"}`, `{"in": [values], "left", "negated"}`, `{"no_data": tag, "for"}`,
/// `{"all": […]}`, `{"any": […]}`, `{"not": …}`. Operands: a number, boolean or string (a constant),
/// `{"tag"}`, `{"meta"}`, `{"state": true}`, `{"kpi"}`, `{"rate", "window"}`, `{"deviation", "window"}`.
struct ExpressionJSON: Codable {
    var when: ConditionJSON
    var onDelay: DurationText?
    var samples: Samples?
    var clear: ConditionJSON?
    var clearAfter: DurationText?

    struct Samples: Codable {
        var count: Int
        var window: Int
    }

    enum CodingKeys: String, CodingKey {
        case when, samples, clear
        case onDelay = "for", clearAfter = "clear_after"
    }

    init(_ expression: RuleExpression) {
        when = ConditionJSON(expression.condition)
        onDelay = expression.onDelay > 0 ? DurationText(expression.onDelay) : nil
        samples = expression.samples.map { Samples(count: $0.count, window: $0.window) }
        clear = expression.clear.map(ConditionJSON.init)
        clearAfter = expression.offDelay > 0 ? DurationText(expression.offDelay) : nil
    }

    func expression() throws(ModelError) -> RuleExpression {
        if let samples, !(1...64).contains(samples.window) || !(1...samples.window).contains(samples.count) {
            throw ModelError(.invalid, "expression.samples: count is 1 to window, window 1 to 64")
        }
        return RuleExpression(condition: when.condition, onDelay: onDelay?.milliseconds ?? 0,
                              samples: samples.map { .init(count: $0.count, window: $0.window) }, clear: clear?.condition,
                              offDelay: clearAfter?.milliseconds ?? 0)
    }
}


/// One condition in JSON (see ``ExpressionJSON``).
struct ConditionJSON: Codable {
    let condition: Condition

    init(_ condition: Condition) { self.condition = condition }

    private enum Key: String, CodingKey { case op, left, right, `in`, negated, noData = "no_data", `for`, all, any, not }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        if let parts = try container.decodeIfPresent([ConditionJSON].self, forKey: .all) {
            condition = .all(parts.map(\.condition))
        } else if let parts = try container.decodeIfPresent([ConditionJSON].self, forKey: .any) {
            condition = .any(parts.map(\.condition))
        } else if let inner = try container.decodeIfPresent(ConditionJSON.self, forKey: .not) {
            condition = .not(inner.condition)
        } else if let tag = try container.decodeIfPresent(String.self, forKey: .noData) {
            condition = .noData(tag: tag, duration: try container.decode(DurationText.self, forKey: .for).milliseconds)
        } else if let values = try container.decodeIfPresent([ValueJSON].self, forKey: .in) {
            condition = .member(try container.decode(OperandJSON.self, forKey: .left).operand, values.map(\.value),
                                negated: try container.decodeIfPresent(Bool.self, forKey: .negated) ?? false)
        } else if let op = try container.decodeIfPresent(String.self, forKey: .op) {
            guard let comparison = ComparisonOperator(rawValue: op == "=" ? "==" : op) else {
                throw RuleDocumentError(message: "\"\(op)\" is not a comparison: use >, >=, <, <=, == or !=")
            }
            condition = .compare(try container.decode(OperandJSON.self, forKey: .left).operand, comparison,
                                 try container.decode(OperandJSON.self, forKey: .right).operand)
        } else {
            throw RuleDocumentError(message: "a condition has one of op, in, no_data, all, any or not")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        switch condition {
        case .compare(let left, let op, let right):
            try container.encode(op.rawValue, forKey: .op)
            try container.encode(OperandJSON(left), forKey: .left)
            try container.encode(OperandJSON(right), forKey: .right)
        case .member(let left, let values, let negated):
            try container.encode(values.map(ValueJSON.init), forKey: .in)
            try container.encode(OperandJSON(left), forKey: .left)
            if negated { try container.encode(true, forKey: .negated) }
        case .noData(let tag, let duration):
            try container.encode(tag, forKey: .noData)
            try container.encode(DurationText(duration), forKey: .for)
        case .all(let parts): try container.encode(parts.map(ConditionJSON.init), forKey: .all)
        case .any(let parts): try container.encode(parts.map(ConditionJSON.init), forKey: .any)
        case .not(let inner): try container.encode(ConditionJSON(inner), forKey: .not)
        }
    }
}

/// A constant: a JSON number, string or boolean.
struct ValueJSON: Codable {
    let value: RuleValue

    init(_ value: RuleValue) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let flag = try? container.decode(Bool.self) {
            value = .bool(flag)
        } else if let number = try? container.decode(Double.self) {
            value = .number(number)
        } else {
            value = .string(try container.decode(String.self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case .number(let number): try container.encode(number)
        case .string(let text): try container.encode(text)
        case .bool(let flag): try container.encode(flag)
        }
    }
}

/// An operand: a constant, or an object naming what to read.
struct OperandJSON: Codable {
    let operand: Operand

    init(_ operand: Operand) { self.operand = operand }

    private enum Key: String, CodingKey { case tag, meta, state, kpi, of, rate, deviation, window }

    init(from decoder: any Decoder) throws {
        guard let container = try? decoder.container(keyedBy: Key.self) else {
            operand = .literal(try ValueJSON(from: decoder).value)
            return
        }
        if let tag = try container.decodeIfPresent(String.self, forKey: .tag) {
            operand = .tag(tag)
        } else if let key = try container.decodeIfPresent(String.self, forKey: .meta) {
            operand = .metadata(key)
        } else if try container.decodeIfPresent(Bool.self, forKey: .state) == true {
            operand = .state
        } else if let name = try container.decodeIfPresent(String.self, forKey: .kpi) {
            guard let kpi = Operand.KPI(rawValue: name) else {
                throw RuleDocumentError(message: "\"\(name)\" is not a KPI: use oee, availability, performance or quality")
            }
            operand = .kpi(kpi, of: try container.decodeIfPresent(Operand.KPILevel.self, forKey: .of) ?? .machine)
        } else if let tag = try container.decodeIfPresent(String.self, forKey: .rate) {
            operand = .rate(tag: tag, window: try container.decode(DurationText.self, forKey: .window).milliseconds)
        } else if let tag = try container.decodeIfPresent(String.self, forKey: .deviation) {
            operand = .deviation(tag: tag, window: try container.decode(DurationText.self, forKey: .window).milliseconds)
        } else {
            throw RuleDocumentError(message: "an operand is a constant or an object with tag, meta, state, kpi, rate or deviation")
        }
    }

    func encode(to encoder: any Encoder) throws {
        if case .literal(let value) = operand { return try ValueJSON(value).encode(to: encoder) }
        var container = encoder.container(keyedBy: Key.self)
        switch operand {
        case .literal: break
        case .tag(let tag): try container.encode(tag, forKey: .tag)
        case .metadata(let key): try container.encode(key, forKey: .meta)
        case .state: try container.encode(true, forKey: .state)
        case .kpi(let kpi, let level):
            try container.encode(kpi.rawValue, forKey: .kpi)
            if level != .machine { try container.encode(level, forKey: .of) }
        case .rate(let tag, let window):
            try container.encode(tag, forKey: .rate)
            try container.encode(DurationText(window), forKey: .window)
        case .deviation(let tag, let window):
            try container.encode(tag, forKey: .deviation)
            try container.encode(DurationText(window), forKey: .window)
        }
    }
}
