internal import Foundation
internal import GembaCore
public import GembaStorage
public import Logging
public import MQTTBroker
internal import MQTTCodec
public import ServiceLifecycle
internal import Synchronization

/// The embedded broker's topic rules beyond the tenant rules: an operator's file
/// (`--mqtt-acl-file`, reloaded when it changes) and the rules kept through the API, file rules
/// first. A file or rule that does not parse is refused with its line; the rules in force stay.
public final class BrokerTopicRules: Sendable {
    /// The file's rules as last loaded, and where from.
    public struct FileRules: Sendable {
        public var path: String
        public var acl: TopicACL
        /// Modification time and size when read, to notice a change.
        var stamp: FileStamp
        /// Why the file's latest version was refused, while the previous rules stay in force.
        public var error: String?
    }

    struct FileStamp: Equatable {
        var modified: Date?
        var size: Int
    }

    private struct State {
        var file: FileRules?
        var api = TopicACL()
        var combined = TopicACL()

        mutating func combine() { combined = TopicACL(rules: (file?.acl.rules ?? []) + api.rules) }
    }

    private static let settingKind = "mqtt", settingKey = "acl"
    private let state = Mutex(State())
    private let store: (any AnalyticsStore)?
    private let broker = Mutex<MQTTBroker?>(nil)
    private let logger: Logger

    /// Loads the file (a bad one is an error naming its line) and the rules kept through the API.
    public init(filePath: String?, store: (any AnalyticsStore)?, logger: Logger) async throws {
        self.store = store
        self.logger = logger
        var initial = State()
        if let filePath {
            let (acl, stamp) = try Self.read(filePath)
            initial.file = FileRules(path: filePath, acl: acl, stamp: stamp)
        }
        if let json = try await store?.setting(tenant: .default, kind: Self.settingKind, key: Self.settingKey) {
            do {
                initial.api = try Self.parse(try JSONDecoder().decode([String].self, from: Data(json.utf8)))
            } catch {
                logger.error("the MQTT topic rules kept through the API do not parse; they are not applied",
                             metadata: ["error": "\(error)"])
            }
        }
        initial.combine()
        state.withLock { $0 = initial }
    }

    /// The broker whose subscriptions are checked again when the rules change.
    public func attach(_ broker: MQTTBroker) { self.broker.withLock { $0 = broker } }

    /// The rules in force: the file's, then the API's.
    public var current: TopicACL { state.withLock { $0.combined } }
    public var file: FileRules? { state.withLock { $0.file } }
    /// The rules kept through the API, as written.
    public var apiRules: [String] { state.withLock { $0.api.rules.map(\.text) } }

    /// Replaces the rules kept through the API; refuses the whole list if one rule does not parse.
    public func replaceAPIRules(_ lines: [String]) async throws {
        let acl = try Self.parse(lines)
        let json = String(decoding: try JSONEncoder().encode(acl.rules.map(\.text)), as: UTF8.self)
        try await store?.setSetting(tenant: .default, kind: Self.settingKind, key: Self.settingKey, json: json)
        state.withLock {
            $0.api = acl
            $0.combine()
        }
        await reauthorize()
    }

    /// Reads the file again if it changed. A file that does not parse (or went away) is reported and the
    /// rules in force stay; returns whether new rules were taken up.
    @discardableResult
    public func reloadFileIfChanged() async -> Bool {
        guard let file = self.file else { return false }
        let stamp = Self.stamp(file.path)
        guard stamp != file.stamp else { return false }
        do {
            let (acl, stamp) = try Self.read(file.path)
            state.withLock {
                $0.file = FileRules(path: file.path, acl: acl, stamp: stamp)
                $0.combine()
            }
            logger.info("MQTT topic rules reloaded", metadata: ["mqtt.acl_file": "\(file.path)", "mqtt.acl_rules": "\(acl.rules.count)"])
            await reauthorize()
            return true
        } catch {
            state.withLock {
                $0.file?.stamp = stamp ?? FileStamp(modified: nil, size: -1)
                $0.file?.error = "\(error)"
            }
            logger.error("MQTT topic rules not reloaded; the previous rules stay in force",
                         metadata: ["mqtt.acl_file": "\(file.path)", "error": "\(error)"])
            return false
        }
    }

