import GembaServer
import ServiceLifecycle

/// One concern of `gemba serve`, self-contained: it declares its own settings (an options group of
/// flags, with the `GEMBA_*` variables and config keys behind them) and validates them in a static
/// `resolve` with a clear message, before any capability opens anything; then, made from what
/// `resolve` returned, it contributes its services in start order, its endpoints and what it adds
/// to the routes' shared context. `Serve` composes the capabilities in one list; adding one
/// is a file here and a line there.
protocol Capability {
    /// Long-running work. The group starts the capabilities' services in list order and stops
    /// them in reverse, so storage (first) stops last, after everything that writes into it.
    var services: [any Service] { get }
    /// The endpoints it serves.
    var endpoints: [EndpointGroup] { get }
    /// What it adds to the context every route works with (its engine, a readiness check).
    func configure(_ server: inout ServerContext)
}

extension Capability {
    var services: [any Service] { [] }
    var endpoints: [EndpointGroup] { [] }
    func configure(_ server: inout ServerContext) {}
}
