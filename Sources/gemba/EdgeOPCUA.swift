import ArgumentParser
import Foundation
import GembaCore
import OPCUA

/// The OPC UA connection options `gemba edge browse` and `gemba edge read opc.tcp://…` share.
struct OPCUAConnectOptions: ParsableArguments {
    @Option(help: "Security policy: None, Basic256Sha256 or Aes128_Sha256_RsaOaep.") var securityPolicy = "None"
    @Option(help: "Under a secured policy: Sign or SignAndEncrypt (default: SignAndEncrypt if offered, else Sign).") var securityMode: String?
    @Option(help: "The PKI directory: own/ (this client's certificate, made on first use), trusted/ and rejected/ server certificates.")
    var pki = (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.gemba/pki"
    @Option(help: "Trust exactly the server certificate with this SHA-1 thumbprint (instead of pki/trusted).") var serverThumbprint: String?
    @Option(help: "Sign in with this user name (anonymous without it).") var user: String?
    @Option(help: "The password's file (its first line); or set GEMBA_OPCUA_PASSWORD.") var passwordFile: String?
    @Option(help: "Sign in with this user certificate (DER or PEM) instead; needs --user-key.") var userCertificate: String?
    @Option(help: "The user certificate's RSA private key (PEM).") var userKey: String?
    @Option(help: "Seconds to wait for the connection and each answer.") var timeout = 5.0

    func configuration(endpoint: String) throws -> OPCUAClient.Configuration {
        guard let policy = SecurityPolicy.allCases.first(where: { $0.name.lowercased() == securityPolicy.lowercased() }) else {
            throw ValidationError("--security-policy must be one of \(SecurityPolicy.allCases.map(\.name).joined(separator: ", "))")
        }
        var configuration = OPCUAClient.Configuration(endpoint: endpoint)
        configuration.securityPolicy = policy
        if let securityMode {
            let modes: [String: MessageSecurityMode] = ["sign": .sign, "signandencrypt": .signAndEncrypt]
            guard let mode = modes[securityMode.lowercased()], policy != .none else {
                throw ValidationError("--security-mode must be Sign or SignAndEncrypt, with a secured --security-policy")
            }
            configuration.securityMode = mode
        }
        configuration.pki = CertificateStore(directory: pki)
        configuration.serverThumbprint = serverThumbprint
        configuration.requestTimeout = .milliseconds(Int64(timeout * 1000))
        if let userCertificate {
            guard user == nil, let userKey else { throw ValidationError("--user-certificate needs --user-key, and no --user") }
            configuration.identity = try Self.certificateIdentity(certificate: userCertificate, key: userKey)
        } else if let user {
            let password: String
            if let passwordFile {
                guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else { throw ValidationError("cannot read --password-file \(passwordFile)") }
                password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
            } else if let variable = ProcessInfo.processInfo.environment["GEMBA_OPCUA_PASSWORD"] {
                password = variable
            } else {
                throw ValidationError("--user needs --password-file or GEMBA_OPCUA_PASSWORD")
            }
            configuration.identity = .userName(user, password: password)
        }
        return configuration
    }

    /// A user certificate identity from files: the certificate in DER or PEM, the key in PEM.
    static func certificateIdentity(certificate: String, key: String) throws -> UserIdentity {
        guard let data = FileManager.default.contents(atPath: certificate), let pem = try? String(contentsOfFile: key, encoding: .utf8) else {
            throw ValidationError("cannot read \(certificate) or \(key)")
        }
        return .certificate(try CertificateFile.der(Array(data)), keyPEM: pem)
    }

    func connect(_ endpoint: String) async throws -> OPCUAClient {
        do { return try await OPCUAClient.connect(try configuration(endpoint: endpoint)) } catch let error as OPCUAError {
            throw CommandFailure("\(endpoint): \(error)")
        }
    }
}

/// An error a command prints as it is, exiting 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `gemba edge browse opc.tcp://…`: the server's address space as a tree, for an engineer choosing nodes.
struct EdgeBrowse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "browse",
        abstract: "Browse an OPC UA server: the tree under a node with node ids, classes, data types and access levels.")

    @Argument(help: "The server: opc.tcp://host[:port][/path].") var endpoint: String
    @Option(help: "Start at this node (default: the Objects folder, i=85).") var node = "i=85"
    @Option(help: "How many levels deep to go.") var depth = 3
    @OptionGroup var connection: OPCUAConnectOptions

    func run() async throws {
        guard let start = NodeId(parsing: node) else { throw ValidationError("--node \(node) is not a node id (i=85, ns=2;s=Line1.Speed…)") }
        guard depth >= 1 else { throw ValidationError("--depth must be at least 1") }
        let client = try await connection.connect(endpoint)
        do {
            print(start)
            try await walk(client, start, level: 1, seen: [start])
        } catch {
            await client.close()
            throw CommandFailure("\(endpoint): \(error)")
        }
        await client.close()
    }

    private func walk(_ client: OPCUAClient, _ node: NodeId, level: Int, seen: Set<NodeId>) async throws {
        let references = try await client.browse(node).filter { $0.nodeId.serverIndex == 0 }
        let variables = references.filter { $0.nodeClass == .variable }.map(\.nodeId.nodeId)
        let details = variables.isEmpty ? [] : try await client.read(variables.flatMap {
            [ReadValueId($0, .dataType), ReadValueId($0, .accessLevel)]
        })
        var index = 0
        for reference in references {
            let indent = String(repeating: "  ", count: level)
            var line = "\(indent)\(reference.browseName)  \(reference.nodeId.nodeId)  \(reference.nodeClass)"
            if reference.nodeClass == .variable, index + 1 < details.count {
                line += "  \(Self.dataTypeName(details[index].value))  \(Self.access(details[index + 1].value))"
                index += 2
            }
            print(line)
            let child = reference.nodeId.nodeId
            if level < depth, reference.nodeClass == .object || reference.nodeClass == .variable, !seen.contains(child) {
                try await walk(client, child, level: level + 1, seen: seen.union([child]))
            }
        }
    }

    static func dataTypeName(_ value: Variant?) -> String {
        guard case .nodeId(let type)? = value else { return "?" }
        if type.namespace == 0, case .numeric(let number) = type.identifier, let builtIn = BuiltInType(rawValue: UInt8(clamping: number)), number <= 25 {
            return builtIn.description
        }
        return type.description
    }

    static func access(_ value: Variant?) -> String {
        guard case .byte(let level)? = value else { return "" }
        return (level & 1 != 0 ? "r" : "-") + (level & 2 != 0 ? "w" : "-")
    }
}

