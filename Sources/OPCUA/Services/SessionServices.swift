/// The description of an application (Part 4 §7.2).
public struct ApplicationDescription: Sendable, Hashable, UACodable {
    public var applicationURI: String?
    public var productURI: String?
    public var applicationName: LocalizedText
    /// 0 server, 1 client, 2 both, 3 discovery server.
    public var applicationType: Int32
    public var gatewayServerURI: String? = nil
    public var discoveryProfileURI: String? = nil
    public var discoveryURLs: [String] = []

    public init(applicationURI: String, productURI: String, name: String, type: Int32 = 1) {
        self.applicationURI = applicationURI
        self.productURI = productURI
        applicationName = LocalizedText(name)
        applicationType = type
    }

    public init(from reader: inout UAReader) throws(UADecodingError) {
        applicationURI = try reader.string()
        productURI = try reader.string()
        applicationName = try LocalizedText(from: &reader)
        applicationType = try reader.int32()
        gatewayServerURI = try reader.string()
        discoveryProfileURI = try reader.string()
        discoveryURLs = try reader.array { (reader: inout UAReader) throws(UADecodingError) in try reader.string() ?? "" }
    }

    public func encode(to writer: inout UAWriter) {
        writer.string(applicationURI)
        writer.string(productURI)
        applicationName.encode(to: &writer)
        writer.int32(applicationType)
        writer.string(gatewayServerURI)
        writer.string(discoveryProfileURI)
        writer.array(discoveryURLs) { $0.string($1) }
    }
}

/// How a user may identify itself on an endpoint (Part 4 §7.42).
public struct UserTokenPolicy: Sendable, Hashable, UADecodable {
    public enum TokenType: Int32, Sendable { case anonymous = 0, userName = 1, certificate = 2, issuedToken = 3 }
    public var policyId: String?
    public var tokenType: TokenType?
    public var issuedTokenType: String?
    public var issuerEndpointURL: String?
    /// The policy that protects the token; nil or empty: the endpoint's own.
    public var securityPolicyURI: String?

    public init(from reader: inout UAReader) throws(UADecodingError) {
        policyId = try reader.string()
        tokenType = TokenType(rawValue: try reader.int32())
        issuedTokenType = try reader.string()
        issuerEndpointURL = try reader.string()
        securityPolicyURI = try reader.string()
    }
}

/// One endpoint a server offers (Part 4 §7.14).
public struct EndpointDescription: Sendable, Hashable, UADecodable {
    public var endpointURL: String?
    public var server: ApplicationDescription
    public var serverCertificate: [UInt8]?
    public var securityMode: MessageSecurityMode
    public var securityPolicyURI: String?
    public var userIdentityTokens: [UserTokenPolicy]
    public var transportProfileURI: String?
    public var securityLevel: UInt8

    public init(from reader: inout UAReader) throws(UADecodingError) {
        endpointURL = try reader.string()
        server = try ApplicationDescription(from: &reader)
        serverCertificate = try reader.byteString()
        securityMode = MessageSecurityMode(rawValue: try reader.int32()) ?? .invalid
        securityPolicyURI = try reader.string()
        userIdentityTokens = try reader.array(of: UserTokenPolicy.self)
        transportProfileURI = try reader.string()
        securityLevel = try reader.byte()
    }

    public var securityPolicy: SecurityPolicy? { securityPolicyURI.flatMap(SecurityPolicy.init(rawValue:)) }
}

/// GetEndpoints (Part 4 §5.4.4).
public struct GetEndpointsRequest: ServiceRequest {
    public static let encodingId: UInt32 = 428
    public var endpointURL: String

    public init(endpointURL: String) { self.endpointURL = endpointURL }

    public func encodeBody(to writer: inout UAWriter) {
        writer.string(endpointURL)
        writer.int32(0)  // locale ids
        writer.int32(0)  // profile URIs
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 431
        public var endpoints: [EndpointDescription]

        public init(body reader: inout UAReader) throws(UADecodingError) { endpoints = try reader.array(of: EndpointDescription.self) }
    }
}

/// A signature and its algorithm (Part 4 §7.36); empty under policy None.
struct SignatureData: Sendable, Hashable, UACodable {
    var algorithm: String?
    var signature: [UInt8]?

    init(algorithm: String? = nil, signature: [UInt8]? = nil) {
        self.algorithm = algorithm
        self.signature = signature
    }

    init(from reader: inout UAReader) throws(UADecodingError) {
        algorithm = try reader.string()
        signature = try reader.byteString()
    }

    func encode(to writer: inout UAWriter) {
        writer.string(algorithm)
        writer.byteString(signature)
    }
}

/// CreateSession (Part 4 §5.6.2).
public struct CreateSessionRequest: ServiceRequest {
    public static let encodingId: UInt32 = 461
    public var client: ApplicationDescription
    public var endpointURL: String
    public var sessionName: String
    public var clientNonce: [UInt8]
    /// The application instance certificate (DER) on a secured channel; nil under policy None.
    public var clientCertificate: [UInt8]?
    /// ms.
    public var requestedSessionTimeout: Double
    public var maxResponseMessageSize: UInt32

