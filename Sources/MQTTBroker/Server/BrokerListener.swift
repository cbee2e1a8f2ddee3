import CEpoll
import Glibc
import Logging
import NIOCore

/// A listening TCP socket on the ``BrokerLoop``: accepts connections and hands each to a new
/// ``BrokerConnection``.
final class BrokerListener: LoopSource {
    /// Connections accepted per wake-up at most, so that a connection storm does not starve the rest.
    private static let acceptsPerWakeup = 256

    private let runtime: BrokerRuntime
    private var socket: Int32
    /// The port bound (the one asked for, or the one the kernel picked for 0).
    let port: Int
    private var lastLimitLogged: NIODeadline?

    /// Binds `host:port` (a name is resolved) and listens; the loop starts accepting at ``start()``.
    /// Throws `IOError` when the address cannot be bound (`EADDRINUSE` when it is taken).
    init(host: String, port: Int, runtime: BrokerRuntime) throws {
        let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let family = address.protocol.rawValue
        let socket = Glibc.socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socket >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        do {
            var one: Int32 = 1
            setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let bound = address.withSockAddr { Glibc.bind(socket, $0, socklen_t($1)) }
            guard bound == 0 else { throw IOError(errnoCode: errno, reason: "bind") }
            guard listen(socket, 1024) == 0 else { throw IOError(errnoCode: errno, reason: "listen") }
            self.port = try Self.localPort(of: socket)
        } catch {
            Glibc.close(socket)
            throw error
        }
        self.socket = socket
        self.runtime = runtime
    }

    /// Starts accepting; on the loop.
    func start() {
        runtime.loop.watch(socket, events: EPOLLIN.rawValue, self)
    }

    /// Stops accepting and closes the socket; on the loop.
    func stop() {
        guard socket >= 0 else { return }
        runtime.loop.forget(socket)
        Glibc.close(socket)
        socket = -1
    }

    func ready(_ events: UInt32) {
        var one: Int32 = 1
        for _ in 0..<Self.acceptsPerWakeup {
            let client = cepoll_accept(socket)
            guard client >= 0 else { return acceptFailed(errno) }
            setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            _ = BrokerConnection(socket: client, runtime: runtime)
        }
    }

    /// Out of descriptors: stops accepting for 100 ms (the pending connections wait in the backlog)
    /// and says so at most once a minute. Other failures concern the one connection and are skipped.
    private func acceptFailed(_ code: Int32) {
        guard code == EMFILE || code == ENFILE else { return }
        let now = NIODeadline.now()
        if lastLimitLogged.map({ now - $0 >= .minutes(1) }) ?? true {
            lastLimitLogged = now
            runtime.logger.error("the MQTT broker is out of file descriptors; new connections wait (raise the process's open-files limit)")
        }
        runtime.loop.change(socket, events: 0)
        let loopBound = NIOLoopBound(self, eventLoop: runtime.loop)
        _ = runtime.loop.scheduleTask(in: .milliseconds(100)) {
            let listener = loopBound.value
            if listener.socket >= 0 { listener.runtime.loop.change(listener.socket, events: EPOLLIN.rawValue) }
        }
    }

    private static func localPort(of socket: Int32) throws -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let found = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) == 0 }
        }
        guard found else { throw IOError(errnoCode: errno, reason: "getsockname") }
        return withUnsafeBytes(of: &storage) { raw in
            Int(UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)))  // sin_port and sin6_port sit at offset 2
        }
    }
}