/// `gemba edge read opc.tcp://… --node …`: nodes' values with status and source time.
struct OPCUARead {
    var endpoint: String
    var nodes: [String]
    var connection: OPCUAConnectOptions

    func run() async throws {
        guard !nodes.isEmpty else { throw ValidationError("give at least one --node (ns=2;s=Line1.Speed, i=2258…)") }
        let ids = try nodes.map { text in
            guard let id = NodeId(parsing: text) else { throw ValidationError("--node \(text) is not a node id") }
            return id
        }
        let client = try await connection.connect(endpoint)
        let values: [DataValue]
        do { values = try await client.read(ids.map { ReadValueId($0) }) } catch {
            await client.close()
            throw CommandFailure("\(endpoint): \(error)")
        }
        await client.close()
        for (id, value) in zip(ids, values) {
            let time = value.sourceTimestamp.map { Timestamp(millisecondsSinceEpoch: $0.millisecondsSince1970).rfc3339 } ?? "-"
            print("\(id)\t\(value.value.map(Self.text) ?? "null")\t\(value.statusCode)\t\(time)")
        }
    }

    static func text(_ value: Variant) -> String {
        switch value {
        case .string(let text): return text ?? "null"
        case .localizedText(let text): return text.text ?? ""
        case .array(_, let elements, _): return "[" + elements.map(text).joined(separator: ", ") + "]"
        default:
            if let number = value.doubleValue { return value.type == .double || value.type == .float ? "\(number)" : "\(Int64(number))" }
            return "\(value)"
        }
    }
}

/// `gemba edge certificate`: the gateway's OPC UA application instance certificate (made when
/// missing), printed with its thumbprint, for an engineer to add to a server's trusted list.
struct EdgeCertificate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certificate",
        abstract: "Show (and make, on first use) the OPC UA application instance certificate of --pki, to trust on servers.")

    @Option(help: "The PKI directory, as for browse and read (and the gateway file's 'pki').")
    var pki = (ProcessInfo.processInfo.environment["HOME"] ?? ".") + "/.gemba/pki"
    @Option(help: "The application URI written into a new certificate's subjectAltName.") var applicationUri = "urn:gemba:edge"

    func run() async throws {
        let store = CertificateStore(directory: pki)
        let identity: LocalIdentity
        do { identity = try store.identity(applicationURI: applicationUri, name: "Gemba edge gateway") } catch {
            throw CommandFailure("\(pki): \(error)")
        }
        print("certificate: \(pki)/own/certificate.der")
        print("thumbprint:  \(identity.thumbprint)")
        print("uri:         \(identity.applicationURI)")
        print("trusted server certificates go in \(pki)/trusted/; refused ones are put in \(pki)/rejected/")
    }
}
