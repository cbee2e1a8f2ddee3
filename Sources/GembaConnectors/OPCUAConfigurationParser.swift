import Foundation
import OPCUA
import Sparkplug
import Yams

/// Reads the `opcua:` devices of a gateway configuration, reporting every problem with its line.
///
/// ```yaml
/// opcua:
///   - device: press7                       # the machine plant1/gateway1/press7
///     endpoint: opc.tcp://10.0.0.20:4840
///     securityPolicy: Basic256Sha256           # or None, Aes128_Sha256_RsaOaep (secured ones need the top-level 'pki')
///     securityMode: SignAndEncrypt             # or Sign; the best offered by default
///     user: gateway                        # anonymous without it
///     password: {file: /run/secrets/press7}
///     # userCertificate: /etc/gemba/operator.der   # or an X509 identity, with userKey: its PEM key
///     mode: subscribe                      # or poll
///     publishingInterval: 500ms
///     every: 1s                            # poll interval
///     tags:
///       - {name: speed, node: "ns=2;s=Press.Speed", type: double, unit: rpm, deadband: 0.5, sampling: 100ms}
///       - {name: level, path: "Objects/2:Press/2:Level", percentDeadband: 2, writable: true}
/// ```
struct OPCUAConfigurationParser {
    let reader: ConfigReader
    let environment: [String: String]
    let readFile: (String) -> String?
    /// The gateway's PKI directory, from the file's top-level `pki`.
    let pki: String?
    /// Reads a file's bytes (a user certificate in DER).
    var readBytes: (String) -> [UInt8]? = { FileManager.default.contents(atPath: $0).map { Array($0) } }

    func device(_ node: Node) -> OPCUADeviceConfiguration? {
        let allowed: Set<String> = ["device", "endpoint", "securityPolicy", "securityMode", "serverThumbprint", "user", "password", "userCertificate", "userKey", "mode",
                                    "publishingInterval", "every", "timeout", "channelLifetime", "tags"]
        guard let named = reader.fields(node, "an OPC UA device", allowed: allowed) else { return nil }
        let id = named.string("device", required: true)
        let what = "device '\(id ?? "?")'"
        let fields = ConfigReader.Fields(node: node, what: what, entries: named.entries, reader: reader)
        if let id, id.contains(where: { "/+#".contains($0) }) || SparkplugAssetMapping.tagName(id) == nil {
            reader.report(fields["device"], "\(what): the device id must be 1–64 characters without '/', '+' or '#'")
        }
        let endpoint = fields.string("endpoint", required: true)
        if let endpoint {
            do { _ = try EndpointURL(parsing: endpoint) } catch { reader.report(fields["endpoint"], "\(what): \(error.message)") }
        }
        let policy = securityPolicy(fields, what)
        let securityMode = self.securityMode(fields, what, policy: policy)
        if let policy, policy != .none, pki == nil {
            reader.report(fields["securityPolicy"], "\(what): security policy \(policy.name) needs the gateway's 'pki' directory (a top-level key)")
        }
        let thumbprint = fields.string("serverThumbprint")
        if let thumbprint, thumbprint.filter(\.isHexDigit).count != 40 {
            reader.report(fields["serverThumbprint"], "\(what): 'serverThumbprint' must be a SHA-1 thumbprint (40 hex digits)")
        }
        let identity = self.identity(fields, what)
        let modeText = fields.string("mode")
        let mode = modeText.map(OPCUADeviceConfiguration.Mode.init(rawValue:)) ?? .subscribe
        if mode == nil { reader.report(fields["mode"], "\(what): 'mode' must be subscribe or poll") }
        var tags: [OPCUATag] = []
        if let list = fields["tags"], let items = reader.items(list, "\(what): tags") {
            var names: Set<String> = []
            for item in items {
                guard let tag = tag(item, device: what) else { continue }
                if !names.insert(tag.name).inserted { reader.report(item, "\(what): tag '\(tag.name)' is listed twice") }
                tags.append(tag)
            }
        } else if fields["tags"] == nil {
            reader.report(node, "\(what): 'tags' is required")
        }
        guard let id, let endpoint, let policy, let identity, let mode, securityMode != nil else { return nil }
        var device = OPCUADeviceConfiguration(
            device: id, endpoint: endpoint, securityPolicy: policy, identity: identity, mode: mode,
            publishingInterval: fields.duration("publishingInterval", in: 10...3_600_000) ?? 500,
            pollInterval: fields.duration("every", in: 10...86_400_000) ?? 1000,
            timeout: fields.duration("timeout", in: 100...120_000) ?? 5000, tags: tags)
        device.securityMode = securityMode ?? .none
        device.pki = policy == .none ? nil : pki
        device.serverThumbprint = thumbprint
        device.channelLifetime = fields.duration("channelLifetime", in: 1_000...86_400_000) ?? 3_600_000
        return device
    }

    private func securityPolicy(_ fields: ConfigReader.Fields, _ what: String) -> SecurityPolicy? {
        guard let text = fields.string("securityPolicy") else { return SecurityPolicy.none }
        guard let policy = SecurityPolicy.allCases.first(where: { $0.name.lowercased() == text.lowercased() }) else {
            reader.report(fields["securityPolicy"], "\(what): 'securityPolicy' must be one of \(SecurityPolicy.allCases.map(\.name).joined(separator: ", "))")
            return nil
        }
        guard policy == .none || PolicyAlgorithms.supported.contains(policy) else {
            reader.report(fields["securityPolicy"], "\(what): security policy \(policy.name) is not supported; use None, Basic256Sha256 or Aes128_Sha256_RsaOaep")
            return nil
        }
        return policy
    }

