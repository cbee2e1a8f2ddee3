import Foundation
import GembaCore
@testable import GembaNotifications
import Testing

@Suite struct SMTPConversationTests {
    private func reply(_ code: Int, _ lines: String...) -> SMTPReply { SMTPReply(code: code, lines: lines) }

    @Test func startsTLSThenAuthenticatesThenSends() throws {
        var conversation = SMTPConversation(security: .starttls, credentials: .init(username: "plant", password: "s3cret"),
                                            from: "alarms@plant.example", recipients: ["a@plant.example", "b@plant.example"])
        #expect(try conversation.receive(reply(220, "mail.plant.example ESMTP")) == .send("EHLO gemba"))
        #expect(try conversation.receive(reply(250, "mail.plant.example", "PIPELINING", "STARTTLS")) == .send("STARTTLS"))
        #expect(try conversation.receive(reply(220, "Ready to start TLS")) == .startTLS)
        #expect(conversation.tlsStarted() == .send("EHLO gemba"))
        let plain = Data("\0plant\0s3cret".utf8).base64EncodedString()
        #expect(try conversation.receive(reply(250, "mail.plant.example", "AUTH LOGIN PLAIN")) == .send("AUTH PLAIN " + plain))
        #expect(try conversation.receive(reply(235, "2.7.0 Authentication successful")) == .send("MAIL FROM:<alarms@plant.example>"))
        #expect(try conversation.receive(reply(250, "OK")) == .send("RCPT TO:<a@plant.example>"))
        #expect(try conversation.receive(reply(250, "OK")) == .send("RCPT TO:<b@plant.example>"))
        #expect(try conversation.receive(reply(250, "OK")) == .send("DATA"))
        #expect(try conversation.receive(reply(354, "End data with <CR><LF>.<CR><LF>")) == .sendData)
        #expect(!conversation.delivered)
        #expect(try conversation.receive(reply(250, "OK queued")) == .send("QUIT"))
        #expect(conversation.delivered && conversation.usedTLS && conversation.usedAuth)
        #expect(try conversation.receive(reply(221, "Bye")) == .done)
    }

    @Test func refusesToGoOnWithoutTheTLSItWasToldToUse() throws {
        var conversation = SMTPConversation(security: .starttls, credentials: nil, from: "a@b.example", recipients: ["c@d.example"])
        _ = try conversation.receive(reply(220, "hi"))
        #expect(throws: SMTPError(message: "the server does not offer STARTTLS; the channel requires it", permanent: true)) {
            try conversation.receive(reply(250, "hi", "PIPELINING", "AUTH PLAIN"))
        }
    }

    @Test func fallsBackToAuthLoginAndRefusesAServerWithNeither() throws {
        var conversation = SMTPConversation(security: .tls, credentials: .init(username: "u", password: "p"), from: "a@b.example", recipients: ["c@d.example"])
        _ = try conversation.receive(reply(220, "hi"))
        #expect(try conversation.receive(reply(250, "hi", "AUTH LOGIN")) == .send("AUTH LOGIN"))
        #expect(try conversation.receive(reply(334, "VXNlcm5hbWU6")) == .send("dQ=="))
        #expect(try conversation.receive(reply(334, "UGFzc3dvcmQ6")) == .send("cA=="))
        #expect(try conversation.receive(reply(235, "ok")) == .send("MAIL FROM:<a@b.example>"))

        var bare = SMTPConversation(security: .tls, credentials: .init(username: "u", password: "p"), from: "a@b.example", recipients: ["c@d.example"])
        _ = try bare.receive(reply(220, "hi"))
        #expect(throws: SMTPError.self) { try bare.receive(reply(250, "hi", "SIZE 1000")) }
    }

    @Test func fourHundredsAreRetriedAndFiveHundredsAreFinal() throws {
        func failure(at code: Int) throws -> SMTPError? {
            var conversation = SMTPConversation(security: .none, credentials: nil, from: "a@b.example", recipients: ["c@d.example"])
            _ = try conversation.receive(reply(220, "hi"))
            _ = try conversation.receive(reply(250, "hi"))
            _ = try conversation.receive(reply(250, "ok"))
            do { _ = try conversation.receive(reply(code, "mailbox")) } catch { return error }
            return nil
        }
        #expect(try failure(at: 450)?.permanent == false)
        #expect(try failure(at: 550)?.permanent == true)
        #expect(try failure(at: 550)?.message.contains("RCPT TO <c@d.example>: the server answered 550") == true)
        #expect(try failure(at: 251) == nil)
    }

    @Test func parsesMultilineRepliesAndRefusesGarbage() throws {
        var parser = SMTPReplyParser()
        #expect(try parser.feed("250-mail.example") == nil)
        #expect(try parser.feed("250-STARTTLS") == nil)
        #expect(try parser.feed("250 AUTH PLAIN") == SMTPReply(code: 250, lines: ["mail.example", "STARTTLS", "AUTH PLAIN"]))
        #expect(try parser.feed("221") == SMTPReply(code: 221, lines: [""]))
        #expect(throws: SMTPError.self) { try parser.feed("hello there") }
        #expect(throws: SMTPError.self) { try parser.feed("250x") }
        _ = try parser.feed("250-a")
        #expect(throws: SMTPError.self) { try parser.feed("354 b") }
    }

    @Test func dotStuffsLinesThatStartWithADot() {
        #expect(SMTPConversation.dotStuffed("a\r\n.b\r\n..\r\n") == "a\r\n..b\r\n...\r\n.\r\n")
    }
}

