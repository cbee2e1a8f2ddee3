public import NIOCore
public import NIOPosix
import Synchronization

/// A session on an OPC UA server over one connection: the endpoint chosen from GetEndpoints, a
/// session created and activated with the configured identity, and the services a gateway needs,
/// each batched within the server's OperationLimits.
public final class OPCUAClient: Sendable {
    public struct Configuration: Sendable {
        public var endpoint: String
        public var securityPolicy: SecurityPolicy = .none
        /// Sign or SignAndEncrypt under a secured policy (None under policy None).
        public var securityMode: MessageSecurityMode = .none
        /// Where the application instance certificate, the trusted and the rejected server certificates are (secured policies).
        public var pki: CertificateStore?
        /// Trust exactly this server certificate (its SHA-1 thumbprint) instead of the trusted folder.
        public var serverThumbprint: String?
        public var identity: UserIdentity = .anonymous
        public var applicationName = "Gemba edge gateway"
        public var applicationURI = "urn:gemba:edge"
        /// ms the server keeps the session without requests.
        public var sessionTimeout: Double = 60_000
        public var requestTimeout: TimeAmount = .seconds(10)
        /// ms a secure channel token is asked to live; renewed at three quarters of the granted lifetime.
        public var channelLifetime: UInt32 = 3_600_000

        public init(endpoint: String, identity: UserIdentity = .anonymous) {
            self.endpoint = endpoint
            self.identity = identity
        }
    }

    /// The server's OperationLimits (0: none given), read once after the session starts.
    public struct OperationLimits: Sendable, Hashable {
        public var maxNodesPerRead: Int = 0
        public var maxNodesPerWrite: Int = 0
        public var maxNodesPerBrowse: Int = 0
        public var maxNodesPerTranslate: Int = 0
        public var maxMonitoredItemsPerCall: Int = 0
    }

    public let configuration: Configuration
    public let connection: UAConnection
    /// The endpoint the session was made on, as the server described it.
    public let endpoint: EndpointDescription
    public let limits: OperationLimits
    private let authenticationToken: NodeId

    private init(configuration: Configuration, connection: UAConnection, endpoint: EndpointDescription, token: NodeId, limits: OperationLimits) {
        self.configuration = configuration
        self.connection = connection
        self.endpoint = endpoint
        authenticationToken = token
        self.limits = limits
    }

