public import GembaCore
public import GembaStorage
internal import Foundation
public import Logging
internal import Synchronization

/// One alarm instance as the API shows it.
public struct AlarmView: Sendable, Hashable {
    public var rule: AlarmRule
    public var machine: AssetPath
    public var alarm: Alarm
    /// Whether the rule's condition holds and its on-delay is running (raises when it completes).
    public var pendingSince: Int64?
}

/// What an operator does to an alarm.
public enum AlarmAction: Sendable, Codable {
    case acknowledge(comment: String?)
    case shelve(until: Int64, reason: String)
    case unshelve
    case removeFromService(reason: String)
    case returnToService
    case comment(String)
    case assign(String?)
}

/// An operator's action taken on a node that does not evaluate alarms, for the node that does.
public struct AlarmActionRequest: Sendable, Codable {
    public var tenant: TenantID
    public var rule: String
    public var machine: AssetPath
    public var action: AlarmAction
    public var actor: String
    public var time: Int64
}

/// How an engine reaches the other nodes of its cluster: the others reload the rules it changed
/// and the alarms it wrote, and a following engine has the evaluating node apply operator actions.
public struct AlarmClusterLink: Sendable {
    /// Tells the other nodes the stored rules changed.
    public var rulesChanged: @Sendable () async -> Void
    /// Tells the other nodes the evaluating node wrote changed alarms.
    public var alarmsChanged: @Sendable () async -> Void
    /// Has the evaluating node apply the action and store it; throws its refusal
    /// (``AlarmActionError``) or why it could not be asked.
    public var forward: @Sendable (AlarmActionRequest) async throws -> Void

    public init(rulesChanged: @escaping @Sendable () async -> Void, alarmsChanged: @escaping @Sendable () async -> Void,
                forward: @escaping @Sendable (AlarmActionRequest) async throws -> Void) {
        self.rulesChanged = rulesChanged
        self.alarmsChanged = alarmsChanged
        self.forward = forward
    }
}

/// Evaluates every rule instance (a rule on a machine) on the live sample stream and on a clock,
/// keeps their alarms, and writes every change with its journal lines to the store. Samples are
/// evaluated on the submitter's thread under one lock (pure work, no I/O), so racing writers never
/// make two instances or two activations; ``flush()`` persists what changed.
///
/// Several nodes on one store run one evaluating engine (``lead()``) and following ones
/// (``follow()``): a following engine evaluates nothing and writes no alarm; it shows the stored
/// alarms (``reloadAlarms()``), keeps the rules current (``reloadRules()``) and hands operator
/// actions to the evaluating node through its ``AlarmClusterLink``.
public final class AlarmEngine: Sendable {
    struct InstanceKey: Hashable, Sendable {
        var tenant: TenantID
        var rule: String
        var machine: AssetPath
    }

    struct MachineKey: Hashable, Sendable {
        var tenant: TenantID
        var machine: AssetPath
    }

    /// One watched machine (or, for rules on line and site KPIs, a line or site): what it reported
    /// and the rules watching it.
    struct Watched: Sendable {
        var level = Operand.KPILevel.machine
        var signals = MachineSignals()
        var metadata: [String: String] = [:]
        var kpis: [Operand.KPI: Double] = [:]
        /// The shifts of the machine's site calendar around now, for rules that apply during shifts only.
        var shifts: [Range<Int64>]?
        var tags: Set<String> = []
        var watchingSince: Int64
        /// The latest time this machine's rules were evaluated at (samples or clock).
        var clock: Int64
        var instances = InstanceTable()
        /// Each instance's next deadline (by rule id), when the clock alone will change something.
        var deadlines: [String: Int64] = [:]
    }

    /// A rule as the index of readers holds it: shared, so the per-sample path copies nothing of it.
    final class RuleReader: Sendable {
        let rule: AlarmRule
        /// For a rule that raises when one tag compares with a number (`t > 85`, no N of M, no
        /// schedule): the comparison, so that a sample of the tag which does not satisfy it passes an
        /// instance at rest by without an evaluation (nothing could change: the usual sample).
        private let threshold: (tag: String, op: ComparisonOperator, value: Double)?

        init(_ rule: AlarmRule) {
            self.rule = rule
            threshold = rule.expression.samples == nil && rule.schedule == nil && !rule.duringShifts
                ? Self.threshold(of: rule.expression.condition) : nil
        }

        /// `tag op number`, with `number op tag` turned round.
        private static func threshold(of condition: Condition) -> (tag: String, op: ComparisonOperator, value: Double)? {
            guard case .compare(let left, let op, let right) = condition else { return nil }
            switch (left, right) {
            case (.tag(let tag), .literal(let value)): return Reading(value).number.map { (tag, op, $0) }
            case (.literal(let value), .tag(let tag)): return Reading(value).number.map { (tag, op.mirrored, $0) }
            default: return nil
            }
        }

        /// Whether this sample leaves an instance at rest as it is (its rule's condition stays false).
        func passesBy(_ tag: String, _ value: SampleValue) -> Bool {
            guard let threshold, threshold.tag == tag, let number = value.numeric else { return false }
            return !threshold.op.holds(number, threshold.value)
        }
    }

