internal import Foundation
internal import GembaCore
public import GembaRules
internal import GembaStorage
public import Logging
internal import Synchronization

/// Alarms on several nodes sharing one store: one node evaluates (the singleton node, fed every
/// committed sample of the tags rules read through the store's sample feed), the others follow.
/// This type carries what the nodes tell each other over the change feed (`announce`, and
/// ``deliver(_:)`` for what another node announced): the rules changed (every node reloads them),
/// alarms were written (the following nodes reload them), and an operator's action taken on a
/// following node, which the evaluating node applies and answers.
public final class AlarmCluster: Sendable {
    static let rulesChanged = "rules", alarmsChanged = "alarms", request = "alarm-act ", answer = "alarm-acted "
    /// Longest request announced (the change feed's limit, less room for the node's id).
    static let longestRequest = 7_800

    /// An action with the id its answer carries.
    struct Request: NodeChange {
        var id: String
        var request: AlarmActionRequest
    }

    /// The evaluating node's answer: done, refused (the alarm's state does not allow it) or failed.
    struct Answer: NodeChange {
        var id: String
        var refusal: String?
        var failure: String?
    }

    private let engine: AlarmEngine
    private let announce: @Sendable (String) async -> Void
    private let answerTimeout: Duration
    private let logger: Logger
    private let waiting = Mutex<[String: CheckedContinuation<Answer?, Never>]>([:])
    private let alarmReloads: Coalesced
    private let ruleReloads: Coalesced

    /// `announce` sends a payload to the other nodes; an action forwarded gets its answer within
    /// `answerTimeout` or fails with 503 (no node evaluates now, as while the lead moves).
    public init(engine: AlarmEngine, announce: @escaping @Sendable (String) async -> Void, answerTimeout: Duration = .seconds(5),
                logger: Logger) {
        self.engine = engine
        self.announce = announce
        self.answerTimeout = answerTimeout
        self.logger = logger
        alarmReloads = Coalesced { [engine, logger] in
            do { try await engine.reloadAlarms() } catch {
                logger.warning("could not reload the alarms another node wrote", metadata: ["error": "\(error)"])
            }
        }
        ruleReloads = Coalesced { [engine, logger] in
            do { try await engine.reloadRules() } catch {
                logger.warning("could not reload the rules another node changed", metadata: ["error": "\(error)"])
            }
        }
        engine.join(AlarmClusterLink(rulesChanged: { await announce(Self.rulesChanged) },
                                     alarmsChanged: { await announce(Self.alarmsChanged) },
                                     forward: { [weak self] request in
                                         guard let self else { throw CancellationError() }
                                         try await self.forward(request)
                                     }))
    }

    /// Handles a payload another node announced when it concerns alarms; answers whether it did.
    public func deliver(_ payload: String) -> Bool {
        if payload == Self.alarmsChanged {
            alarmReloads.request()
        } else if payload == Self.rulesChanged {
            ruleReloads.request()
        } else if payload.hasPrefix(Self.request) {
            if engine.isEvaluating, let request = Request(encoded: String(payload.dropFirst(Self.request.count))) {
                Task { await self.apply(request) }
            }
        } else if payload.hasPrefix(Self.answer) {
            if let answer = Answer(encoded: String(payload.dropFirst(Self.answer.count))) {
                waiting.withLock { $0.removeValue(forKey: answer.id) }?.resume(returning: answer)
            }
        } else {
            return false
        }
        return true
    }

    /// After the change feed reconnected (announcements may have been missed): rules and alarms read anew.
    public func resynchronise() {
        ruleReloads.request()
        alarmReloads.request()
    }

    /// On the evaluating node: applies another node's action and answers it.
    private func apply(_ envelope: Request) async {
        let request = envelope.request
        var answer = Answer(id: envelope.id)
        do {
            _ = try await engine.act(request.action, tenant: request.tenant, rule: request.rule, machine: request.machine,
                                     by: request.actor, now: request.time)
        } catch let error as AlarmActionError {
            answer.refusal = error.message
        } catch {
            answer.failure = "\(error)"
        }
        await announce(Self.answer + answer.encoded)
    }

    /// On a following node: has the evaluating node apply the action, and waits for its answer.
    private func forward(_ request: AlarmActionRequest) async throws {
        let id = UUID().uuidString
        let payload = Self.request + Request(id: id, request: request).encoded
        // PostgreSQL's NOTIFY takes up to 8,000 bytes (the node's id goes first): a comment of 2,000
        // characters outside ASCII can pass that.
        guard payload.utf8.count <= Self.longestRequest else {
            throw Problem.badRequest("the text is too long to hand to the node evaluating alarms; shorten it")
        }
        let answer = await withCheckedContinuation { (continuation: CheckedContinuation<Answer?, Never>) in
            waiting.withLock { $0[id] = continuation }
            Task { [announce, answerTimeout] in
                await announce(payload)
                try? await Task.sleep(for: answerTimeout)
                self.waiting.withLock { $0.removeValue(forKey: id) }?.resume(returning: nil)
            }
        }
        guard let answer, answer.failure == nil else {
            if let failure = answer?.failure { logger.warning("the node evaluating alarms could not apply an action", metadata: ["error": "\(failure)"]) }
            throw Problem(.serviceUnavailable, "the node evaluating alarms did not apply the action; retry shortly", headers: [.retryAfter: "5"])
        }
        if let refusal = answer.refusal { throw AlarmActionError(refusal) }
    }
}

/// Runs `work` when requested: one run at a time, and one more after it when requested meanwhile
/// (however often), so a burst of requests costs at most two runs.
final class Coalesced: Sendable {
    private let state = Mutex((running: false, again: false))
    private let work: @Sendable () async -> Void

    init(_ work: @escaping @Sendable () async -> Void) { self.work = work }

    func request() {
        let start = state.withLock { state -> Bool in
            if state.running { state.again = true }
            defer { state.running = true }
            return !state.running
        }
        guard start else { return }
        Task {
            repeat { await work() } while state.withLock { state -> Bool in
                defer { state.again = false }
                state.running = state.again
                return state.again
            }
        }
    }
}