    private func reauthorize() async {
        guard let broker = broker.withLock({ $0 }) else { return }
        do {
            let removed = try await broker.reauthorize()
            if removed > 0 { logger.notice("subscriptions the new MQTT topic rules refuse were removed", metadata: ["mqtt.removed": "\(removed)"]) }
        } catch {
            logger.warning("could not check subscriptions against the new MQTT topic rules", metadata: ["error": "\(error)"])
        }
    }

    /// Parses a list of rules; the error names the rule (1-based) that is wrong.
    static func parse(_ lines: [String]) throws(TopicACLError) -> TopicACL {
        var rules: [TopicACL.Rule] = []
        for (index, line) in lines.enumerated() {
            do {
                rules.append(try TopicACL.Rule(parsing: line))
            } catch {
                throw TopicACLError("rule \(index + 1): \(error.message)")
            }
        }
        return TopicACL(rules: rules)
    }

    private static func read(_ path: String) throws -> (TopicACL, FileStamp) {
        let stamp = Self.stamp(path)
        guard let stamp, let data = FileManager.default.contents(atPath: path) else {
            throw TopicACLError("cannot read the MQTT topic rules file \(path)")
        }
        do {
            return (try TopicACL(parsing: String(decoding: data, as: UTF8.self)), stamp)
        } catch {
            throw TopicACLError("\(path): \(error.message)")
        }
    }

    private static func stamp(_ path: String) -> FileStamp? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        return FileStamp(modified: attributes[.modificationDate] as? Date, size: (attributes[.size] as? Int) ?? 0)
    }
}

/// Reads the topic rules file again every two seconds when it changed (run it only when there is a file).
public struct TopicRulesWatcher: Service {
    let rules: BrokerTopicRules

    public init(rules: BrokerTopicRules) { self.rules = rules }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(2))
                await rules.reloadFileIfChanged()
            }
        }
    }
}

/// The embedded broker's authorizer: the tenant rules hold Gemba's own namespaces (`gemba/…`,
/// `spBv1.0/…`) to each tenant, then the topic rules decide, first match winning. Where no rule
/// applies, a topic in Gemba's namespaces is allowed (the tenant rules allowed it) and any other
/// topic only to anonymous clients (where they are allowed at all); so devices and keys reach
/// topics such as `uns/#` only through a rule, and no rule opens another tenant's Gemba topics.
public struct BrokerAuthorizer: Authorizer {
    let tenantRules: TenantTopicRules
    let rules: BrokerTopicRules

    public init(tenantRules: TenantTopicRules, rules: BrokerTopicRules) {
        self.tenantRules = tenantRules
        self.rules = rules
    }

    public func mayPublish(_ principal: Principal, clientID: String, topic: String) -> Bool {
        let governed = TenantTopicRules.governs(topic: topic)
        if governed, !tenantRules.mayPublish(principal, topic: topic) { return false }
        switch rules.current.publishDecision(principal, clientID: clientID, topic: topic) {
        case .allow?: return true
        case .deny?: return false
        case nil: return governed || principal.isAnonymous
        }
    }

    public func subscription(_ principal: Principal, clientID: String, filter: String) -> SubscriptionGrant {
        let governed = TenantTopicRules.governs(filter: filter)
        if governed, !tenantRules.maySubscribe(principal, filter: filter) { return .refused }
        let decision = rules.current.subscriptionDecision(principal, clientID: clientID, filter: filter)
        switch decision.effect {
        case .allow?: return .granted(excluding: decision.excluded)
        case .deny?: return .refused
        case nil: return governed || principal.isAnonymous ? .granted(excluding: decision.excluded) : .refused
        }
    }
}

extension Principal {
    /// A client that presented no credentials (where that is allowed).
    var isAnonymous: Bool { attributes["kind"] == nil }
}
