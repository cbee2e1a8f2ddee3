public import GembaCore

/// One anomaly event of a detector on a machine, with the label people gave it.
public struct StoredDetectorEvent: Hashable, Sendable {
    /// Assigned by the store; 0 before it is stored.
    public var id: Int64
    public var tenant: TenantID
    public var detector: String
    public var machine: String
    /// The tag the detector watches.
    public var tag: String
    /// First and last score over the threshold (ms since the epoch).
    public var start: Int64
    public var last: Int64
    public var peak: Double
    public var peakTime: Int64
    /// False while more scores may still join the event.
    public var closed: Bool
    /// `true_positive` or `false_positive`; nil until someone says.
    public var label: String?
    public var labelledBy: String?
    public var labelledAt: Int64?
    public var note: String?
    /// The work order proposed from the event.
    public var workOrder: String?
    /// A multivariate detector's explanation: each signal's share of the score at the peak, as a
    /// JSON array of `{"signal", "share"}`.
    public var contributions: String?

    public init(id: Int64 = 0, tenant: TenantID, detector: String, machine: String, tag: String, start: Int64, last: Int64, peak: Double,
                peakTime: Int64, closed: Bool = false, label: String? = nil, labelledBy: String? = nil, labelledAt: Int64? = nil,
                note: String? = nil, workOrder: String? = nil, contributions: String? = nil) {
        self.id = id
        self.tenant = tenant
        self.detector = detector
        self.machine = machine
        self.tag = tag
        self.start = start
        self.last = last
        self.peak = peak
        self.peakTime = peakTime
        self.closed = closed
        self.label = label
        self.labelledBy = labelledBy
        self.labelledAt = labelledAt
        self.note = note
        self.workOrder = workOrder
        self.contributions = contributions
    }
}

/// Which detector events a list wants.
public struct DetectorEventQuery: Hashable, Sendable {
    public var tenant: TenantID
    public var detector: String?
    /// A machine path, or a site/area/line prefix.
    public var scope: String?
    /// Events starting in this range.
    public var range: Range<Int64>
    public var limit: Int

    public init(tenant: TenantID, detector: String? = nil, scope: String? = nil, range: Range<Int64>, limit: Int = 1000) {
        self.tenant = tenant
        self.detector = detector
        self.scope = scope
        self.range = range
        self.limit = limit
    }
}

/// Detector events and their labels.
public protocol DetectorEventStore: Sendable {
    /// In one transaction, stores events (each new, or, when one of its detector on its machine
    /// with its start exists, updating its last score, peak and closing) and answers their ids in order.
    func recordEvents(_ events: [StoredDetectorEvent]) async throws -> [Int64]
    /// Notes the work order proposed from an event.
    func linkEvent(tenant: TenantID, id: Int64, workOrder: String) async throws
    func detectorEvent(tenant: TenantID, id: Int64) async throws -> StoredDetectorEvent?
    /// Newest first.
    func detectorEvents(_ query: DetectorEventQuery) async throws -> [StoredDetectorEvent]
    /// Sets (or, with nil, clears) an event's label; false when there is no such event.
    func labelEvent(tenant: TenantID, id: Int64, label: String?, by: String, at: Int64, note: String?) async throws -> Bool
}
