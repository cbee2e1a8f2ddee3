import Foundation

/// A configuration problem the user must fix; printed without a stack trace, exit code 2.
struct ConfigurationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Resolves each setting from, in order: the command-line flag, the `GEMBA_*` environment variable,
/// then the optional config file (`key = value` lines, keys named like the flags without `--`).
struct Settings {
    private let environment: [String: String]
    private let file: [String: String]
    private let fileName: String?

    init(configFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        self.environment = environment
        let path = configFile ?? environment["GEMBA_CONFIG"]
        self.fileName = path
        self.file = try path.map(Self.load) ?? [:]
    }

    static func load(_ path: String) throws -> [String: String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("cannot read config file \(path)")
        }
        var values: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigurationError("\(path):\(number + 1): expected 'key = value', got '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            values[key] = value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return values
    }

    /// The raw value of `key` (e.g. `mqtt-port`) and where it came from, for error messages.
    func string(_ key: String, flag: String?) -> (value: String, source: String)? {
        if let flag { return (flag, "--\(key)") }
        let variable = "GEMBA_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
        if let value = environment[variable] { return (value, variable) }
        if let value = file[key] { return (value, "\(key) in \(fileName ?? "config")") }
        return nil
    }

    func int(_ key: String, flag: Int?, default defaultValue: Int, range: ClosedRange<Int>) throws -> Int {
        if let flag {
            guard range.contains(flag) else { throw ConfigurationError("--\(key) must be in \(range), got \(flag)") }
            return flag
        }
        guard let (raw, source) = string(key, flag: nil) else { return defaultValue }
        guard let value = Int(raw), range.contains(value) else {
            throw ConfigurationError("\(source) must be a number in \(range), got '\(raw)'")
        }
        return value
    }
}