    struct State: Sendable {
        var rules: [TenantID: [String: AlarmRule]] = [:]
        var machines: [MachineKey: Watched] = [:]
        /// Per tenant, the rules reading each tag: a sample evaluates only those.
        var readers: [TenantID: [String: [RuleReader]]] = [:]
        var changed = PendingWrites()
        var journal: [AlarmJournalEntry] = []
        var deliveries: [OutboxEntry] = []
        /// No instance's deadline is earlier (the clock skips its scan of the machines until then).
        var earliestDeadline = Int64.max
        /// The router's revision the alarms' follow-up times were last computed under.
        var routerRevision: UInt64 = 0
        /// The latest time the clock ticked at.
        var lastTick: Int64?
    }

    private let store: any AlarmStore
    private let logger: Logger
    /// The category of a state value (`breakdown` → `unplanned_stop`), as rules read it.
    public let stateCategory: @Sendable (String) -> String?
    private let router: (any NotificationRouting)?
    private let state = Mutex(State())
    private let ruleCount = Atomic<Int>(0)
    /// Signalled when changes wait to be written (the alarm clock writes them at once, not at its next tick).
    public let changes = Wakeup()
    private let revisions = Atomic<UInt64>(0)
    private let evaluating = Atomic<Bool>(true)
    /// Per tenant, the tags the rules read (the machine state among them).
    private let tagsReadByTenant = Mutex<[TenantID: Set<String>]>([:])
    private let cluster = Mutex<AlarmClusterLink?>(nil)

    /// Grows with every change of an alarm, a rule or a machine's place: live streams compare it
    /// to the one they last sent instead of rebuilding the list.
    public var revision: UInt64 { revisions.load(ordering: .acquiring) }

    /// `stateCategory` names the category of a state value (`breakdown` → `unplanned_stop`);
    /// `router` turns the transitions people should be told about into notifications.
    public init(store: any AlarmStore, stateCategory: @escaping @Sendable (String) -> String?,
                router: (any NotificationRouting)? = nil, logger: Logger) {
        self.store = store
        self.stateCategory = stateCategory
        self.router = router
        self.logger = logger
    }

    // MARK: Role

    /// Whether this engine evaluates rules and writes alarms (one node of a cluster; the only one otherwise).
    public var isEvaluating: Bool { evaluating.load(ordering: .acquiring) }

    /// Makes this engine evaluate and write (call after ``load(machines:now:)`` read the store anew).
    public func lead() {
        evaluating.store(true, ordering: .releasing)
    }

    /// Makes this engine follow the evaluating node: what it had not written yet is dropped (the
    /// samples behind it are evaluated again by the next evaluating node).
    public func follow() {
        evaluating.store(false, ordering: .releasing)
        state.withLock { state in
            state.changed = PendingWrites()
            state.journal = []
            state.deliveries = []
        }
    }

    /// Joins a cluster: rule changes are announced, and actions go to the evaluating node while following.
    public func join(_ link: AlarmClusterLink) {
        cluster.withLock { $0 = link }
    }

    /// Per tenant, the tags rules read (the machine state among them): the samples the evaluating
    /// node must see, whichever node takes them.
    public var tagsRead: [TenantID: Set<String>] { tagsReadByTenant.withLock { $0 } }

    // MARK: Start

    /// Loads rules and instances (with their running timers) and the machines the rules watch.
    /// `machines` gives every machine with its tags, the latest samples the rules read and its metadata.
    public func load(machines: [(tenant: TenantID, machine: AssetPath, tags: Set<String>, latest: [String: Sample],
                                 metadata: [String: String])], now: Int64) async throws {
        let rules = try await store.allRules()
        let stored = try await store.allAlarms()
        state.withLock { state in
            state = State()
            for row in rules {
                guard let rule = try? RuleDocument.decode(Data(row.definition.utf8)) else {
                    logger.error("a stored rule cannot be read; it is skipped", metadata: ["rule.id": "\(row.id)", "tenant": "\(row.tenant)"])
                    continue
                }
                state.rules[row.tenant, default: [:]][rule.id] = rule
            }
            for entry in machines {
                let newest = entry.latest.values.map(\.time.millisecondsSinceEpoch).max()
                var watched = Watched(tags: entry.tags, watchingSince: now, clock: max(newest ?? now, now))
                watched.metadata = entry.metadata
                for (tag, sample) in entry.latest { watched.signals.record(tag: tag, sample) }
                state.machines[MachineKey(tenant: entry.tenant, machine: entry.machine)] = watched
            }
            place(stored, now: now, in: &state)
            // Tenants are indexed anew in place (a commit asking meanwhile finds the tags rules read), then those without rules go.
            for tenant in state.rules.keys { index(tenant, in: &state) }
            tagsReadByTenant.withLock { [rules = state.rules] in $0 = $0.filter { rules[$0.key] != nil } }
            for key in Array(state.machines.keys) {
                // Restored timers run on: each instance is armed for its next deadline.
                for id in state.machines[key]!.instances.ids { rearm(id, on: key, in: &state) }
                attachRules(to: key, in: &state)
            }
            countRules(state)
        }
        logger.info("alarm rules loaded", metadata: ["rules.count": "\(rules.count)", "alarms.count": "\(stored.count)"])
    }

