import Foundation
import GembaCore
import GembaServer
import Logging

/// Writes each log record as one JSON object per line on standard error (`--log-format json`):
/// `{"ts", "level", "label", "message", …metadata}`.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var json = JSONWriter()
        json.object { json in
            json.field("ts") { $0.string(Timestamp.now().rfc3339) }
            json.field("level") { $0.string(event.level.rawValue) }
            json.field("label") { $0.string(label) }
            json.field("message") { $0.string("\(event.message)") }
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                json.field(key) { $0.string("\(value)") }
            }
        }
        var buffer = json.buffer
        buffer.writeString("\n")
        FileHandle.standardError.write(Data(buffer.readableBytesView))
    }
}
