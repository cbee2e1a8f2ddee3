internal import Foundation

/// A plain-text e-mail as RFC 5322 and MIME write it: UTF-8 throughout, the subject as RFC 2047
/// encoded words when it is not ASCII, the body quoted-printable (so every line stays short and
/// 7-bit whatever the text), header values stripped of line breaks (no header injection).
public struct EmailMessage: Sendable, Hashable {
    public var from: String
    public var to: [String]
    public var subject: String
    public var text: String
    /// Seconds since 1970, for the `Date` header.
    public var date: Int64
    /// The `Message-ID` without its angle brackets.
    public var messageID: String

    public init(from: String, to: [String], subject: String, text: String, date: Int64, messageID: String) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.date = date
        self.messageID = messageID
    }

    /// The message as sent after DATA, lines ending in CRLF (dot-stuffing is the transport's).
    public var rendered: String {
        var lines = [
            "From: " + Self.headerValue(from),
            "To: " + to.map(Self.headerValue).joined(separator: ", "),
            "Subject: " + Self.encodedHeader(Self.headerValue(subject)),
            "Date: " + Self.rfc5322Date(date),
            "Message-ID: <" + Self.headerValue(messageID) + ">",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
            "Auto-Submitted: auto-generated",
            "",
        ]
        lines.append(Self.quotedPrintable(text))
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// A header value on one line.
    static func headerValue(_ value: String) -> String {
        String(value.map { $0 == "\r" || $0 == "\n" || $0 == "\t" ? " " : $0 })
    }

    /// ASCII text as is; anything else as `=?UTF-8?B?…?=` words of at most 75 characters, folded.
    static func encodedHeader(_ value: String) -> String {
        if value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) { return value }
        var words: [String] = []
        var chunk = ""
        for character in value {
            if chunk.utf8.count + character.utf8.count > 45 {
                words.append(chunk)
                chunk = ""
            }
            chunk.append(character)
        }
        if !chunk.isEmpty { words.append(chunk) }
        return words.map { "=?UTF-8?B?" + Data($0.utf8).base64EncodedString() + "?=" }.joined(separator: "\r\n ")
    }

    /// Quoted-printable (RFC 2045 §6.7) of UTF-8 text: lines at most 76 characters with soft breaks,
    /// `=`, control and non-ASCII bytes as `=XX`, whitespace before a line end encoded, a leading
    /// `.` encoded (so no line starts with one), line ends as CRLF.
    static func quotedPrintable(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [String] = []
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        for line in normalized.split(separator: "\n", omittingEmptySubsequences: false) {
            let bytes = Array(line.utf8)
            var current: [UInt8] = []
            for (index, byte) in bytes.enumerated() {
                let last = index == bytes.count - 1
                let plain = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "="))
                    || ((byte == 0x20 || byte == 0x09) && !last)
                var token: [UInt8] = plain ? [byte] : [UInt8(ascii: "="), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                if current.isEmpty && byte == UInt8(ascii: ".") { token = Array("=2E".utf8) }
                if current.count + token.count > 75 {
                    output.append(String(decoding: current + [UInt8(ascii: "=")], as: UTF8.self))
                    current = []
                }
                current += token
            }
            output.append(String(decoding: current, as: UTF8.self))
        }
        return output.joined(separator: "\r\n")
    }

    /// `Wed, 02 Dec 2026 12:36:18 +0000`.
    static func rfc5322Date(_ seconds: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// Whether `address` is a bare `local@domain` address (no display name, spaces, brackets or line breaks).
    public static func isAddress(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), address.utf8.count <= 254 else { return false }
        return address.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F && !"<>()[],;:\\\"".unicodeScalars.contains($0) }
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".")
    }
}