    /// Connects, chooses the endpoint, creates and activates a session and reads the operation limits.
    /// Under a secured policy the endpoints are asked over a channel without security first, the
    /// server's certificate is checked against the trust list, and a secured channel is opened.
    public static func connect(_ configuration: Configuration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws(OPCUAError) -> OPCUAClient {
        let url = try EndpointURL(parsing: configuration.endpoint)
        let discovery = try await UAConnection.connect(to: url, security: nil, timeout: configuration.requestTimeout,
                                                       lifetime: configuration.channelLifetime, group: group)
        let endpoints: [EndpointDescription]
        do { endpoints = try await discovery.call(GetEndpointsRequest(endpointURL: url.text), timeout: configuration.requestTimeout).endpoints } catch {
            await discovery.close()
            throw error
        }
        let endpoint: EndpointDescription
        do { endpoint = try choose(from: endpoints, configuration) } catch {
            await discovery.close()
            throw error
        }
        guard configuration.securityPolicy != .none else { return try await session(on: discovery, endpoint: endpoint, security: nil, configuration) }
        await discovery.close()
        guard let pki = configuration.pki else { throw OPCUAError(.security, "security policy \(configuration.securityPolicy.name) needs a PKI directory") }
        guard let serverCertificate = endpoint.serverCertificate, !serverCertificate.isEmpty else {
            throw OPCUAError(.security, "the endpoint gives no server certificate")
        }
        // This client's certificate first: made on the first run, so it can be given to the server while its own is checked.
        let identity: LocalIdentity
        do { identity = try pki.identity(applicationURI: configuration.applicationURI, name: configuration.applicationName) } catch {
            throw OPCUAError(.security, "the application instance certificate in \(pki.directory) cannot be made or read: \(error)")
        }
        try pki.check(serverCertificate, pinned: configuration.serverThumbprint)
        let security = try ChannelSecurity(policy: configuration.securityPolicy, mode: endpoint.securityMode, local: identity,
                                           remoteCertificate: serverCertificate)
        let connection: UAConnection
        do {
            connection = try await UAConnection.connect(to: url, security: security, timeout: configuration.requestTimeout,
                                                        lifetime: configuration.channelLifetime, group: group)
        } catch {
            let refused: Set<StatusCode> = [.badCertificateInvalid, .badCertificateUntrusted, .badSecurityChecksFailed]
            guard let status = error.status, refused.contains(status) else { throw error }
            let thumbprint = (try? CertificateInfo(der: identity.certificate).thumbprint) ?? "?"
            throw OPCUAError(.security, "the server refused this client's certificate \(thumbprint) (\(pki.directory)/own/certificate.der): add it to the server's trusted certificates", status: status)
        }
        return try await session(on: connection, endpoint: endpoint, security: security, configuration)
    }

    /// Creates and activates a session on an open channel (signatures over the peer's certificate and nonce when secured).
    private static func session(on connection: UAConnection, endpoint: EndpointDescription, security: ChannelSecurity?,
                                _ configuration: Configuration) async throws(OPCUAError) -> OPCUAClient {
        do throws(OPCUAError) {
            let nonce = ChannelSecurity.nonce(32)
            let session = try await connection.call(CreateSessionRequest(
                client: ApplicationDescription(applicationURI: configuration.applicationURI, productURI: "urn:gemba", name: configuration.applicationName),
                endpointURL: connection.endpoint.text, sessionName: "gemba-\(UInt32.random(in: 0...UInt32.max))", clientNonce: nonce,
                clientCertificate: security?.local.certificate,
                requestedSessionTimeout: configuration.sessionTimeout, maxResponseMessageSize: 16 << 20), timeout: configuration.requestTimeout)
            var activate = ActivateSessionRequest(identityToken: try identityToken(configuration.identity, endpoint: endpoint,
                                                                                   serverNonce: session.serverNonce ?? []))
            if case .certificate(_, let keyPEM) = configuration.identity {
                activate.userTokenSignature = try userTokenSignature(keyPEM: keyPEM, serverCertificate: endpoint.serverCertificate ?? [],
                                                                     serverNonce: session.serverNonce ?? [])
            }
            if let security {
                guard let signature = session.serverSignature.signature,
                      security.verify(signature, over: security.local.certificate + nonce) else {
                    throw OPCUAError(.security, "the server's session signature does not match its certificate")
                }
                activate.clientSignature = SignatureData(algorithm: PolicyAlgorithms.asymmetricSignatureURI,
                                                         signature: try security.sign(security.remoteCertificate + (session.serverNonce ?? [])))
            }
            _ = try await connection.call(activate, authenticationToken: session.authenticationToken, timeout: configuration.requestTimeout)
            let limits = await readLimits(connection, token: session.authenticationToken, timeout: configuration.requestTimeout)
            return OPCUAClient(configuration: configuration, connection: connection, endpoint: endpoint, token: session.authenticationToken, limits: limits)
        } catch {
            await connection.close()
            if error.status == .badIdentityTokenRejected || error.status == .badUserAccessDenied || error.status == .badIdentityTokenInvalid {
                throw OPCUAError(.security, "the server refused the identity (\(configuration.identity.kind))", status: error.status)
            }
            throw error
        }
    }

    /// The endpoint with the configured policy and mode (SignAndEncrypt before Sign when no mode is given).
    static func choose(from endpoints: [EndpointDescription], _ configuration: Configuration) throws(OPCUAError) -> EndpointDescription {
        let modes: [MessageSecurityMode] = configuration.securityPolicy == .none ? [.none]
            : configuration.securityMode == .none ? [.signAndEncrypt, .sign] : [configuration.securityMode]
        for mode in modes {
            if let match = endpoints.first(where: { $0.securityPolicy == configuration.securityPolicy && $0.securityMode == mode }) { return match }
        }
        let offered = endpoints.map { "\($0.securityPolicy?.name ?? $0.securityPolicyURI ?? "?")/\($0.securityMode)" }.joined(separator: ", ")
        throw OPCUAError(.security, "the server offers no endpoint with security policy \(configuration.securityPolicy.name) and mode \(modes.map { "\($0)" }.joined(separator: " or ")) (it offers \(offered))")
    }

    static func identityToken(_ identity: UserIdentity, endpoint: EndpointDescription, serverNonce: [UInt8]) throws(OPCUAError) -> ExtensionObject {
        let wanted: UserTokenPolicy.TokenType = switch identity {
        case .anonymous: .anonymous
        case .userName: .userName
        case .certificate: .certificate
        }
        guard let policy = endpoint.userIdentityTokens.first(where: { $0.tokenType == wanted }) else {
            throw OPCUAError(.security, "the endpoint does not accept \(identity.kind) identities")
        }
        switch identity {
        case .anonymous: return IdentityToken.anonymous(policyId: policy.policyId)
        case .certificate(let certificate, _): return IdentityToken.x509(policyId: policy.policyId, certificate: certificate)
        case .userName(let user, let password):
            let tokenPolicy = policy.securityPolicyURI.flatMap { $0.isEmpty ? nil : SecurityPolicy(rawValue: $0) } ?? endpoint.securityPolicy
            guard tokenPolicy == SecurityPolicy.none else {
                guard let tokenPolicy, PolicyAlgorithms.of(tokenPolicy) != nil, let certificate = endpoint.serverCertificate, !certificate.isEmpty else {
                    throw OPCUAError(.security, "the server wants the password encrypted with \(tokenPolicy?.name ?? policy.securityPolicyURI ?? "?"), which this client does not do")
                }
                return try IdentityToken.userName(policyId: policy.policyId, user: user, password: password, encryptFor: certificate, serverNonce: serverNonce)
            }
            return try IdentityToken.userName(policyId: policy.policyId, user: user, password: password, encryptFor: nil, serverNonce: serverNonce)
        }
    }

    /// The proof that this client holds the user certificate's key: a signature over the server's
    /// certificate and nonce (RSA-PKCS#1 v1.5, SHA-256).
    static func userTokenSignature(keyPEM: String, serverCertificate: [UInt8], serverNonce: [UInt8]) throws(OPCUAError) -> SignatureData {
        let signature: [UInt8]
        do { signature = try UserKey(pem: keyPEM).sign(serverCertificate + serverNonce) } catch {
            throw OPCUAError(.security, "the user certificate's key cannot sign: \(error)")
        }
        return SignatureData(algorithm: PolicyAlgorithms.asymmetricSignatureURI, signature: signature)
    }

    private static func readLimits(_ connection: UAConnection, token: NodeId, timeout: TimeAmount) async -> OperationLimits {
        let nodes = [WellKnownNode.maxNodesPerRead, WellKnownNode.maxNodesPerWrite, WellKnownNode.maxNodesPerBrowse,
                     WellKnownNode.maxNodesPerTranslateBrowsePaths, WellKnownNode.maxMonitoredItemsPerCall]
        guard let values = try? await connection.call(ReadRequest(nodes.map { ReadValueId($0) }), authenticationToken: token, timeout: timeout).results,
              values.count == nodes.count else { return OperationLimits() }
        let numbers = values.map { value in value.statusCode.isGood ? Int(value.value?.doubleValue ?? 0) : 0 }
        return OperationLimits(maxNodesPerRead: numbers[0], maxNodesPerWrite: numbers[1], maxNodesPerBrowse: numbers[2],
                               maxNodesPerTranslate: numbers[3], maxMonitoredItemsPerCall: numbers[4])
    }

    /// Calls a service on the session.
    public func call<R: ServiceRequest>(_ request: R) async throws(OPCUAError) -> R.Response {
        try await connection.call(request, authenticationToken: authenticationToken, timeout: configuration.requestTimeout)
    }

    /// Calls a service on the session, answering the outcome as a value.
    public func result<R: ServiceRequest>(of request: R) async -> Result<R.Response, OPCUAError> {
        do { return .success(try await call(request)) } catch { return .failure(error) }
    }

    /// Runs `body` on slices of `items` no longer than `limit` (0: one slice), in order, and joins the answers.
    static func batched<Item, Answer>(_ items: [Item], limit: Int, _ body: ([Item]) async throws(OPCUAError) -> [Answer]) async throws(OPCUAError) -> [Answer] {
        let size = limit > 0 ? limit : max(1, items.count)
        var answers: [Answer] = []
        answers.reserveCapacity(items.count)
        for start in stride(from: 0, to: items.count, by: size) {
            let slice = Array(items[start..<min(items.count, start + size)])
            let part = try await body(slice)
            guard part.count == slice.count else {
                throw OPCUAError(.protocolViolation, "\(part.count) results for \(slice.count) operations")
            }
            answers += part
        }
        return answers
    }

    /// Reads attributes (the Value by default) of nodes.
    public func read(_ nodes: [ReadValueId]) async throws(OPCUAError) -> [DataValue] {
        try await Self.batched(nodes, limit: limits.maxNodesPerRead) { (slice) throws(OPCUAError) in try await call(ReadRequest(slice)).results }
    }

    /// Writes values; answers a status per value.
    public func write(_ values: [(NodeId, DataValue)]) async throws(OPCUAError) -> [StatusCode] {
        try await Self.batched(values, limit: limits.maxNodesPerWrite) { (slice) throws(OPCUAError) in try await call(WriteRequest(slice)).results }
    }

    /// Every forward hierarchical reference of `node`, following continuation points.
    public func browse(_ node: NodeId) async throws(OPCUAError) -> [ReferenceDescription] {
        var result = try await call(BrowseRequest([node])).results.first
        var references: [ReferenceDescription] = []
        var rounds = 0
        while let current = result {
            guard !current.status.isBad else { throw OPCUAError(.service, "cannot browse \(node)", status: current.status) }
            references += current.references
            guard let point = current.continuationPoint, !point.isEmpty else { break }
            rounds += 1
            guard rounds < 10_000 else { throw OPCUAError(.protocolViolation, "browsing \(node) never ends") }
            result = try await call(BrowseNextRequest(continuationPoints: [point], release: false)).results.first
        }
        return references
    }

    /// The node each path of browse names leads to from its start (nil where it leads nowhere).
    public func translate(_ paths: [(start: NodeId, names: [QualifiedName])]) async throws(OPCUAError) -> [Result<NodeId, OPCUAError>] {
        try await Self.batched(paths, limit: limits.maxNodesPerTranslate) { (slice) throws(OPCUAError) in
            try await call(TranslateBrowsePathsRequest(slice)).results.map { result in
                guard result.status.isGood, let target = result.targets.first, target.serverIndex == 0 else {
                    return .failure(OPCUAError(.service, "the browse path leads nowhere", status: result.status.isGood ? .badNodeIdUnknown : result.status))
                }
                return .success(target.nodeId)
            }
        }
    }

    /// Creates monitored items in batches; a deadband the server refuses is asked again without it.
    public func createMonitoredItems(subscription: UInt32, _ items: [MonitoredItemRequest]) async throws(OPCUAError)
        -> [(status: StatusCode, monitoredItemId: UInt32, deadbandDropped: Bool)] {
        let first = try await Self.batched(items, limit: limits.maxMonitoredItemsPerCall) { (slice) throws(OPCUAError) in
            try await call(CreateMonitoredItemsRequest(subscriptionId: subscription, items: slice)).results
        }
        let refusedFilter: Set<StatusCode> = [.badFilterNotAllowed, .badMonitoredItemFilterUnsupported, .badDeadbandFilterInvalid]
        let retry = items.indices.filter { items[$0].deadband != .none && refusedFilter.contains(first[$0].status) }
        var answers = first.map { ($0.status, $0.monitoredItemId, false) }
        guard !retry.isEmpty else { return answers }
        let plain = retry.map { index in
            var item = items[index]
            item.deadband = .none
            return item
        }
        let second = try await Self.batched(plain, limit: limits.maxMonitoredItemsPerCall) { (slice) throws(OPCUAError) in
            try await call(CreateMonitoredItemsRequest(subscriptionId: subscription, items: slice)).results
        }
        for (index, result) in zip(retry, second) { answers[index] = (result.status, result.monitoredItemId, true) }
        return answers
    }

    /// Closes the session (deleting its subscriptions) and the connection.
    public func close() async {
        _ = try? await connection.call(CloseSessionRequest(deleteSubscriptions: true), authenticationToken: authenticationToken, timeout: .seconds(2))
        await connection.close()
    }
}

extension UserIdentity {
    var kind: String {
        switch self {
        case .anonymous: "anonymous"
        case .userName(let user, _): "user name \(user)"
        case .certificate(let der, _): "user certificate \(CertificateInfo.thumbprint(of: der))"
        }
    }
}