    /// Puts stored instances on their machines.
    private func place(_ stored: [StoredAlarm], now: Int64, in state: inout State) {
        let decoder = JSONDecoder()
        for row in stored {
            guard let machine = try? AssetPath(row.machine), let rule = state.rules[row.tenant]?[row.rule],
                  let instance = try? decoder.decode(RuleInstance.self, from: Data(row.state.utf8)) else { continue }
            let key = MachineKey(tenant: row.tenant, machine: machine)
            state.machines[key, default: Watched(level: rule.expression.level, watchingSince: now, clock: now)].instances[row.rule] = instance
        }
    }

    /// On a following engine, shows the alarms as stored now (the evaluating node wrote them); the
    /// rules too, when an alarm is of a rule this engine has not heard of yet.
    public func reloadAlarms() async throws {
        guard !isEvaluating else { return }
        let stored = try await store.allAlarms()
        if state.withLock({ state in stored.contains { state.rules[$0.tenant]?[$0.rule] == nil } }) { try await reloadRules() }
        let now = Timestamp.now().millisecondsSinceEpoch
        state.withLock { state in
            for entry in state.machines.indices {
                state.machines.values[entry].instances = InstanceTable()
                state.machines.values[entry].deadlines = [:]
            }
            place(stored, now: now, in: &state)
        }
        revisions.add(1, ordering: .releasing)
    }

    /// Takes the rules as stored now (another node changed them): each changed rule applies as
    /// ``save(_:tenant:by:)`` applies it, each removed one as ``delete(rule:tenant:)``.
    public func reloadRules() async throws {
        var stored: [TenantID: [String: AlarmRule]] = [:]
        for row in try await store.allRules() {
            if let rule = try? RuleDocument.decode(Data(row.definition.utf8)) { stored[row.tenant, default: [:]][rule.id] = rule }
        }
        var changed = false
        state.withLock { state in
            for tenant in Set(stored.keys).union(state.rules.keys) {
                let before = state.rules[tenant] ?? [:], after = stored[tenant] ?? [:]
                for (id, rule) in after where before[id] != rule {
                    apply(rule, tenant: tenant, in: &state)
                    changed = true
                }
                for id in before.keys where after[id] == nil {
                    remove(rule: id, tenant: tenant, in: &state)
                    changed = true
                }
            }
        }
        guard changed else { return }
        revisions.add(1, ordering: .releasing)
        if isEvaluating { try await flush() }
    }

    /// Whether any tenant has a rule (without one, the pipeline shows the engine no samples).
    public var hasRules: Bool { ruleCount.load(ordering: .relaxed) > 0 }

    private func countRules(_ state: State) {
        ruleCount.store(state.rules.values.reduce(0) { $0 + $1.count }, ordering: .relaxed)
    }

    // MARK: Samples and clock

    /// Evaluates the rules that read these samples' tags. Consecutive samples of one machine (a
    /// message's tags) are evaluated on its entry in place, with one look-up of the machine; each
    /// sample's rules come from the tenant's index of readers, shared, so nothing is copied per rule.
    public func accepted(_ samples: [AcceptedSample]) {
        guard isEvaluating else { return }
        // Through a buffer, reading a sample's field projects it instead of copying the whole element.
        samples.withUnsafeBufferPointer { samples in state.withLock { evaluate(samples, in: &$0) } }
    }

    private func evaluate(_ samples: UnsafeBufferPointer<AcceptedSample>, in state: inout State) {
        var position = samples.startIndex
        while position < samples.endIndex {
            let first = samples[position].key
            let tenant = first.tenant
            guard let rules = state.rules[tenant], !rules.isEmpty else {
                position += 1
                continue
            }
            let machineKey = MachineKey(tenant: tenant, machine: first.machine)
            var entry: Dictionary<MachineKey, Watched>.Index
            if let known = state.machines.index(forKey: machineKey) {
                entry = known
            } else {
                // Watched from now on, not from the sample's time: a machine first heard of through
                // old samples (a backfill) has its silence counted from when the clock met it.
                let time = samples[position].sample.time.millisecondsSinceEpoch
                state.machines[machineKey] = Watched(watchingSince: max(time, state.lastTick ?? time), clock: time)
                entry = state.machines.index(forKey: machineKey)!
            }
            // A reported tag is among the machine's tags: its table of latest samples, which the
            // first sample reads next anyway, answers without a look-up in the set of tags.
            if !state.machines.values[entry].signals.hasReported(first.tag), state.machines.values[entry].tags.insert(first.tag).inserted {
                attachRules(to: machineKey, in: &state)
                entry = state.machines.index(forKey: machineKey)!
            }
            let readers = state.readers[tenant] ?? [:]
            var effects = Effects()
            position = modify(&state.machines.values[entry]) { watched in
                var index = position
                repeat {
                    let tag = samples[index].key.tag, sample = samples[index].sample
                    // After the run's first sample, a tag the machine never reported ends the run (its
                    // rules may need attaching); a known one is recorded with the same look-up.
                    let recorded: Bool
                    if index == position {
                        recorded = watched.signals.record(tag: tag, sample)
                    } else if let known = watched.signals.recordKnown(tag: tag, sample) {
                        recorded = known
                    } else {
                        break
                    }
                    if recorded {
                        watched.clock = max(watched.clock, sample.time.millisecondsSinceEpoch)
                        if tag == Condition.stateTag {
                            // The state tag also drives suppression by design: every rule of the machine reads it.
                            let context = context(watched)
                            for id in Array(watched.instances.ids) {
                                guard let rule = rules[id] else { continue }
                                effects.add(evaluate(rule, &watched, on: machineKey, context, sampled: true), rule: rule)
                            }
                        } else {
                            var context: EvaluationContext?
                            for reader in readers[tag] ?? [] {
                                if reader.passesBy(tag, sample.value),
                                   watched.instances.allAtRest || watched.instances[reader.rule.id]?.isAtRest == true { continue }
                                if context == nil { context = self.context(watched) }
                                effects.add(evaluate(reader.rule, &watched, on: machineKey, context!, sampled: true), rule: reader.rule)
                            }
                        }
                    }
                    index += 1
                    // The next sample joins while it is this machine's.
                } while index < samples.endIndex && samples[index].key.tenant == tenant && samples[index].key.machine == machineKey.machine
                return index
            }
            apply(effects, tenant: tenant, machine: machineKey.machine, in: &state)
        }
    }