@Suite struct EmailMessageTests {
    @Test func writesMIMEWithEncodedSubjectAndQuotedPrintableBody() {
        let long = String(repeating: "Spindeltemperatur über Grenzwert ", count: 6) + "=ende "
        let message = EmailMessage(from: "alarms@plant.example", to: ["a@plant.example", "b@plant.example"],
                                   subject: "[HIGH] Überhitzung\r\nBcc: evil@example.com", text: long + "\n.dot\nlast", date: 1_796_000_000,
                                   messageID: "msg_1@plant.example")
        let rendered = message.rendered
        let lines = rendered.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
        #expect(!lines.contains { $0.hasPrefix("Bcc:") })
        #expect(rendered.contains("To: a@plant.example, b@plant.example\r\n"))
        #expect(rendered.contains("Subject: =?UTF-8?B?"))
        #expect(rendered.contains("Date: Mon, 30 Nov 2026 "))
        #expect(rendered.contains("Message-ID: <msg_1@plant.example>"))
        let body = rendered.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        #expect(body.allSatisfy { $0.isASCII })
        #expect(body.contains("=C3=BC") && body.contains("=3Dende=20") && body.contains("\r\n=2Edot\r\n"))
        #expect(Self.decodeQuotedPrintable(body) == long + "\r\n.dot\r\nlast\r\n")
    }

    @Test func asciiSubjectsStayReadable() {
        #expect(EmailMessage.encodedHeader("[HIGH] Spindle overheating") == "[HIGH] Spindle overheating")
        let words = EmailMessage.encodedHeader(String(repeating: "é", count: 60)).components(separatedBy: "\r\n ")
        #expect(words.count > 1 && words.allSatisfy { $0.count <= 75 && $0.hasPrefix("=?UTF-8?B?") })
    }

    @Test(arguments: [("alarms@plant.example", true), ("a.b+c@x.y", true), ("no-at.example", false), ("a@localhost", false),
                      ("Bob <bob@x.example>", false), ("a@b.example\r\nBcc: c@d.example", false), ("a b@c.example", false)])
    func acceptsBareAddressesOnly(_ address: String, _ valid: Bool) {
        #expect(EmailMessage.isAddress(address) == valid)
    }

    static func decodeQuotedPrintable(_ text: String) -> String {
        var bytes: [UInt8] = []
        let input = Array(text.replacingOccurrences(of: "=\r\n", with: "").utf8)
        var index = 0
        while index < input.count {
            if input[index] == UInt8(ascii: "="), index + 2 < input.count, let byte = UInt8(String(decoding: input[index + 1...index + 2], as: UTF8.self), radix: 16) {
                bytes.append(byte)
                index += 3
            } else {
                bytes.append(input[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

@Suite struct ChannelSettingsTests {
    private func email(_ edit: (inout SMTPSettings) -> Void = { _ in }) -> NotificationChannel {
        var channel = NotificationChannel(id: "mail", name: "Maintenance mail", kind: .email, url: nil)
        var settings = SMTPSettings(host: "mail.plant.example", from: "alarms@plant.example", to: ["maint@plant.example"])
        edit(&settings)
        channel.email = settings
        return channel
    }

    @Test func emailChannelsNeverSendAPasswordInTheClear() throws {
        try email().validate()
        #expect(throws: ModelError.self) { try email { $0.username = "gemba" }.validate() }
        var withPassword = email { $0.username = "gemba" }
        withPassword.secrets = ["pw"]
        try withPassword.validate()
        withPassword.email?.security = .none
        #expect(throws: ModelError.self) { try withPassword.validate() }
        #expect(throws: ModelError.self) { try email { $0.to = [] }.validate() }
        #expect(throws: ModelError.self) { try email { $0.from = "Alarms <a@b.example>" }.validate() }
        var withURL = email()
        withURL.url = "https://example.com"
        #expect(throws: ModelError.self) { try withURL.validate() }
    }

    @Test func emailSettingsDefaultThePortFromTheSecurity() throws {
        let tls = try JSONDecoder().decode(SMTPSettings.self, from: Data(#"{"host":"h.example","security":"tls","from":"a@b.example","to":["c@d.example"]}"#.utf8))
        #expect(tls.port == 465)
        let plain = try JSONDecoder().decode(SMTPSettings.self, from: Data(#"{"host":"h.example","from":"a@b.example","to":["c@d.example"]}"#.utf8))
        #expect(plain.port == 587 && plain.security == .starttls)
    }

    @Test func mqttTopicsAreTemplatesWithoutWildcards() throws {
        var channel = NotificationChannel(id: "andon", name: "Andon", kind: .mqtt, url: nil)
        channel.mqtt = MQTTTarget(topic: "andon/{{machine}}/{{severity}}", retain: true)
        try channel.validate()
        #expect(channel.mqtt?.topic(["machine": "plant/a/l1/press-1", "severity": "high"]) == "andon/plant/a/l1/press-1/high")
        #expect(channel.mqtt?.topic([:]) == "andon/test/test")
        for topic in ["andon/#", "andon/+/x", "$SYS/x", "andon/{{value}}", "andon/{{ machine }}", ""] {
            channel.mqtt?.topic = topic
            #expect(throws: ModelError.self, "\(topic)") { try channel.validate() }
        }
        channel.mqtt?.topic = "andon/{{machine}}"
        channel.url = "mqtt://user:pw@broker.plant.example"
        #expect(throws: ModelError.self) { try channel.validate() }
        channel.url = "mqtts://broker.plant.example:8883"
        try channel.validate()
        #expect(channel.targetHost == "broker.plant.example")
    }
}
