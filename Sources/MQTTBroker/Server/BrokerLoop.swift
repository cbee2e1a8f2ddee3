import CEpoll
import DequeModule
import Dispatch
import Foundation
import Glibc
import NIOCore
import Synchronization

/// A descriptor the ``BrokerLoop`` watches: told on the loop's thread when it is ready.
protocol LoopSource: AnyObject {
    /// The descriptor is ready; `events` is epoll's mask (`EPOLLIN`, `EPOLLOUT`, `EPOLLERR`, `EPOLLHUP`).
    func ready(_ events: UInt32)
}

/// The broker's own event loop: one thread around `epoll_wait`, serving the broker's sockets
/// directly, without SwiftNIO's channels and pipelines.
///
/// A device that sends a message now and then costs a read, a route and a write each time; the
/// channel machinery around each read and write was about half of the broker's user time under a
/// plant's load (BENCHMARKS.md, sessions 29 and 30). So the broker's plain-TCP connections are served here, and everything else about
/// the loop is what SwiftNIO's `EventLoop` promises: the loop conforms to it, so futures, promises,
/// `submit`, scheduled and repeated tasks and `NIOThreadPool` hand-offs work as on any NIO loop.
///
/// Tasks run after the ready descriptors of each iteration, in order. ``pausePolling(for:)`` makes the
/// loop wait before it polls its descriptors again (see ``ReadCoalescer``); tasks still run meanwhile.
final class BrokerLoop: EventLoop, @unchecked Sendable {  // loop-confined state is touched on its thread only
    private let poller: Int32
    private let wakeup: Int32
    /// What other threads hand the loop: tasks, timers, and whether the loop was already woken.
    private let shared = Mutex(Shared())
    private let loopThread = Atomic<UInt>(0)

    private struct Shared {
        var tasks: Deque<@Sendable () -> Void> = []
        var timers: [Timer] = []
        var nextTimer = 0
        var woken = false
        var stopping = false
    }

    private struct Timer {
        let id: Int
        let deadline: NIODeadline
        let run: @Sendable () -> Void
        /// Fails the timer's promise when the loop stops before it is due.
        let abandon: @Sendable () -> Void
    }