    /// What evaluating one machine's samples changed, applied to the engine's state after its entry is written back.
    private struct Effects {
        var changed: [(rule: String, before: RuleInstance)] = []
        var transitions: [(rule: AlarmRule, entries: [AlarmTransition])] = []
        var followUps: [OutboxEntry] = []
        var earliestDeadline = Int64.max

        mutating func add(_ outcome: Outcome?, rule: AlarmRule) {
            guard let outcome else { return }
            if let deadline = outcome.deadline { earliestDeadline = min(earliestDeadline, deadline) }
            if let before = outcome.changedFrom { changed.append((rule.id, before)) }
            if !outcome.entries.isEmpty { transitions.append((rule, outcome.entries)) }
            if !outcome.followUps.isEmpty { followUps += outcome.followUps }
        }
    }

    private func apply(_ effects: Effects, tenant: TenantID, machine: AssetPath, in state: inout State) {
        state.earliestDeadline = min(state.earliestDeadline, effects.earliestDeadline)
        if !effects.followUps.isEmpty { queue(effects.followUps, in: &state) }
        for (id, before) in effects.changed { state.changed.mark(InstanceKey(tenant: tenant, rule: id, machine: machine), storedAs: before) }
        for (rule, entries) in effects.transitions {
            record(entries, rule: rule, key: InstanceKey(tenant: tenant, rule: rule.id, machine: machine), in: &state)
        }
    }

    /// Evaluates every instance whose next deadline has come: delays completing, data gone
    /// missing, shelves ending, escalation stages starting.
    public func tick(now: Int64) {
        guard isEvaluating else { return }
        state.withLock { state in
            state.lastTick = max(state.lastTick ?? now, now)
            if now >= state.earliestDeadline {
                // Entries are read in place: iterating the dictionary would copy every machine's entry.
                var due: [(entry: Dictionary<MachineKey, Watched>.Index, rule: String)] = []
                var earliest = Int64.max
                for entry in state.machines.indices {
                    modify(&state.machines.values[entry]) { watched in
                        for (id, deadline) in watched.deadlines {
                            if deadline <= now { due.append((entry, id)) } else { earliest = min(earliest, deadline) }
                        }
                    }
                }
                state.earliestDeadline = earliest
                for (machineKey, id) in due.map({ (state.machines.keys[$0.entry], $0.rule) }) {
                    modify(&state.machines[machineKey]!) { $0.clock = max($0.clock, now) }
                    evaluate(id, on: machineKey, sampled: false, in: &state)
                }
            }
            followPolicyChanges(now: now, in: &state)
        }
    }

    /// When policies, rosters or people changed, every alarm awaiting acknowledgement whose follow-ups
    /// were computed under other ones asks again what follows up on it (a new escalation step may
    /// already be due). One computed under the current policies is left alone: evaluating it would
    /// move its machine's clock to now for nothing.
    private func followPolicyChanges(now: Int64, in state: inout State) {
        guard let router, router.revision != state.routerRevision else { return }
        let revision = router.revision
        state.routerRevision = revision
        for (key, watched) in state.machines {
            for (id, instance) in watched.instances.byRule where instance.alarm.awaitsAcknowledgement
                && !(instance.followUps?.revision == revision && instance.followUps?.activation == instance.alarm.activeSince) {
                state.machines[key]!.clock = max(state.machines[key]!.clock, now)
                evaluate(id, on: key, sampled: false, in: &state)
            }
        }
    }

