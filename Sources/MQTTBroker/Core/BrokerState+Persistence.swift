import MQTTCodec

/// Saving and restoring what outlives a restart: retained messages and persistent sessions
/// (expiry > 0) with their subscriptions, wills, queued and in-flight messages. Sessions that end
/// at disconnect and QoS 0 messages are never saved.
extension BrokerState {
    /// The saved form of everything changed since the last call, and forgets the changes.
    public mutating func takeChanges() -> BrokerDelta {
        guard tracksChanges, !changes.isEmpty else { return BrokerDelta() }
        let taken = changes
        changes = PersistenceChanges()
        var delta = BrokerDelta()
        delta.retained = taken.retained.map { ($0, retained[$0]) }
        delta.endedSessions = Array(taken.endedSessions)
        delta.sessions = taken.sessions.map { ($0, sessionRecord($0)) }
        delta.messages = taken.messages.map { ($0, messageRecord($0)) }
        return delta
    }

    /// Marks what a failed save held as changed again, so the next save retries it.
    public mutating func saveFailed(_ delta: BrokerDelta) {
        guard tracksChanges else { return }
        changes.retained.formUnion(delta.retained.map(\.topic))
        changes.endedSessions.formUnion(delta.endedSessions)
        changes.sessions.formUnion(delta.sessions.map(\.clientID))
        changes.messages.formUnion(delta.messages.map(\.key))
    }

    private func sessionRecord(_ clientID: String) -> SessionRecord? {
        guard let session = sessions[clientID], session.expiryInterval > 0 else { return nil }
        var will: WillRecord?
        if let connection = session.connection.flatMap({ connections[$0] }) {
            will = connection.will.map { WillRecord(will: $0, fireAt: nil) }
        } else if let pending = pendingWills[clientID] {
            will = WillRecord(will: pending.will, fireAt: pending.fireAt)
        }
        return SessionRecord(
            clientID: clientID, principal: session.principal, expiryInterval: session.expiryInterval,
            disconnectedAt: session.disconnectedAt,
            subscriptions: session.subscriptions.mapValues {
                SubscriptionRecord(options: $0.options, identifier: $0.identifier, excluded: $0.excluded)
            },
            will: will, inboundQoS2: session.inboundQoS2.sorted())
    }

    private func messageRecord(_ key: SessionMessageKey) -> SessionMessageRecord? {
        guard let session = sessions[key.clientID], session.expiryInterval > 0 else { return nil }
        if let (packetID, inflight) = session.inflight.first(where: { $0.value.sequence == key.sequence }) {
            let stage: SessionMessageRecord.Stage = switch inflight.stage {
            case .awaitingPuback: .awaitingPuback
            case .awaitingPubrec: .awaitingPubrec
            case .awaitingPubcomp: .awaitingPubcomp
            }
            return SessionMessageRecord(clientID: key.clientID, sequence: key.sequence, message: inflight.message,
                                        qos: inflight.qos, retain: inflight.retain, subscriptionIDs: inflight.subscriptionIDs,
                                        stage: stage, packetID: packetID)
        }
        // The queue is in sequence order.
        let queue = session.queue
        var low = queue.startIndex, high = queue.endIndex
        while low < high {
            let middle = (low + high) / 2
            if queue[middle].sequence < key.sequence { low = middle + 1 } else { high = middle }
        }
        guard low < queue.endIndex, queue[low].sequence == key.sequence else { return nil }
        let queued = queue[low]
        return SessionMessageRecord(clientID: key.clientID, sequence: key.sequence, message: queued.message, qos: queued.qos,
                                    retain: queued.retain, subscriptionIDs: queued.subscriptionIDs, stage: .queued, packetID: nil)
    }

    /// Takes up what was saved. A session whose client was connected counts as disconnected
    /// `now`, so its will is published (or its delay starts) as after a network failure.
    public mutating func restore(_ image: BrokerImage, now: Int64) {
        for message in image.retained where !message.isExpired(at: now) {
            retained[message.topic] = message
            retainedIndex.insert(message.topic)
        }
        for record in image.sessions {
            var session = Session(clientID: record.clientID, principal: record.principal, expiryInterval: record.expiryInterval)
            session.disconnectedAt = record.disconnectedAt ?? now
            session.inboundQoS2 = Set(record.inboundQoS2)
            for (filter, subscription) in record.subscriptions {
                let entry = SubscriptionEntry(options: subscription.options, identifier: subscription.identifier,
                                              excluded: subscription.excluded)
                session.subscriptions[filter] = entry
                subscriptions.insert(filter: filter, clientID: record.clientID, entry: entry)
            }
            if let will = record.will {
                let delay = Int64(min(will.will.properties.willDelayInterval ?? 0, record.expiryInterval))
                pendingWills[record.clientID] = PendingWill(will: will.will, principal: record.principal,
                                                            fireAt: will.fireAt ?? now + delay * 1000)
            }
            sessions[record.clientID] = session
        }
        for record in image.messages {
            guard sessions[record.clientID] != nil else { continue }
            nextSequence = max(nextSequence, record.sequence + 1)
            if let packetID = record.packetID, record.stage != .queued {
                let stage: InflightMessage.Stage = switch record.stage {
                case .awaitingPubrec: .awaitingPubrec
                case .awaitingPubcomp: .awaitingPubcomp
                default: .awaitingPuback
                }
                sessions[record.clientID]!.addInflight(packetID, InflightMessage(
                    sequence: record.sequence, message: record.message, qos: record.qos, retain: record.retain,
                    subscriptionIDs: record.subscriptionIDs, stage: stage))
            } else {
                sessions[record.clientID]!.queue.append(QueuedMessage(
                    sequence: record.sequence, message: record.message, qos: record.qos, retain: record.retain,
                    subscriptionIDs: record.subscriptionIDs))
            }
        }
    }
}
