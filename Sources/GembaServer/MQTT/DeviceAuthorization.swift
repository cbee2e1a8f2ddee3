public import GembaAccess
public import GembaCore
public import MQTTBroker
internal import MQTTCodec
public import Sparkplug

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
        } catch where error.code == .unavailable {
            return .failure(AuthenticationFailure(.serverUnavailable))
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
            attributes["topic_prefix"] = TenantTopicRules.telemetryPrefix + subtree.description
        }
        self.init(name: caller.name, attributes: attributes)
    }

    /// The tenant a principal's messages belong to (anonymous: the default tenant).
    var tenant: TenantID { attributes["tenant"].flatMap(TenantID.init) ?? .default }
}

/// What authenticated MQTT clients may do in Gemba's own namespaces. Topics carry no tenant, so the
/// rules keep tenants apart: devices and API keys (engineer and up) publish telemetry only under
/// `gemba/v1/` and, for a device, only inside its asset subtree; they subscribe only to their
/// tenant's command topics `gemba/cmd/<tenant>/<subtree>/…`. Anonymous clients (demo, tests) may do
/// anything. Topics elsewhere are for the topic rules (``BrokerAuthorizer``).
public struct TenantTopicRules: Sendable {
    static let telemetryPrefix = "gemba/v1/"
    static let sparkplugPrefix = "spBv1.0/"
    /// How Sparkplug ids map to machines, to hold a device to its subtree.
    let sparkplug: SparkplugAssetMapping

    public init(sparkplug: SparkplugAssetMapping = .default) {
        self.sparkplug = sparkplug
    }

    /// Whether a topic lies in Gemba's own namespaces, which these rules hold.
    static func governs(topic: String) -> Bool {
        topic.hasPrefix("gemba/") || topic.hasPrefix(sparkplugPrefix) || topic == "gemba"
    }

    /// Whether a filter may reach Gemba's own namespaces (it starts there or with a wildcard).
    static func governs(filter: String) -> Bool {
        let plain = SharedSubscription(filter)?.filter ?? filter
        let first = plain.prefix { $0 != "/" }
        return first == "gemba" || first == "spBv1.0" || first == "+" || first == "#"
    }

    public func mayPublish(_ principal: Principal, topic: String) -> Bool {
        guard let kind = principal.attributes["kind"] else { return true }  // anonymous, where allowed
        if topic.hasPrefix(Self.sparkplugPrefix) { return mayPublishSparkplug(principal, kind: kind, topic: topic) }
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
        if filter.hasPrefix(Self.sparkplugPrefix) { return maySubscribeSparkplug(principal, filter: filter) }
        let subtree = principal.attributes["subtree"].map { "/" + $0 } ?? ""
        return Topic.covers("gemba/cmd/\(principal.tenant.rawValue)\(subtree)/#", filter)
    }
}

/// Sparkplug on the embedded broker. Edge nodes authenticate as devices: they publish births,
/// deaths and data only for the edge nodes and devices whose machines (through the host's asset
/// mapping) lie in their subtree, and subscribe to those ids' NCMD/DCMD and to any host's STATE.
/// API keys publish Sparkplug data with the ingest permission, commands with operate.
extension TenantTopicRules {
    func mayPublishSparkplug(_ principal: Principal, kind: String, topic: String) -> Bool {
        guard case .edge(let type, let group, let node, let device)? = try? SparkplugTopic(parsing: topic) else { return false }
        let isCommand = type == .ncmd || type == .dcmd
        switch kind {
        case Caller.Kind.device.rawValue:
            return !isCommand && covers(principal, group: group, node: node, device: device)
        case Caller.Kind.apiKey.rawValue:
            let role = principal.attributes["role"].flatMap(Role.init(rawValue:))
            return role?.allows(isCommand ? .operate : .ingest) == true
        default:
            return false
        }
    }

    func maySubscribeSparkplug(_ principal: Principal, filter: String) -> Bool {
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if levels.count == 3, levels[1] == "STATE" { return true }
        guard levels.count == 4 || levels.count == 5, ["NCMD", "DCMD", "+"].contains(levels[2]) else { return false }
        let group = levels[1], node = levels[3]
        guard !Self.isWildcard(group), !Self.isWildcard(node) else { return principal.attributes["subtree"] == nil }
        let device = levels.count == 5 && !Self.isWildcard(levels[4]) ? levels[4] : nil
        return covers(principal, group: group, node: node, device: device)
    }

    private static func isWildcard(_ level: String) -> Bool { level == "+" || level == "#" }

    /// Whether the machine the ids map to lies in the principal's subtree (no subtree: the whole tenant).
    private func covers(_ principal: Principal, group: String, node: String, device: String?) -> Bool {
        guard let text = principal.attributes["subtree"] else { return true }
        guard let subtree = try? AssetSubtree(text), let path = try? sparkplug.path(group: group, node: node, device: device)
        else { return false }
        return subtree.contains(path)
    }
}