    /// One pass of the alarm clock, as `serve` runs it in a loop: waits until something changed or
    /// the clock's next tick (a quarter second while a delay, a missing-data watch or a follow-up
    /// runs; a second while none does), evaluates what is due, and writes the changes. Answers
    /// whether notifications were written (the notifier may look at once).
    @discardableResult
    public func clockPass() async throws -> Bool {
        await changes.wait(upTo: state.withLock { $0.earliestDeadline == .max } ? .seconds(1) : .milliseconds(250))
        tick(now: Timestamp.now().millisecondsSinceEpoch)
        return try await flush()
    }

    /// Writes changed instances and new journal lines in one transaction; kept for the next try when it
    /// fails. Answers whether notifications were among them (the notifier may look at once).
    @discardableResult
    public func flush() async throws -> Bool {
        let encoder = JSONEncoder()
        let now = Timestamp.now().millisecondsSinceEpoch
        let (changed, journal, deliveries) = state.withLock { state in
            defer { (state.journal, state.deliveries) = ([], []) }
            let machines = state.machines
            let changed = state.changed.take { machines[MachineKey(tenant: $0.tenant, machine: $0.machine)]?.instances[$0.rule] } row: { key, instance in
                (try? encoder.encode(instance)).map {
                    StoredAlarm(tenant: key.tenant, rule: key.rule, machine: key.machine.description, state: String(decoding: $0, as: UTF8.self),
                                updatedAt: now)
                }
            }
            return (changed, state.journal, state.deliveries)
        }
        guard !changed.isEmpty || !journal.isEmpty || !deliveries.isEmpty else { return false }
        do {
            try await store.recordAlarms(changed, journal: journal, deliveries: deliveries)
        } catch {
            state.withLock { state in
                state.journal.insert(contentsOf: journal, at: 0)
                state.deliveries.insert(contentsOf: deliveries, at: 0)
                for alarm in changed {
                    if let machine = try? AssetPath(alarm.machine) {
                        state.changed.mark(InstanceKey(tenant: alarm.tenant, rule: alarm.rule, machine: machine), storedAs: nil)
                    }
                }
            }
            throw error
        }
        if !changed.isEmpty || !journal.isEmpty, let link = cluster.withLock({ $0 }) { await link.alarmsChanged() }
        return !deliveries.isEmpty
    }

    /// The assets whose current-shift KPIs rules read, for the engine's owner to refresh them: machines
    /// with a rule on their own KPIs, and the lines and sites (with their machines) a rule on line or
    /// site KPIs watches.
    public func assetsReadingKPIs() -> [(tenant: TenantID, asset: AssetPath, level: Operand.KPILevel, machines: [AssetPath])] {
        state.withLock { state in
            var assets: [(tenant: TenantID, asset: AssetPath, level: Operand.KPILevel, machines: [AssetPath])] = []
            var groups: [MachineKey: (level: Operand.KPILevel, machines: [AssetPath])] = [:]
            for (key, watched) in state.machines where watched.level == .machine {
                if watched.instances.ids.contains(where: { state.rules[key.tenant]?[$0]?.expression.readsKPIs == true }) {
                    assets.append((key.tenant, key.machine, .machine, [key.machine]))
                }
                for level in [Operand.KPILevel.line, .site] {
                    guard let asset = level.asset(of: key.machine),
                          state.rules[key.tenant]?.values.contains(where: { $0.enabled && $0.expression.level == level && $0.watches(asset) { _ in false } }) == true
                    else { continue }
                    groups[MachineKey(tenant: key.tenant, machine: asset), default: (level, [])].machines.append(key.machine)
                }
            }
            for (key, group) in groups { assets.append((key.tenant, key.machine, group.level, group.machines.sorted())) }
            return assets
        }
    }

    /// Sets an asset's current-shift KPIs (fractions) and evaluates the rules that read them; a line or
    /// site is watched from its first KPIs on (its rules attach then).
    public func setKPIs(_ kpis: [Operand.KPI: Double], tenant: TenantID, asset: AssetPath, level: Operand.KPILevel = .machine,
                        now: Int64 = Timestamp.now().millisecondsSinceEpoch) {
        guard isEvaluating else { return }
        if level != .machine {
            state.withLock { state in
                let key = MachineKey(tenant: tenant, machine: asset)
                guard state.machines.index(forKey: key) == nil else { return }
                state.machines[key] = Watched(level: level, watchingSince: now, clock: now)
            }
        }
        update(tenant: tenant, machine: asset) { watched in
            watched.kpis = kpis
            // A line or site has no samples: its rules' time is the time of its KPIs.
            if watched.level != .machine { watched.clock = max(watched.clock, now) }
        } affects: { $0.expression.readsKPIs }
        if level != .machine { state.withLock { attachRules(to: MachineKey(tenant: tenant, machine: asset), in: &$0) } }
    }

    /// Machines with a rule that applies during shifts only, for the engine's owner to give them their site's shifts.
    public func machinesOnShiftRules() -> [(tenant: TenantID, machine: AssetPath)] {
        state.withLock { state in
            state.machines.compactMap { key, watched in
                watched.instances.ids.contains { state.rules[key.tenant]?[$0]?.duringShifts == true } ? (key.tenant, key.machine) : nil
            }
        }
    }

