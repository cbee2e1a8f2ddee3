internal import GembaCore

/// Where and how mail is sent: an SMTP server, its protection, and who the mail is from.
public struct SMTPSettings: Sendable, Hashable, Codable {
    public var host: String
    public var port: Int
    public var security: SMTPSecurity
    /// Set when the server wants AUTH; the password is the channel's secret.
    public var username: String?
    public var from: String
    public var to: [String]
    /// A PEM CA certificate to trust instead of the system's (a plant's own CA).
    public var caCertificate: String?

    enum CodingKeys: String, CodingKey {
        case host, port, security, username, from, to
        case caCertificate = "ca_certificate"
    }

    public init(host: String, port: Int = 587, security: SMTPSecurity = .starttls, username: String? = nil, from: String, to: [String]) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.from = from
        self.to = to
    }

    /// Missing `security` is STARTTLS; a missing port is the one its security uses (587, 465 or 25).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        host = try container.decode(String.self, forKey: .host)
        security = try container.decodeIfPresent(SMTPSecurity.self, forKey: .security) ?? .starttls
        port = try container.decodeIfPresent(Int.self, forKey: .port) ?? [.starttls: 587, .tls: 465, .none: 25][security]!
        username = try container.decodeIfPresent(String.self, forKey: .username)
        from = try container.decode(String.self, forKey: .from)
        to = try container.decode([String].self, forKey: .to)
        caCertificate = try container.decodeIfPresent(String.self, forKey: .caCertificate)
    }

    /// Checks the server, addresses and protection; a password is never sent in the clear.
    func validate(hasPassword: Bool) throws(ModelError) {
        guard !host.isEmpty, host.utf8.count <= 253, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") }) else {
            throw ModelError(.invalid, "email.host must be a host name or address")
        }
        guard (1...65535).contains(port) else { throw ModelError(.invalid, "email.port is 1 to 65535") }
        guard EmailMessage.isAddress(from) else { throw ModelError(.invalid, "email.from must be an address such as alarms@plant.example") }
        guard !to.isEmpty, to.count <= 50 else { throw ModelError(.invalid, "email.to lists 1–50 addresses") }
        if let bad = to.first(where: { !EmailMessage.isAddress($0) }) { throw ModelError(.invalid, "email.to: \"\(bad)\" is not an address") }
        if let username {
            guard !username.isEmpty, username.utf8.count <= 200, !username.contains("\0") else { throw ModelError(.invalid, "email.username is 1–200 characters") }
            guard security != .none else {
                throw ModelError(.invalid, "email.security none sends the password in the clear: use starttls or tls, or no username")
            }
            guard hasPassword else { throw ModelError(.invalid, "a channel with email.username needs a password") }
        }
        if let caCertificate {
            guard caCertificate.utf8.count <= 64 << 10, caCertificate.contains("-----BEGIN CERTIFICATE-----") else {
                throw ModelError(.invalid, "email.ca_certificate must be a PEM certificate")
            }
        }
    }
}
