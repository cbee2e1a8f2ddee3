import Foundation

/// PostgreSQL's own programs (`pg_dump`, `pg_restore`, from Debian's postgresql-client), run with
/// the password in `PGPASSWORD`, never on the command line.
enum PostgresTools {
    /// Where Debian puts them (the newest version first), then the PATH.
    static func find(_ program: String) -> String? {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        let candidates = versions.map { "/usr/lib/postgresql/\($0)/bin/\(program)" }
            + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map { "\($0)/\(program)" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `program` with `arguments`; throws with its error output when it fails.
    static func run(_ program: String, _ arguments: [String], password: String?) throws {
        guard let path = find(program) else {
            throw CommandFailure("\(program) is not installed (apt-get install postgresql-client)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        if let password { environment["PGPASSWORD"] = password }
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailure("\(program) failed: \(String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