    /// Sets the shifts of a machine's site calendar around now and evaluates the rules that apply during shifts only.
    public func setShifts(_ shifts: [Range<Int64>], tenant: TenantID, machine: AssetPath) {
        update(tenant: tenant, machine: machine) { $0.shifts = shifts } affects: { $0.duringShifts }
    }

    /// Sets a machine's asset metadata (per-machine thresholds) and evaluates its rules.
    public func setMetadata(_ metadata: [String: String], tenant: TenantID, machine: AssetPath) {
        update(tenant: tenant, machine: machine) { $0.metadata = metadata } affects: { _ in true }
    }

    /// Follows a machine's move: its instances, timers and signals go with it (the store moves their rows).
    public func machineMoved(tenant: TenantID, from old: AssetPath, to new: AssetPath) {
        state.withLock { state in
            guard let watched = state.machines.removeValue(forKey: MachineKey(tenant: tenant, machine: old)) else { return }
            state.machines[MachineKey(tenant: tenant, machine: new)] = watched
        }
        revisions.add(1, ordering: .releasing)
    }

    /// Forgets a deleted machine (the store deleted its rows).
    public func machineDeleted(tenant: TenantID, machine: AssetPath) {
        state.withLock { state in
            guard let watched = state.machines.removeValue(forKey: MachineKey(tenant: tenant, machine: machine)) else { return }
            state.changed.remove { $0.tenant == tenant && $0.machine == machine && watched.instances[$0.rule] != nil }
        }
        revisions.add(1, ordering: .releasing)
    }

    private func update(tenant: TenantID, machine: AssetPath, _ change: (inout Watched) -> Void, affects: (AlarmRule) -> Bool) {
        guard isEvaluating else { return }
        state.withLock { state in
            let key = MachineKey(tenant: tenant, machine: machine)
            guard state.machines[key] != nil else { return }
            change(&state.machines[key]!)
            for id in state.machines[key]!.instances.ids where state.rules[tenant]?[id].map(affects) == true {
                evaluate(id, on: key, sampled: false, in: &state)
            }
        }
    }

    // MARK: Rules

    /// The tenant's rules, by id.
    public func rules(tenant: TenantID) -> [AlarmRule] {
        state.withLock { $0.rules[tenant].map { Array($0.values) } ?? [] }.sorted { $0.id < $1.id }
    }

    /// Stores a rule (new or changed) and applies it at once: changed rules keep their alarms and restart their timers.
    public func save(_ rule: AlarmRule, tenant: TenantID, by actor: String) async throws -> AlarmRule {
        let version = try await store.allRules().first { $0.tenant == tenant && $0.id == rule.id }.map { $0.version + 1 } ?? 1
        try await store.saveRule(StoredRule(tenant: tenant, id: rule.id, definition: String(decoding: RuleDocument.encode(rule), as: UTF8.self),
                                            version: version, updatedBy: actor, updatedAt: Timestamp.now().millisecondsSinceEpoch))
        state.withLock { apply(rule, tenant: tenant, in: &$0) }
        revisions.add(1, ordering: .releasing)
        try await flush()
        await cluster.withLock { $0 }?.rulesChanged()
        return rule
    }

    /// Applies a new or changed rule: indexed; while evaluating, attached where it watches, its
    /// timers restarted and its instances evaluated.
    private func apply(_ rule: AlarmRule, tenant: TenantID, in state: inout State) {
        state.rules[tenant, default: [:]][rule.id] = rule
        index(tenant, in: &state)
        countRules(state)
        guard isEvaluating else { return }
        for key in state.machines.keys where key.tenant == tenant {
            if let before = state.machines[key]!.instances[rule.id], before.tracker != ConditionTracker() {
                state.machines[key]!.instances[rule.id]!.tracker = ConditionTracker()
                state.changed.mark(InstanceKey(tenant: tenant, rule: rule.id, machine: key.machine), storedAs: before)
            }
            attachRules(to: key, in: &state)
            if state.machines[key]!.instances[rule.id] != nil { evaluate(rule.id, on: key, sampled: false, in: &state) }
        }
    }

    /// Deletes a rule and its alarms (the journal keeps their history); false when there was no such rule.
    public func delete(rule id: String, tenant: TenantID) async throws -> Bool {
        guard try await store.deleteRule(tenant: tenant, id: id) else { return false }
        state.withLock { remove(rule: id, tenant: tenant, in: &$0) }
        revisions.add(1, ordering: .releasing)
        await cluster.withLock { $0 }?.rulesChanged()
        return true
    }

    /// Forgets a deleted rule and its instances.
    private func remove(rule id: String, tenant: TenantID, in state: inout State) {
        state.rules[tenant]?[id] = nil
        index(tenant, in: &state)
        countRules(state)
        for key in state.machines.keys where key.tenant == tenant {
            state.machines[key]!.instances[id] = nil
            state.machines[key]!.deadlines[id] = nil
        }
        state.changed.remove { $0.tenant == tenant && $0.rule == id }
    }

    // MARK: Alarms

