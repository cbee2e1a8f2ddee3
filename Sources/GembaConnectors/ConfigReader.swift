import Yams

/// A problem in a configuration file, at the line and column it was found.
public struct ConfigurationIssue: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String

    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "line \(line), column \(column): \(message)" }
}

/// Every problem of a configuration file, in the order of its lines.
public struct ConfigurationErrors: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var issues: [ConfigurationIssue]

    public var description: String {
        issues.map { "\(file):\($0.line):\($0.column): \($0.message)" }.joined(separator: "\n")
    }
}

/// Reads values out of a parsed YAML document, collecting a problem per bad or unknown key (with
/// its line) instead of stopping at the first, so that one check reports everything to fix.
final class ConfigReader {
    private(set) var issues: [ConfigurationIssue] = []

    func report(_ node: Node?, _ message: String) {
        let mark = node?.mark
        issues.append(ConfigurationIssue(line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    /// Parses YAML (JSON is YAML too); a syntax error is one issue at its position.
    static func document(_ text: String) throws(ConfigurationIssue) -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else { throw ConfigurationIssue(line: 1, column: 1, message: "the file is empty") }
            return node
        } catch let issue as ConfigurationIssue {
            throw issue
        } catch let error as YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                throw ConfigurationIssue(line: mark.line, column: mark.column, message: "not valid YAML: \(problem)")
            default:
                throw ConfigurationIssue(line: 1, column: 1, message: "not valid YAML: \(error)")
            }
        } catch {
            throw ConfigurationIssue(line: 1, column: 1, message: "not valid YAML: \(error)")
        }
    }

    /// A mapping's entries by key; keys not in `allowed` are reported. nil (reported) when `node` is no mapping.
    func fields(_ node: Node, _ what: String, allowed: Set<String>) -> Fields? {
        guard case .mapping(let mapping) = node else {
            report(node, "\(what) must be a mapping of keys to values")
            return nil
        }
        var entries: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string else {
                report(key, "\(what): keys must be plain words")
                continue
            }
            guard allowed.contains(name) else {
                report(key, "\(what): unknown key '\(name)' (known: \(allowed.sorted().joined(separator: ", ")))")
                continue
            }
            guard entries[name] == nil else {
                report(key, "\(what): '\(name)' is given twice")
                continue
            }
            entries[name] = (key, value)
        }
        return Fields(node: node, what: what, entries: entries, reader: self)
    }

    /// A sequence's items; nil (reported) when `node` is no sequence.
    func items(_ node: Node, _ what: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            report(node, "\(what) must be a list")
            return nil
        }
        return Array(sequence)
    }

    /// One mapping's entries, read by type; a missing required key or a value of the wrong type is reported.
    struct Fields {
        let node: Node
        let what: String
        let entries: [String: (key: Node, value: Node)]
        let reader: ConfigReader

        subscript(key: String) -> Node? { entries[key]?.value }

        func string(_ key: String, required: Bool = false) -> String? {
            guard let value = present(key, required: required) else { return nil }
            guard case .scalar(let scalar) = value, !scalar.string.isEmpty else {
                reader.report(value, "\(what): '\(key)' must be a text")
                return nil
            }
            return scalar.string
        }

        func int(_ key: String, in range: ClosedRange<Int>, required: Bool = false) -> Int? {
            guard let value = present(key, required: required) else { return nil }
            guard let number = value.int, range.contains(number) else {
                reader.report(value, "\(what): '\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
                return nil
            }
            return number
        }

        func double(_ key: String, where valid: (Double) -> Bool = { _ in true }, rule: String = "a number") -> Double? {
            guard let value = present(key, required: false) else { return nil }
            guard let number = value.float ?? value.int.map(Double.init), number.isFinite, valid(number) else {
                reader.report(value, "\(what): '\(key)' must be \(rule)")
                return nil
            }
            return number
        }

        func bool(_ key: String) -> Bool? {
            guard let value = present(key, required: false) else { return nil }
            guard let flag = value.bool else {
                reader.report(value, "\(what): '\(key)' must be true or false")
                return nil
            }
            return flag
        }

        /// A duration in ms: `250ms`, `2s`, `5m`, `1h`, or a number of seconds, within `range` (ms).
        func duration(_ key: String, in range: ClosedRange<Int64>) -> Int64? {
            guard let value = present(key, required: false) else { return nil }
            guard let text = value.scalar?.string, let ms = Self.milliseconds(text), range.contains(ms) else {
                reader.report(value, "\(what): '\(key)' must be a duration such as 500ms, 2s, 5m or 7d, from \(range.lowerBound) ms to \(range.upperBound / 1000) s")
                return nil
            }
            return ms
        }

        /// A size in bytes: `512MB`, `2GB`, `64KB` (powers of 1,024) or a number of bytes, within `range`.
        func bytes(_ key: String, in range: ClosedRange<UInt64>) -> UInt64? {
            guard let value = present(key, required: false) else { return nil }
            let text = value.scalar?.string.uppercased() ?? ""
            let units: [(String, Double)] = [("KB", 1_024), ("MB", 1_048_576), ("GB", 1_073_741_824), ("TB", 1_099_511_627_776), ("B", 1)]
            let factor = units.first { text.hasSuffix($0.0) }
            let number = Double(factor.map { String(text.dropLast($0.0.count)) } ?? text)
            guard let number, number.isFinite, number >= 0, range.contains(UInt64(number * (factor?.1 ?? 1))) else {
                reader.report(value, "\(what): '\(key)' must be a size such as 512MB or 2GB, from \(range.lowerBound >> 20) MB")
                return nil
            }
            return UInt64(number * (factor?.1 ?? 1))
        }

        static func milliseconds(_ text: String) -> Int64? {
            let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
            for (suffix, factor) in units where text.hasSuffix(suffix) {
                guard let number = Double(text.dropLast(suffix.count)), number.isFinite, number >= 0 else { return nil }
                return Int64((number * factor).rounded())
            }
            guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else { return nil }
            return Int64((seconds * 1000).rounded())
        }

        /// A secret given inline, as `{env: NAME}` or as `{file: path}` (its first line); never echoed in errors.
        func secret(_ key: String, environment: [String: String], readFile: (String) -> String?) -> String? {
            guard let value = present(key, required: false) else { return nil }
            if case .scalar(let scalar) = value { return scalar.string }
            guard let source = reader.fields(value, "\(what): '\(key)'", allowed: ["env", "file"]) else { return nil }
            switch (source.string("env"), source.string("file")) {
            case (let name?, nil):
                guard let secret = environment[name] else {
                    reader.report(value, "\(what): '\(key)': the environment variable \(name) is not set")
                    return nil
                }
                return secret
            case (nil, let path?):
                guard let text = readFile(path) else {
                    reader.report(value, "\(what): '\(key)': cannot read \(path)")
                    return nil
                }
                return String(text.prefix { $0 != "\n" && $0 != "\r" })
            default:
                reader.report(value, "\(what): '\(key)' takes either env or file")
                return nil
            }
        }

        private func present(_ key: String, required: Bool) -> Node? {
            guard let value = entries[key]?.value else {
                if required { reader.report(node, "\(what): '\(key)' is required") }
                return nil
            }
            return value
        }
    }
}