    private func securityMode(_ fields: ConfigReader.Fields, _ what: String, policy: SecurityPolicy?) -> MessageSecurityMode? {
        guard let text = fields.string("securityMode") else { return MessageSecurityMode.none }
        let modes: [String: MessageSecurityMode] = ["sign": .sign, "signandencrypt": .signAndEncrypt]
        guard let mode = modes[text.lowercased()], let policy, policy != SecurityPolicy.none else {
            reader.report(fields["securityMode"], "\(what): 'securityMode' must be Sign or SignAndEncrypt, with a secured 'securityPolicy'")
            return nil
        }
        return mode
    }

    private func identity(_ fields: ConfigReader.Fields, _ what: String) -> UserIdentity? {
        if let certificate = fields.string("userCertificate") {
            guard fields["user"] == nil, let keyPath = fields.string("userKey", required: true) else {
                if fields["user"] != nil { reader.report(fields["user"], "\(what): give 'user' or 'userCertificate', not both") }
                return nil
            }
            guard let der = readBytes(certificate).flatMap({ try? CertificateFile.der($0) }), let key = readFile(keyPath) else {
                reader.report(fields["userCertificate"], "\(what): cannot read the user certificate \(certificate) or its key \(keyPath)")
                return nil
            }
            return .certificate(der, keyPEM: key)
        }
        if fields["userKey"] != nil { reader.report(fields["userKey"], "\(what): 'userKey' needs a 'userCertificate'") }
        let user = fields.string("user")
        let password = fields.secret("password", environment: environment, readFile: readFile)
        switch (user, password) {
        case (nil, nil): return .anonymous
        case (let user?, let password?): return .userName(user, password: password)
        case (_?, nil):
            if fields["password"] == nil { reader.report(fields["user"], "\(what): 'user' needs a 'password' ({env: NAME} or {file: path})") }
            return nil
        case (nil, _?):
            reader.report(fields["password"], "\(what): 'password' needs a 'user'")
            return nil
        }
    }

    private static let types: [String: SparkplugDataType] = Dictionary(
        uniqueKeysWithValues: OPCUAValueConversion.publishable.map { ($0.description.lowercased(), $0) })

    private func tag(_ node: Node, device: String) -> OPCUATag? {
        let allowed: Set<String> = ["name", "node", "path", "type", "unit", "deadband", "percentDeadband", "sampling", "queueSize", "writable"]
        guard let named = reader.fields(node, "\(device): a tag", allowed: allowed) else { return nil }
        let name = named.string("name", required: true)
        let what = "\(device), tag '\(name ?? "?")'"
        let fields = ConfigReader.Fields(node: node, what: what, entries: named.entries, reader: reader)
        if let name, SparkplugAssetMapping.tagName(name) == nil { reader.report(fields["name"], "\(what): a name of 1 to 64 characters") }
        let target = self.target(fields, what)
        let typeText = fields.string("type")
        let type = typeText.map { Self.types[$0.lowercased()] } ?? .double
        if type == nil {
            reader.report(fields["type"], "\(what): 'type' must be one of \(OPCUAValueConversion.publishable.map { $0.description.lowercased() }.joined(separator: ", "))")
        }
        let absolute = fields.double("deadband", where: { $0 >= 0 }, rule: "a number not below 0")
        let percent = fields.double("percentDeadband", where: { (0...100).contains($0) }, rule: "a percentage from 0 to 100")
        if absolute != nil, percent != nil { reader.report(fields["percentDeadband"], "\(what): give 'deadband' or 'percentDeadband', not both") }
        let deadband: Deadband = absolute.map { .absolute($0) } ?? percent.map { .percent($0) } ?? .none
        if deadband != .none, let type, [.boolean, .string, .dateTime].contains(type) {
            reader.report(fields["deadband"] ?? fields["percentDeadband"], "\(what): a deadband needs a numeric type")
        }
        guard let name, let target, let type else { return nil }
        return OPCUATag(name: name, target: target, dataType: type, unit: fields.string("unit"), deadband: deadband,
                        samplingInterval: fields.duration("sampling", in: 0...3_600_000),
                        queueSize: UInt32(fields.int("queueSize", in: 1...10_000) ?? 10), writable: fields.bool("writable") ?? false)
    }

    /// `node: ns=2;s=…`, or `path: Objects/2:Press/2:Speed` (browse names from the Objects folder, or from a node id first).
    private func target(_ fields: ConfigReader.Fields, _ what: String) -> OPCUATag.Target? {
        switch (fields.string("node"), fields.string("path")) {
        case (let text?, nil):
            guard let id = NodeId(parsing: text) else {
                reader.report(fields["node"], "\(what): 'node' must be a node id such as ns=2;s=Line1.Speed or i=2258")
                return nil
            }
            return .node(id)
        case (nil, let text?):
            var parts = text.split(separator: "/", omittingEmptySubsequences: true)
            guard let first = parts.first else {
                reader.report(fields["path"], "\(what): 'path' names browse names, Objects/2:Press/2:Speed")
                return nil
            }
            var start = WellKnownNode.objectsFolder
            if first == "Objects" {
                parts.removeFirst()
            } else if let id = NodeId(parsing: String(first)) {
                start = id
                parts.removeFirst()
            }
            guard !parts.isEmpty else {
                reader.report(fields["path"], "\(what): 'path' must name at least one browse name after its start")
                return nil
            }
            return .path(start: start, names: parts.map { QualifiedName(parsing: $0) })
        case (nil, nil):
            reader.report(fields.node, "\(what): give 'node' or 'path'")
            return nil
        default:
            reader.report(fields["path"], "\(what): give 'node' or 'path', not both")
            return nil
        }
    }
}
