internal import Foundation

/// How an SMTP connection is protected.
public enum SMTPSecurity: String, Sendable, Hashable, Codable, CaseIterable {
    /// Plain TCP, then STARTTLS before anything else (submission, port 587); refused if the server does not offer it.
    case starttls
    /// TLS from the first byte (port 465).
    case tls
    /// No encryption (an internal relay on port 25); never with a password.
    case none
}

/// An SMTP reply: its code and text lines.
struct SMTPReply: Hashable {
    var code: Int
    var lines: [String]
    var text: String { lines.joined(separator: " ") }
}

/// Why a message was not sent: `permanent` for a 5xx reply or a server that cannot do what the
/// channel needs (no more attempts), transient otherwise.
public struct SMTPError: Error, Hashable, CustomStringConvertible {
    public var message: String
    public var permanent: Bool
    public var description: String { message }
}

/// Collects reply lines (`250-…` continuations, `250 …` last) into replies; refuses garbage.
struct SMTPReplyParser {
    private var pending: [String] = []
    private var pendingCode: Int?

    /// The reply completed by `line` (without CRLF), nil while it continues.
    mutating func feed(_ line: String) throws(SMTPError) -> SMTPReply? {
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, bytes.count <= 2000, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)), (200...599).contains(code),
              bytes.count == 3 || bytes[3] == UInt8(ascii: " ") || bytes[3] == UInt8(ascii: "-") else {
            throw SMTPError(message: "the server sent a line that is not an SMTP reply: \(line.prefix(80))", permanent: false)
        }
        if let pendingCode, pendingCode != code {
            throw SMTPError(message: "the server changed its reply code within one reply", permanent: false)
        }
        pending.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        guard bytes.count > 3, bytes[3] == UInt8(ascii: "-") else {
            defer { pending = []; pendingCode = nil }
            return SMTPReply(code: code, lines: pending)
        }
        guard pending.count < 100 else { throw SMTPError(message: "the server's reply is too long", permanent: false) }
        pendingCode = code
        return nil
    }
}

/// One message's SMTP conversation (RFC 5321, STARTTLS per RFC 3207, AUTH PLAIN and LOGIN per
/// RFC 4954) as a pure state machine: the shell feeds it replies and does what it answers.
struct SMTPConversation {
    enum Action: Equatable {
        /// Write this line (CRLF is the shell's).
        case send(String)
        /// Write the message data (dot-stuffed, ended by `.`).
        case sendData
        /// Start TLS on the connection, then call ``tlsStarted()``.
        case startTLS
        /// Sent: close the connection.
        case done
    }

    struct Credentials: Equatable {
        var username: String
        var password: String
    }

    private enum Stage {
        case greeting, ehlo, startTLS, ehloAfterTLS, authPlain, authLoginUser, authLoginPassword, authLoginDone, mailFrom, rcptTo(Int), data, dataSent, quit, finished
    }

    let security: SMTPSecurity
    let credentials: Credentials?
    let from: String
    let recipients: [String]
    let clientName: String
    private var stage = Stage.greeting
    private(set) var usedTLS: Bool
    private(set) var usedAuth = false

    init(security: SMTPSecurity, credentials: Credentials?, from: String, recipients: [String], clientName: String = "gemba") {
        self.security = security
        self.credentials = credentials
        self.from = from
        self.recipients = recipients
        self.clientName = clientName
        usedTLS = security == .tls
    }

    /// What to do after `reply`.
    mutating func receive(_ reply: SMTPReply) throws(SMTPError) -> Action {
        switch stage {
        case .greeting:
            try expect(reply, 220, "greeting")
            stage = .ehlo
            return .send("EHLO " + clientName)
        case .ehlo, .ehloAfterTLS:
            try expect(reply, 250, "EHLO")
            let extensions = Set(reply.lines.dropFirst().map { $0.uppercased() })
            if security == .starttls, !usedTLS {
                guard extensions.contains(where: { $0 == "STARTTLS" }) else {
                    throw SMTPError(message: "the server does not offer STARTTLS; the channel requires it", permanent: true)
                }
                stage = .startTLS
                return .send("STARTTLS")
            }
            return try authenticate(extensions)
        case .startTLS:
            try expect(reply, 220, "STARTTLS")
            return .startTLS
        case .authPlain, .authLoginDone:
            try expect(reply, 235, "AUTH")
            usedAuth = true
            return mailFrom()
        case .authLoginUser:
            try expect(reply, 334, "AUTH LOGIN")
            stage = .authLoginPassword
            return .send(Data(credentials!.username.utf8).base64EncodedString())
        case .authLoginPassword:
            try expect(reply, 334, "AUTH LOGIN")
            stage = .authLoginDone
            return .send(Data(credentials!.password.utf8).base64EncodedString())
        case .mailFrom:
            try expect(reply, 250, "MAIL FROM")
            stage = .rcptTo(0)
            return .send("RCPT TO:<\(recipients[0])>")
        case .rcptTo(let index):
            guard reply.code == 250 || reply.code == 251 else { throw Self.failure(reply, "RCPT TO <\(recipients[index])>") }
            if index + 1 < recipients.count {
                stage = .rcptTo(index + 1)
                return .send("RCPT TO:<\(recipients[index + 1])>")
            }
            stage = .data
            return .send("DATA")
        case .data:
            try expect(reply, 354, "DATA")
            stage = .dataSent
            return .sendData
        case .dataSent:
            try expect(reply, 250, "the message")
            stage = .quit
            return .send("QUIT")
        case .quit, .finished:
            stage = .finished
            return .done
        }
    }

    /// TLS is up: greet again, as RFC 3207 requires (what the server said before counts no more).
    mutating func tlsStarted() -> Action {
        usedTLS = true
        stage = .ehloAfterTLS
        return .send("EHLO " + clientName)
    }

    /// Whether the message was accepted (QUIT's answer does not matter).
    var delivered: Bool {
        switch stage {
        case .quit, .finished: true
        default: false
        }
    }

    private mutating func authenticate(_ extensions: Set<String>) throws(SMTPError) -> Action {
        guard let credentials else { return mailFrom() }
        let mechanisms = extensions.first { $0.hasPrefix("AUTH ") || $0.hasPrefix("AUTH=") }
            .map { Set($0.dropFirst(5).split(separator: " ").map(String.init)) } ?? []
        if mechanisms.contains("PLAIN") {
            stage = .authPlain
            let token = Data(("\0" + credentials.username + "\0" + credentials.password).utf8).base64EncodedString()
            return .send("AUTH PLAIN " + token)
        }
        if mechanisms.contains("LOGIN") {
            stage = .authLoginUser
            return .send("AUTH LOGIN")
        }
        throw SMTPError(message: "the server offers no AUTH PLAIN or LOGIN; the channel has a user name", permanent: true)
    }

    private mutating func mailFrom() -> Action {
        stage = .mailFrom
        return .send("MAIL FROM:<\(from)>")
    }

    private func expect(_ reply: SMTPReply, _ code: Int, _ step: String) throws(SMTPError) {
        guard reply.code == code else { throw Self.failure(reply, step) }
    }

    private static func failure(_ reply: SMTPReply, _ step: String) -> SMTPError {
        SMTPError(message: "\(step): the server answered \(reply.code) \(reply.text.prefix(200))", permanent: reply.code >= 500)
    }

    /// The message data with every line that starts with `.` doubled (RFC 5321 §4.5.2) and the end marker.
    static func dotStuffed(_ message: String) -> String {
        var lines = message.components(separatedBy: "\r\n")
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n") + "\r\n.\r\n"
    }
}