    /// The tenant's alarm instances, optionally within a scope (site, area, line or machine path)
    /// and of some rules only.
    public func alarms(tenant: TenantID, scope: AssetSubtree? = nil, rules ids: Set<String>? = nil) -> [AlarmView] {
        state.withLock { state in
            var views: [AlarmView] = []
            for (key, watched) in state.machines where key.tenant == tenant {
                if let scope, !scope.contains(key.machine) { continue }
                for (id, instance) in watched.instances.byRule where ids?.contains(id) ?? true {
                    guard let rule = state.rules[tenant]?[id] else { continue }
                    views.append(AlarmView(rule: rule, machine: key.machine, alarm: instance.alarm, pendingSince: instance.tracker.raiseSince))
                }
            }
            return views.sorted { ($0.machine, $0.rule.id) < ($1.machine, $1.rule.id) }
        }
    }

    /// Applies an operator's action and stores it before answering; nil when there is no such alarm.
    public func act(_ action: AlarmAction, tenant: TenantID, rule id: String, machine: AssetPath, by actor: String,
                    now: Int64 = Timestamp.now().millisecondsSinceEpoch) async throws -> AlarmView? {
        if !isEvaluating, let link = cluster.withLock({ $0 }) {
            guard alarms(tenant: tenant).contains(where: { $0.rule.id == id && $0.machine == machine }) else { return nil }
            try await link.forward(AlarmActionRequest(tenant: tenant, rule: id, machine: machine, action: action, actor: actor, time: now))
            try await reloadAlarms()
            return alarms(tenant: tenant).first { $0.rule.id == id && $0.machine == machine }
        }
        let view = try state.withLock { state throws -> AlarmView? in
            let machineKey = MachineKey(tenant: tenant, machine: machine)
            guard let rule = state.rules[tenant]?[id], var instance = state.machines[machineKey]?.instances[id] else { return nil }
            var alarm = instance.alarm
            let entries: [AlarmTransition]
            switch action {
            case .acknowledge(let comment): entries = try alarm.acknowledge(by: actor, comment: comment, at: now)
            case .shelve(let until, let reason):
                entries = try alarm.shelve(until: until, reason: reason, by: actor, at: now, longest: rule.longestShelve)
            case .unshelve: entries = try alarm.unshelve(by: actor, at: now)
            case .removeFromService(let reason): entries = try alarm.removeFromService(reason: reason, by: actor, at: now)
            case .returnToService: entries = try alarm.returnToService(by: actor, at: now)
            case .comment(let text): entries = alarm.comment(text, by: actor, at: now)
            case .assign(let person): entries = alarm.assign(to: person, by: actor, at: now)
            }
            let before = instance
            instance.alarm = alarm
            state.machines[machineKey]!.instances[id] = instance
            if instance != before { state.changed.mark(InstanceKey(tenant: tenant, rule: id, machine: machine), storedAs: before) }
            record(entries, rule: rule, key: InstanceKey(tenant: tenant, rule: id, machine: machine), in: &state)
            rearm(id, on: machineKey, in: &state)
            return AlarmView(rule: rule, machine: machine, alarm: alarm, pendingSince: instance.tracker.raiseSince)
        }
        try await flush()
        return view
    }

    /// The journal, from the store (written lines) and what is still waiting to be written.
    public func journal(_ query: JournalQuery) async throws -> [AlarmJournalEntry] {
        try await flush()
        return try await store.journal(query)
    }

    // MARK: Evaluation

    /// Gives a machine an instance of every rule that watches it and has none yet.
    private func attachRules(to key: MachineKey, in state: inout State) {
        guard let rules = state.rules[key.tenant], let watched = state.machines[key] else { return }
        for rule in rules.values where rule.enabled && watched.instances[rule.id] == nil && rule.expression.level == watched.level
            && rule.watches(key.machine, hasTag: watched.tags.contains) {
            state.machines[key]!.instances[rule.id] = RuleInstance(rule: rule)
            for tag in rule.expression.tags { state.machines[key]!.signals.keepWindow(of: tag, span: rule.expression.longestWindow) }
            state.changed.mark(InstanceKey(tenant: key.tenant, rule: rule.id, machine: key.machine), storedAs: nil)
            evaluate(rule.id, on: key, sampled: false, in: &state)
        }
    }

    private func context(_ watched: Watched) -> EvaluationContext {
        EvaluationContext(signals: watched.signals, metadata: watched.metadata, kpis: watched.kpis, stateCategory: stateCategory,
                          watchingSince: watched.watchingSince, now: watched.clock, shifts: watched.shifts)
    }

    /// Evaluates one instance. The machine's entry is read in place (no copy of its instances is
    /// held while one is written back, so nothing is copied on write); its deadline is recomputed.
    private func evaluate(_ id: String, on key: MachineKey, sampled: Bool, in state: inout State) {
        guard let rule = state.rules[key.tenant]?[id], let entry = state.machines.index(forKey: key) else { return }
        var effects = Effects()
        modify(&state.machines.values[entry]) { watched in
            effects.add(evaluate(rule, &watched, on: key, context(watched), sampled: sampled, refreshDeadline: true), rule: rule)
        }
        apply(effects, tenant: key.tenant, machine: key.machine, in: &state)
    }

    struct Outcome {
        /// The instance's state before, when it changed.
        var changedFrom: RuleInstance?
        var entries: [AlarmTransition]
        var followUps: [OutboxEntry]
        /// The instance's deadline, when it was set.
        var deadline: Int64?
    }

