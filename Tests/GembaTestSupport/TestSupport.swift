import Foundation
public import MQTTClient
public import MQTTCodec
import NIOCore
import NIOPosix

/// Shared helpers for tests that talk over real sockets.
public enum TestSupport {
    /// Whether the run requires the real peers (set by scripts/test.sh), so a missing peer fails instead of skipping.
    public static let peersRequired = ProcessInfo.processInfo.environment["GEMBA_REQUIRE_PEERS"] == "1"

    public static func findExecutable(_ name: String) -> String? {
        for directory in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// A TCP port nothing listens on right now.
    public static func freePort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }

    /// How long a test waits for something that should happen before calling it lost. Swift Testing
    /// starts every test at once and the machine may have two cores, so a test's wall time is about
    /// the whole suite's (about 20 s here): a wait shorter than that fails a correct test that merely
    /// was not scheduled. It bounds "never", it measures nothing; a passing wait ends when its
    /// condition holds.
    public static let patience: Double = 90

    /// Polls `condition` until it holds or `seconds` pass.
    public static func eventually(_ seconds: Double = patience, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// The next message from `client`, or `nil` after `seconds`.
    public static func nextMessage(_ client: MQTTClient, within seconds: Double = patience) async -> Publish? {
        await MessageCollector.for(client).next(within: seconds)
    }
}

/// Reads a client's message stream once, for the whole test, so waiting with a timeout never cancels it
/// (cancelling an AsyncStream iterator finishes the stream). A waiter wakes as soon as a message arrives.
actor MessageCollector {
    private static let registry = Registry()
    private var buffered: [Publish] = []
    private var waiter: CheckedContinuation<Publish?, Never>?
    private var waiterID = 0

    final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        // Holds the clients too, so a freed client's address is never reused for a new one.
        private var collectors: [ObjectIdentifier: (MQTTClient, MessageCollector)] = [:]
        func collector(for client: MQTTClient) -> MessageCollector {
            lock.lock()
            defer { lock.unlock() }
            if let existing = collectors[ObjectIdentifier(client)] { return existing.1 }
            let collector = MessageCollector()
            collectors[ObjectIdentifier(client)] = (client, collector)
            Task { for await message in client.messages { await collector.arrived(message.publish) } }
            return collector
        }
    }

    static func `for`(_ client: MQTTClient) -> MessageCollector { registry.collector(for: client) }

    private func arrived(_ message: Publish) {
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: message)
        } else {
            buffered.append(message)
        }
    }

    /// The next message, or `nil` once `seconds` pass without one.
    func next(within seconds: Double) async -> Publish? {
        if !buffered.isEmpty { return buffered.removeFirst() }
        waiterID += 1
        let id = waiterID
        let deadline = Task {
            try await Task.sleep(for: .seconds(seconds))
            self.expire(id)
        }
        defer { deadline.cancel() }
        return await withCheckedContinuation { waiter = $0 }
    }

    private func expire(_ id: Int) {
        guard id == waiterID, let waiter else { return }
        self.waiter = nil
        waiter.resume(returning: nil)
    }
}

/// A child process started with posix_spawn and reaped with waitpid (Foundation's Process can spin on Linux).
public final class ChildProcess: @unchecked Sendable {
    private var pid: pid_t = 0

    public init(_ path: String, _ arguments: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // Dispatch worker threads block signals; without a reset the child would inherit that and ignore SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
    }

    /// Sends SIGTERM and waits for the process to exit.
    public func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
    }

    deinit { stop() }
}

/// A mosquitto broker process on a loopback port, started and stopped by a test.
public final class MosquittoProcess: @unchecked Sendable {
    public let port: Int
    private var process: ChildProcess?

    public init() throws {
        port = try TestSupport.freePort()
    }

    public static var available: Bool { TestSupport.findExecutable("mosquitto") != nil }

    public func start() async throws {
        guard let path = TestSupport.findExecutable("mosquitto") else { throw POSIXError(.ENOENT) }
        process = try ChildProcess(path, ["-p", "\(port)"])
        let port = self.port
        let up = try await TestSupport.eventually {
            (try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get().close().get()) != nil
        }
        if !up { throw POSIXError(.ETIMEDOUT) }
    }

    public func stop() {
        process?.stop()
        process = nil
    }

    deinit { stop() }
}
