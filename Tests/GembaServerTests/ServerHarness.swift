import Foundation
import GembaAccess
import GembaAnalytics
import GembaRules
import GembaNotifications
import GembaMaintenance
import Synchronization
import GembaCore
import GembaIngest
import GembaServer
import GembaStorage
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore

/// A real store, pipeline and hub behind the real router, served on a free loopback port.
struct ServerHarness {
    static let ownerEmail = "owner@gemba.test"
    static let ownerPassword = "owner passphrase 1"
    let store: SQLiteStore
    let pipeline: IngestPipeline
    let hub: LiveHub
    let access: AccessService
    let identity: SQLiteIdentityStore
    let clock = HarnessClock()
    var server: ServerContext

    init(configuration: IngestPipeline.Configuration = .init(), access accessConfiguration: AccessService.Configuration? = nil) async throws {
        let directory = NSTemporaryDirectory() + "gemba-server-\(UUID().uuidString)"
        store = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
        pipeline = IngestPipeline(store: store, configuration: configuration, logger: Logger(label: "test"))
        hub = LiveHub()
        pipeline.addObserver(hub)
        identity = try SQLiteIdentityStore(directory: directory)
        var settings = accessConfiguration ?? AccessService.Configuration()
        settings.passwords = PasswordPolicy(cost: 4)
        let clock = self.clock
        access = AccessService(store: identity, signer: try await TokenSigner(key: Array(repeating: 1, count: 32)),
                               configuration: settings, clock: { clock.now }, logger: Logger(label: "test"))
        _ = try await access.bootstrap(tenant: .default, email: Self.ownerEmail, password: Self.ownerPassword)
        server = ServerContext(store: store, pipeline: pipeline, hub: hub, access: access, maxIngestBytes: 64 * 1024,
                               readinessChecks: ["mqtt": { true }], metrics: { Array("gemba_test 1\n".utf8) },
                               logger: Logger(label: "test"))
        server.oee = OEEEngine.attached(to: pipeline, store: store, logger: Logger(label: "test"))
        let router = NotificationRouter(baseURL: "http://gemba.test")
        var notify = Notifier.Configuration()
        notify.network = NetworkGuard(allowPrivateNetworks: true)
        notify.schedule = RetrySchedule(delays: [50, 50])
        server.notifications = Notifier(store: store, box: try SecretBox.open(directory: directory), router: router, configuration: notify,
                                        logger: Logger(label: "test"))
        server.alarms = AlarmEngine.attached(to: pipeline, store: store, router: router, logger: Logger(label: "test"))
        server.maintenance = MaintenanceService(store: store, clock: { clock.now.millisecondsSinceEpoch }, windowChanged: { [oee = server.oee] tenant, machine, range in
            try await oee?.invalidate(tenant: tenant, machine: machine, range: range)
        }, predictionJudged: { [store] tenant, order, actor in
            try await DetectorEventRecorder.label(from: order, by: actor, tenant: tenant, in: store)
        })
        server.plans = PlanScheduler(store: store, service: server.maintenance!, usage: MachineUsageReader(store: store, oee: server.oee))
        server.escalator = ProposalEscalator(service: server.maintenance!, store: store, notifier: server.notifications!)
    }

    /// An access token of the default tenant's owner.
    func ownerToken() async throws -> String {
        try await access.login(email: Self.ownerEmail, password: Self.ownerPassword, tenant: nil,
                               origin: RequestOrigin(ip: "test", requestID: "")).accessToken
    }

    /// A new API key of the default tenant with `role`.
    func apiKey(role: Role) async throws -> String {
        try await access.createAPIKey(.system(.default), name: "test \(role.rawValue)", role: role, expiresAt: nil,
                                      origin: RequestOrigin(ip: "test", requestID: "")).secret
    }

    /// Runs `body` against the live application, with the pipeline committing (unless `runPipeline` is false).
    /// The client sends the owner's token unless `anonymous`.
    func test(runPipeline: Bool = true, anonymous: Bool = false,
              _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let pipeline = self.pipeline
        let task = runPipeline ? Task { try await pipeline.run() } : nil
        defer { task?.cancel() }
        // The alarm clock, as `serve` runs it: timers, then the changes and their notifications written.
        let alarms = server.alarms
        let alarmClock = Task {
            while !Task.isCancelled { try await alarms?.clockPass() }
        }
        defer { alarmClock.cancel() }
        let app = try HTTPServer.application(server, host: "127.0.0.1", port: 0)
        let token = anonymous ? nil : try await ownerToken()
        try await app.test(.live) { client in
            try await body(token.map { AuthorizedClient(client: client, authorization: "Bearer \($0)") } ?? client)
        }
    }
}

/// The harness's clock: real time plus an offset a test may move forward.
final class HarnessClock: Sendable {
    private let offset = Mutex<Int64>(0)
    var now: Timestamp { Timestamp.now().adding(milliseconds: offset.withLock { $0 }) }
    func advance(minutes: Int64) { offset.withLock { $0 += minutes * 60_000 } }
}

/// A test client that sends an Authorization header with every request that has none.
struct AuthorizedClient: TestClientProtocol {
    let client: any TestClientProtocol
    let authorization: String

    func executeRequest(uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> TestResponse {
        var headers = headers
        if headers[.authorization] == nil { headers[.authorization] = authorization }
        return try await client.executeRequest(uri: uri, method: method, headers: headers, body: body)
    }

    var port: Int? { client.port }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: JSONValue { (try? JSONParser.parse(body.readableBytesView)) ?? .null }
}

extension JSONValue {
    var array: [JSONValue] {
        if case .array(let items) = self { return items }
        return []
    }

    var int: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value): Int64(exactly: value)
        default: nil
        }
    }

    var double: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}

let nowMillis = Timestamp.now().millisecondsSinceEpoch