    // Loop-confined.
    private var sources: [(any LoopSource)?] = []
    private var localTasks: Deque<() -> Void> = []
    private var pausedUntil: NIODeadline?
    /// One read's bytes, shared by every connection (each read copies out what it got).
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)

    /// Starts the loop's thread, named `name` (at most 15 characters are kept).
    init(name: String = "gemba-mqtt") {
        poller = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeup = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        precondition(poller >= 0 && wakeup >= 0, "the broker's loop cannot create its epoll or eventfd descriptor")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeup
        epoll_ctl(poller, EPOLL_CTL_ADD, wakeup, &event)
        Thread { [self] in
            cepoll_name_thread(name)
            run()
        }.start()
    }

    deinit {
        Glibc.close(poller)
        Glibc.close(wakeup)
        readBuffer.deallocate()
    }

    // MARK: EventLoop

    var inEventLoop: Bool { loopThread.load(ordering: .relaxed) == UInt(pthread_self()) }

    func execute(_ task: @escaping @Sendable () -> Void) {
        if inEventLoop {
            localTasks.append(task)
            return
        }
        let wake = shared.withLock { shared in
            shared.tasks.append(task)
            defer { shared.woken = true }
            return !shared.woken
        }
        if wake { signalWakeup() }
    }

    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = makePromise(of: T.self)
        let id = shared.withLock { shared in
            shared.nextTimer += 1
            shared.timers.append(Timer(id: shared.nextTimer, deadline: deadline, run: {
                do { promise.assumeIsolated().succeed(try task()) } catch { promise.fail(error) }
            }, abandon: { promise.fail(EventLoopError.shutdown) }))
            return shared.nextTimer
        }
        if !inEventLoop { signalWakeup() }
        return Scheduled(promise: promise) { [self] in
            let removed = shared.withLock { shared in
                shared.timers.firstIndex { $0.id == id }.map { shared.timers.remove(at: $0) } != nil
            }
            if removed { promise.fail(EventLoopError.cancelled) }
        }
    }

    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable ((any Error)?) -> Void) {
        shared.withLock { $0.stopping = true }
        signalWakeup()
        queue.async { callback(nil) }
    }

    /// Stops the loop's thread once its queued tasks have run.
    func stop() {
        shutdownGracefully(queue: .global()) { _ in }
    }

    // MARK: Descriptors

    /// Watches `descriptor` for `events` and tells `source` when it is ready.
    func watch(_ descriptor: Int32, events: UInt32, _ source: any LoopSource) {
        let index = Int(descriptor)
        if index >= sources.count { sources.append(contentsOf: repeatElement(nil, count: max(index + 1, sources.count * 2) - sources.count)) }
        sources[index] = source
        control(EPOLL_CTL_ADD, descriptor, events)
    }

    /// Changes what `descriptor` is watched for.
    func change(_ descriptor: Int32, events: UInt32) {
        control(EPOLL_CTL_MOD, descriptor, events)
    }

    /// Stops watching `descriptor` (if it was watched); call it before closing the descriptor.
    func forget(_ descriptor: Int32) {
        guard Int(descriptor) < sources.count, sources[Int(descriptor)] != nil else { return }
        control(EPOLL_CTL_DEL, descriptor, 0)
        sources[Int(descriptor)] = nil
    }

    private func control(_ operation: Int32, _ descriptor: Int32, _ events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.fd = descriptor
        epoll_ctl(poller, operation, descriptor, &event)
    }

    /// Holds off polling the descriptors for `nanoseconds` after this iteration, so that what many
    /// sources send meanwhile is read in one iteration. Tasks and timers still run on time.
    func pausePolling(for nanoseconds: UInt64) {
        pausedUntil = .now() + .nanoseconds(Int64(clamping: nanoseconds))
    }

    // MARK: The loop

    private func signalWakeup() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeup, &one, 8)
    }

    private func run() {
        loopThread.store(UInt(pthread_self()), ordering: .relaxed)
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        while true {
            var woken = false
            if let until = pausedUntil, until > .now() {
                woken = waitForTasks(until: until)
            } else {
                pausedUntil = nil
                let ready = Int(epoll_wait(poller, &events, Int32(events.count), timeout()))
                for event in events.prefix(max(0, ready)) {
                    if event.data.fd == wakeup {
                        woken = true
                    } else {
                        sources[Int(event.data.fd)]?.ready(event.events)
                    }
                }
            }
            if woken {
                var count: UInt64 = 0
                _ = Glibc.read(wakeup, &count, 8)
            }
            if runDueWork() { break }
        }
        // What is left refers to the broker; letting go of it here ends the cycle through the loop.
        sources.removeAll()
        let abandoned = shared.withLock { shared in
            defer { shared.timers.removeAll() }
            return shared.timers
        }
        for timer in abandoned { timer.abandon() }
    }

    /// While polling is paused: sleeps on the wake-up descriptor alone, until the pause ends, a
    /// timer is due or another thread hands the loop a task. Returns whether it was woken.
    private func waitForTasks(until: NIODeadline) -> Bool {
        let pauseLeft = Int32(clamping: ((until - .now()).nanoseconds + 999_999) / 1_000_000)
        let wait = min(UInt32(bitPattern: pauseLeft), UInt32(bitPattern: timeout()))  // -1 (no timer) is the largest
        var wake = pollfd(fd: wakeup, events: Int16(POLLIN), revents: 0)
        guard wait > 0, Glibc.poll(&wake, 1, Int32(wait)) > 0 else { return false }
        return true
    }

    /// How long `epoll_wait` may sleep, in ms: not at all with tasks queued, until the next timer, or
    /// until woken.
    private func timeout() -> Int32 {
        guard localTasks.isEmpty else { return 0 }
        return shared.withLock { shared in
            if !shared.tasks.isEmpty || shared.stopping { return 0 }
            shared.woken = false
            guard let next = shared.timers.lazy.map(\.deadline).min() else { return -1 }
            let nanoseconds = next - .now()
            return Int32(clamping: max(0, (nanoseconds.nanoseconds + 999_999) / 1_000_000))
        }
    }

    /// Runs the due timers and the queued tasks; returns whether the loop should end.
    private func runDueWork() -> Bool {
        let now = NIODeadline.now()
        let (timers, tasks, stopping) = shared.withLock { shared in
            var due: [Timer] = []
            if shared.timers.contains(where: { $0.deadline <= now }) {
                due = shared.timers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
                shared.timers.removeAll { $0.deadline <= now }
            }
            var tasks: Deque<@Sendable () -> Void> = []
            if !shared.tasks.isEmpty { swap(&tasks, &shared.tasks) }
            return (due, tasks, shared.stopping)
        }
        for timer in timers { timer.run() }
        for task in tasks { task() }
        // Tasks the loop queued for itself, including those the tasks above queue; the rest wait
        // for the next iteration, so that descriptors are not starved.
        var budget = 4096
        while budget > 0, let task = localTasks.popFirst() {
            task()
            budget -= 1
        }
        return stopping && localTasks.isEmpty && shared.withLock { $0.tasks.isEmpty }
    }
}
