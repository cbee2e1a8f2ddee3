public import GembaAccess
public import GembaCore
public import MQTTBroker
internal import MQTTCodec

/// The embedded broker's authenticator: device credentials (username + secret) or an API key as
/// the password, each bound to its tenant; anonymous connections only when allowed (`--demo`,
/// `--mqtt-allow-anonymous`), acting in the default tenant.
public struct DeviceAuthenticator: Authenticator {
    let access: AccessService
    let allowAnonymous: Bool

    public init(access: AccessService, allowAnonymous: Bool) {
        self.access = access
        self.allowAnonymous = allowAnonymous
    }

    public func authenticate(_ request: AuthenticationRequest) async -> Result<Principal, AuthenticationFailure> {
        guard let username = request.username, let password = request.password else {
            return allowAnonymous ? .success(.anonymous) : .failure(AuthenticationFailure(.notAuthorized))
        }
        do {
            let caller = try await access.authenticate(username: username, secret: String(decoding: password, as: UTF8.self))
            return .success(Principal(caller))
        } catch {
            return .failure(AuthenticationFailure(.badUsernameOrPassword))
        }
    }
}

extension Principal {
    /// The broker-side form of a caller: the tenant, kind, role and subtree ride in the attributes,
    /// with the topic prefix of the subtree worked out once here rather than on every PUBLISH.
    public init(_ caller: Caller) {
        var attributes = ["tenant": caller.tenant.rawValue, "kind": caller.kind.rawValue]
        if let role = caller.role { attributes["role"] = role.rawValue }
        if let subtree = caller.subtree {
            attributes["subtree"] = subtree.description
            attributes["topic_prefix"] = TenantTopicAuthorizer.telemetryPrefix + subtree.description
        }
        self.init(name: caller.name, attributes: attributes)
    }

    /// The tenant a principal's messages belong to (anonymous: the default tenant).
    var tenant: TenantID { attributes["tenant"].flatMap(TenantID.init) ?? .default }
}

/// What authenticated MQTT clients may do. Topics carry no tenant, so the rules keep tenants apart:
/// devices and API keys (engineer and up) publish telemetry only under `gemba/v1/` and, for a device,
/// only inside its asset subtree; they subscribe only to their tenant's command topics
/// `gemba/cmd/<tenant>/<subtree>/…`. Anonymous clients (demo, tests) may do anything.
public struct TenantTopicAuthorizer: Authorizer {
    static let telemetryPrefix = "gemba/v1/"

    public init() {}

    public func mayPublish(_ principal: Principal, topic: String) -> Bool {
        guard let kind = principal.attributes["kind"] else { return true }  // anonymous, where allowed
        guard topic.hasPrefix(Self.telemetryPrefix) else { return false }
        switch kind {
        case Caller.Kind.device.rawValue:
            guard let prefix = principal.attributes["topic_prefix"] else { return true }
            return Self.topic(topic, isUnder: prefix)
        case Caller.Kind.apiKey.rawValue:
            return principal.attributes["role"].flatMap(Role.init(rawValue:))?.allows(.ingest) == true
        default:
            return false
        }
    }

    /// Whether `topic` is `prefix` or lies below it, by whole levels (`a/b` is under `a`, `ab` is not).
    static func topic(_ topic: String, isUnder prefix: String) -> Bool {
        let topic = topic.utf8, prefix = prefix.utf8
        guard topic.starts(with: prefix) else { return false }
        return topic.count == prefix.count || topic[topic.index(topic.startIndex, offsetBy: prefix.count)] == UInt8(ascii: "/")
    }

    public func maySubscribe(_ principal: Principal, filter: String) -> Bool {
        guard principal.attributes["kind"] != nil else { return true }
        let subtree = principal.attributes["subtree"].map { "/" + $0 } ?? ""
        return StaticACL.covers("gemba/cmd/\(principal.tenant.rawValue)\(subtree)/#", filter)
    }
}