    public func encodeBody(to writer: inout UAWriter) {
        client.encode(to: &writer)
        writer.string(nil)  // server URI
        writer.string(endpointURL)
        writer.string(sessionName)
        writer.byteString(clientNonce)
        writer.byteString(clientCertificate)
        writer.double(requestedSessionTimeout)
        writer.uint32(maxResponseMessageSize)
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 464
        public var sessionId: NodeId
        public var authenticationToken: NodeId
        public var revisedSessionTimeout: Double
        public var serverNonce: [UInt8]?
        public var serverCertificate: [UInt8]?
        public var serverEndpoints: [EndpointDescription]
        /// The server's signature over the client's certificate and nonce (secured channels).
        var serverSignature: SignatureData
        public var maxRequestMessageSize: UInt32

        public init(body reader: inout UAReader) throws(UADecodingError) {
            sessionId = try NodeId(from: &reader)
            authenticationToken = try NodeId(from: &reader)
            revisedSessionTimeout = try reader.double()
            serverNonce = try reader.byteString()
            serverCertificate = try reader.byteString()
            serverEndpoints = try reader.array(of: EndpointDescription.self)
            _ = try reader.array { (reader: inout UAReader) throws(UADecodingError) in
                (try reader.byteString(), try reader.byteString())  // signed software certificates
            }
            serverSignature = try SignatureData(from: &reader)
            maxRequestMessageSize = try reader.uint32()
        }
    }
}

/// The identity a session is activated with (Part 4 §7.41).
public enum UserIdentity: Sendable, Hashable {
    case anonymous
    case userName(String, password: String)
    /// A user certificate (DER) and its RSA private key (PEM): the session is signed with the key.
    case certificate([UInt8], keyPEM: String)
}

/// ActivateSession (Part 4 §5.6.3).
public struct ActivateSessionRequest: ServiceRequest {
    public static let encodingId: UInt32 = 467
    public var identityToken: ExtensionObject
    /// Over the server's certificate and nonce, on a secured channel.
    var clientSignature = SignatureData()
    /// Over the server's certificate and nonce with a user certificate's key (X509 identities).
    var userTokenSignature = SignatureData()

    public func encodeBody(to writer: inout UAWriter) {
        clientSignature.encode(to: &writer)
        writer.int32(0)  // client software certificates
        writer.array(["en"]) { $0.string($1) }  // locale ids
        identityToken.encode(to: &writer)
        userTokenSignature.encode(to: &writer)
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 470
        public var serverNonce: [UInt8]?
        public var results: [StatusCode]

        public init(body reader: inout UAReader) throws(UADecodingError) {
            serverNonce = try reader.byteString()
            results = try reader.array(of: StatusCode.self)
            _ = try reader.array(of: DiagnosticInfo.self)
        }
    }
}

/// CloseSession (Part 4 §5.6.4).
public struct CloseSessionRequest: ServiceRequest {
    public static let encodingId: UInt32 = 473
    public var deleteSubscriptions: Bool

    public func encodeBody(to writer: inout UAWriter) { writer.boolean(deleteSubscriptions) }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 476
        public init(body reader: inout UAReader) throws(UADecodingError) {}
    }
}

/// The identity tokens as they travel in ActivateSession.
enum IdentityToken {
    static func anonymous(policyId: String?) -> ExtensionObject {
        var writer = UAWriter()
        writer.string(policyId)
        return ExtensionObject(typeId: NodeId(EncodingId.anonymousIdentityToken), body: .binary(writer.bytes))
    }

    /// A user certificate (Part 4 §7.41.5); the proof of its key goes in the user token signature.
    static func x509(policyId: String?, certificate: [UInt8]) -> ExtensionObject {
        var writer = UAWriter()
        writer.string(policyId)
        writer.byteString(certificate)
        return ExtensionObject(typeId: NodeId(EncodingId.x509IdentityToken), body: .binary(writer.bytes))
    }

    /// A user name and password: in the clear where the token policy's security is None, otherwise
    /// encrypted for the server's certificate with the server's nonce (Part 4 §7.41.2.3).
    static func userName(policyId: String?, user: String, password: String, encryptFor certificate: [UInt8]?, serverNonce: [UInt8]) throws(OPCUAError) -> ExtensionObject {
        var writer = UAWriter()
        writer.string(policyId)
        writer.string(user)
        if let certificate {
            var secret = UAWriter()
            secret.uint32(UInt32(password.utf8.count + serverNonce.count))
            secret.raw(password.utf8)
            secret.raw(serverNonce)
            writer.byteString(try ChannelSecurity.encryptSecret(secret.bytes, for: certificate))
            writer.string(PolicyAlgorithms.asymmetricEncryptionURI)
        } else {
            writer.byteString(Array(password.utf8))
            writer.string(nil)  // encryption algorithm: none
        }
        return ExtensionObject(typeId: NodeId(EncodingId.userNameIdentityToken), body: .binary(writer.bytes))
    }
}
