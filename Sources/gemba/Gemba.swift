import ArgumentParser
import Foundation
import Logging

/// The `gemba` command: one binary for the platform, the edge gateway and the tools around them.
@main
struct Gemba: AsyncParsableCommand {
    /// This build's version, recorded in backups (`gemba --version`).
    static let version = "0.9.0"

    static let configuration = CommandConfiguration(
        commandName: "gemba",
        abstract: "Gemba: a factory floor's data platform in one binary.",
        version: version,
        subcommands: [Serve.self, Admin.self, BackupCommand.self, RestoreCommand.self, StorageCommand.self, Simulate.self, Edge.self, Detect.self, PublishCommand.self, SubscribeCommand.self, Bench.self]
    )

    /// Parses and runs; every parse or configuration error prints a clear message and exits with status 2.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("gemba: \(error.description)\n".utf8))
            Foundation.exit(2)
        } catch let error as CommandFailure {
            FileHandle.standardError.write(Data("gemba: \(error.description)\n".utf8))
            Foundation.exit(1)
        } catch {
            // Help, version and explicit exit codes keep ArgumentParser's behaviour; anything else is a usage error.
            if exitCode(for: error) == .success || error is ExitCode { exit(withError: error) }
            FileHandle.standardError.write(Data("gemba: \(fullMessage(for: error))\n".utf8))
            Foundation.exit(2)
        }
    }
}

/// Options every command shares.
struct CommonOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Env: GEMBA_LOG_LEVEL.")
    var logLevel: String?

    @Option(help: "Config file of 'key = value' lines (flags override it, env overrides it). Env: GEMBA_CONFIG.")
    var config: String?

    @Option(help: "Log format: text or json (one JSON object per line). Env: GEMBA_LOG_FORMAT.")
    var logFormat: String?

    func settings() throws -> Settings { try Settings(configFile: config) }

    /// Bootstraps swift-log once, writing to standard error at the configured level and format.
    func bootstrapLogging(_ settings: Settings) throws -> Logger {
        try Self.bootstrapLogging(settings, level: logLevel, format: logFormat)
    }

    /// Bootstraps swift-log once from the `--log-level` and `--log-format` flags, else the settings.
    static func bootstrapLogging(_ settings: Settings, level logLevel: String?, format logFormat: String?) throws -> Logger {
        let raw = settings.string("log-level", flag: logLevel)
        let level: Logger.Level
        if let raw {
            guard let parsed = Logger.Level(rawValue: raw.value.lowercased()) else {
                throw ConfigurationError("\(raw.source) must be one of trace, debug, info, notice, warning, error, critical; got '\(raw.value)'")
            }
            level = parsed
        } else {
            level = .info
        }
        let format = settings.string("log-format", flag: logFormat)
        switch format?.value ?? "text" {
        case "text":
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case "json":
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, logLevel: level) }
        default:
            throw ConfigurationError("\(format!.source) must be text or json, got '\(format!.value)'")
        }
        return Logger(label: "gemba")
    }
}