    /// Evaluates one rule's instance on its machine's entry in place, then its follow-ups; nil when
    /// the machine has none (or the rule is off). The deadline is recomputed when the instance
    /// changed, when the rule reads time, or when asked (`refreshDeadline`): otherwise it cannot
    /// have moved, and one that passed meanwhile only makes the clock evaluate once more.
    private func evaluate(_ rule: AlarmRule, _ watched: inout Watched, on key: MachineKey, _ context: EvaluationContext,
                          sampled: Bool, refreshDeadline: Bool = false) -> Outcome? {
        guard rule.enabled, let (result, slot, changedFrom) = watched.instances.update(rule.id, { instance in
            let entries = instance.evaluate(rule, context, sampled: sampled)
            return (entries: entries, followUps: self.followUps(rule, &instance, on: key, now: context.now))
        }) else { return nil }
        let (entries, followUps) = result
        var deadline: Int64?
        if changedFrom != nil || refreshDeadline || rule.expression.dependsOnTime {
            deadline = self.deadline(rule, watched.instances[slot: slot], context)
            if watched.deadlines[rule.id] != deadline { watched.deadlines[rule.id] = deadline }
        }
        return Outcome(changedFrom: changedFrom, entries: entries, followUps: followUps, deadline: deadline)
    }

    /// The reminders and escalation steps due for an alarm awaiting acknowledgement. The router is
    /// asked only when one is due or its policies changed.
    private func followUps(_ rule: AlarmRule, _ instance: inout RuleInstance, on key: MachineKey, now: Int64) -> [OutboxEntry] {
        guard let router, instance.alarm.awaitsAcknowledgement, let activation = instance.alarm.activeSince else { return [] }
        var progress = instance.followUps.flatMap { $0.activation == activation ? $0 : nil } ?? FollowUpProgress(activation: activation)
        guard progress.revision != router.revision || (progress.due ?? .max) <= now else { return [] }
        let entries = router.followUps(StandingAlarm(tenant: key.tenant, rule: rule, machine: key.machine, alarm: instance.alarm),
                                       progress: &progress, now: now)
        instance.followUps = progress
        return entries
    }

    /// The instance's next deadline, its next follow-up included.
    private func deadline(_ rule: AlarmRule, _ instance: RuleInstance, _ context: EvaluationContext) -> Int64? {
        let own = instance.nextDeadline(rule, context)
        guard instance.alarm.awaitsAcknowledgement, let due = instance.followUps?.due else { return own }
        return min(own ?? .max, due)
    }

    private func queue(_ followUps: [OutboxEntry], in state: inout State) {
        state.deliveries += followUps
        changes.signal()
    }

    /// Runs `body` on a value in place (one dictionary look-up for all it does).
    private func modify<Value, Result>(_ value: inout Value, _ body: (inout Value) -> Result) -> Result { body(&value) }

    private func rearm(_ id: String, on key: MachineKey, in state: inout State) {
        guard let rule = state.rules[key.tenant]?[id], let instance = state.machines[key]?.instances[id] else { return }
        let deadline = deadline(rule, instance, context(state.machines[key]!))
        state.machines[key]!.deadlines[id] = deadline
        if let deadline { state.earliestDeadline = min(state.earliestDeadline, deadline) }
    }

    /// Rebuilds a tenant's index of the rules reading each tag.
    private func index(_ tenant: TenantID, in state: inout State) {
        var readers: [String: [RuleReader]] = [:]
        for rule in (state.rules[tenant] ?? [:]).values {
            let reader = RuleReader(rule)
            for tag in rule.expression.tags { readers[tag, default: []].append(reader) }
        }
        state.readers[tenant] = readers
        let tags = state.rules[tenant]?.isEmpty == false ? Set(readers.keys).union([Condition.stateTag]) : nil
        tagsReadByTenant.withLock { $0[tenant] = tags }
    }

    private func record(_ entries: [AlarmTransition], rule: AlarmRule, key: InstanceKey, in state: inout State) {
        if !entries.isEmpty {
            changes.signal()
            revisions.add(1, ordering: .releasing)
        }
        for entry in entries {
            state.journal.append(AlarmJournalEntry(
                tenant: key.tenant, time: entry.time, rule: rule.id, machine: key.machine.description, kind: entry.kind.rawValue,
                fromState: entry.from.rawValue, toState: entry.to.rawValue, severity: entry.severity.rawValue, value: entry.value,
                actor: entry.actor, comment: entry.comment))
            if entry.notify, let router {
                state.deliveries += router.route(AlarmNotice(tenant: key.tenant, rule: rule, machine: key.machine, transition: entry))
            }
            if entry.notify {
                logger.notice("alarm \(entry.kind.rawValue)", metadata: [
                    "alarm.rule": "\(rule.id)", "alarm.machine": "\(key.machine)", "alarm.severity": "\(entry.severity.rawValue)",
                    "alarm.state": "\(entry.to.rawValue)", "alarm.value": "\(entry.value.map { "\($0)" } ?? "")",
                ])
            }
        }
    }
}
