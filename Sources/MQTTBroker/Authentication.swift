public import MQTTCodec

/// Who a connection authenticated as; what the authorizer decides on.
public struct Principal: Hashable, Sendable {
    /// The user or device name.
    public var name: String
    /// Free-form attributes for the authorizer (tenant, asset subtree, roles…).
    public var attributes: [String: String]

    public init(name: String, attributes: [String: String] = [:]) {
        self.name = name
        self.attributes = attributes
    }

    /// The principal of a connection that presented no credentials, where anonymous access is allowed.
    public static let anonymous = Principal(name: "")

    /// Whether `other` is the same party (name, kind and tenant): only it may resume or take over a session.
    public func isSameParty(as other: Principal) -> Bool {
        name == other.name && attributes["kind"] == other.attributes["kind"] && attributes["tenant"] == other.attributes["tenant"]
    }
}

/// What a client presented in CONNECT.
public struct AuthenticationRequest: Sendable {
    public var clientID: String
    public var username: String?
    public var password: [UInt8]?
    public var remoteAddress: String?
}

/// Decides whether a CONNECT's credentials are good.
public protocol Authenticator: Sendable {
    /// The principal for these credentials, or the reason code to refuse with
    /// (``ReasonCode/badUsernameOrPassword`` or ``ReasonCode/notAuthorized``).
    func authenticate(_ request: AuthenticationRequest) async -> Result<Principal, AuthenticationFailure>
}

/// Why a connection was refused.
public struct AuthenticationFailure: Error, Sendable {
    public var reasonCode: ReasonCode
    public init(_ reasonCode: ReasonCode) { self.reasonCode = reasonCode }
}

/// Decides what an authenticated principal may do. Called on the broker's event loop for every
/// PUBLISH and SUBSCRIBE, so it must be fast and must not block.
public protocol Authorizer: Sendable {
    /// Whether the client may publish to `topic`.
    func mayPublish(_ principal: Principal, clientID: String, topic: String) -> Bool
    /// Whether the client may subscribe to `filter`, and which topics the subscription must not deliver.
    func subscription(_ principal: Principal, clientID: String, filter: String) -> SubscriptionGrant
}

/// An authorizer's answer to a SUBSCRIBE filter.
public enum SubscriptionGrant: Sendable, Equatable {
    /// The filter gets "not authorized" in the SUBACK.
    case refused
    /// The filter is granted; messages on topics matching one of `excluding` are not delivered through it.
    case granted(excluding: [String])

    /// Granted in full.
    public static let granted = SubscriptionGrant.granted(excluding: [])
}
/// Accepts every connection, named after its username when it gives one: the demo and test setting.
public struct AllowAnonymous: Authenticator {
    public init() {}
    public func authenticate(_ request: AuthenticationRequest) async -> Result<Principal, AuthenticationFailure> {
        .success(request.username.map { Principal(name: $0) } ?? .anonymous)
    }
}

/// Allows every publish and subscribe.
public struct AllowAll: Authorizer {
    public init() {}
    public func mayPublish(_ principal: Principal, clientID: String, topic: String) -> Bool { true }
    public func subscription(_ principal: Principal, clientID: String, filter: String) -> SubscriptionGrant { .granted }
}

/// A rules file as the whole authorizer: what no rule allows is refused.
extension TopicACL: Authorizer {
    public func mayPublish(_ principal: Principal, clientID: String, topic: String) -> Bool {
        publishDecision(principal, clientID: clientID, topic: topic) == .allow
    }

    public func subscription(_ principal: Principal, clientID: String, filter: String) -> SubscriptionGrant {
        let decision = subscriptionDecision(principal, clientID: clientID, filter: filter)
        return decision.effect == .allow ? .granted(excluding: decision.excluded) : .refused
    }
}
