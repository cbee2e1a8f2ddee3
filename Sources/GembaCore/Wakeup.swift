internal import Synchronization

/// Wakes one waiting loop early: a producer signals that work is waiting, the consumer sleeps until
/// signalled or until its interval passes, whichever is first. Signals while nobody waits are kept (one).
public final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    /// Wakes the waiter now, or the next one to wait.
    public func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when signalled, after `interval`, or when the task is cancelled.
    public func wait(upTo interval: Duration) async {
        // Cancellation (shutdown) wakes the waiter too, so a loop around this ends.
        await withTaskCancellationHandler { await waitInGroup(upTo: interval) } onCancel: { signal() }
    }

    private func waitInGroup(upTo interval: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.state.withLock { state -> Bool in
                        if state.pending {
                            state.pending = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask {
                // Cancelled: the waiter was signalled and needs no second wake-up (a rare spare one is harmless).
                if (try? await Task.sleep(for: interval)) != nil { self.signal() }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
