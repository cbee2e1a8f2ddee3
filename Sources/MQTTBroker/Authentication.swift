import Foundation
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
    func mayPublish(_ principal: Principal, topic: String) -> Bool
    func maySubscribe(_ principal: Principal, filter: String) -> Bool
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
    public func mayPublish(_ principal: Principal, topic: String) -> Bool { true }
    public func maySubscribe(_ principal: Principal, filter: String) -> Bool { true }
}

/// Per-user topic rules from configuration: `%u` in a pattern stands for the principal's name.
///
/// A user may publish to topics matching one of its publish patterns and subscribe to filters
/// that are equal to, or narrower than, one of its subscribe patterns.
public struct StaticACL: Authorizer {
    public struct Rules: Sendable {
        public var publish: [String]
        public var subscribe: [String]
        public init(publish: [String], subscribe: [String]) {
            self.publish = publish
            self.subscribe = subscribe
        }
    }

    private let rules: [String: Rules]
    private let defaultRules: Rules

    public init(rules: [String: Rules], default defaultRules: Rules = Rules(publish: [], subscribe: [])) {
        self.rules = rules
        self.defaultRules = defaultRules
    }

    private func rules(for principal: Principal) -> Rules { rules[principal.name] ?? defaultRules }

    public func mayPublish(_ principal: Principal, topic: String) -> Bool {
        rules(for: principal).publish.contains { pattern in
            Topic.matches(filter: pattern.replacingOccurrences(of: "%u", with: principal.name), name: topic)
        }
    }

    public func maySubscribe(_ principal: Principal, filter: String) -> Bool {
        let plain = SharedSubscription(filter)?.filter ?? filter
        return rules(for: principal).subscribe.contains { pattern in
            Self.covers(pattern.replacingOccurrences(of: "%u", with: principal.name), plain)
        }
    }

    /// Whether every topic `filter` matches is also matched by `pattern`.
    public static func covers(_ pattern: String, _ filter: String) -> Bool {
        let p = pattern.split(separator: "/", omittingEmptySubsequences: false)
        let f = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in p.enumerated() {
            if level == "#" { return true }
            guard index < f.count else { return false }
            if level == "+" { if f[index] == "#" { return false } else { continue } }
            if level != f[index] { return false }
        }
        return p.count == f.count
    }
}
