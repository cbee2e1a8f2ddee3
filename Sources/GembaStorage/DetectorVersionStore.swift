public import GembaCore
public import Foundation

/// A detector version as stored: the maintenance module's JSON document, with the columns queries need.
public struct StoredDetectorVersion: Hashable, Sendable {
    public var tenant: TenantID
    public var detector: String
    public var version: Int
    public var status: String
    public var document: String

    public init(tenant: TenantID, detector: String, version: Int, status: String, document: String) {
        self.tenant = tenant
        self.detector = detector
        self.version = version
        self.status = status
        self.document = document
    }
}

/// The detector registry: every version of every detector, and the models trained for them.
public protocol DetectorVersionStore: Sendable {
    /// In one transaction, numbers a new version of `detector` (one more than its highest) and stores what `make` builds for it.
    func createDetectorVersion(tenant: TenantID, detector: String,
                               make: @escaping @Sendable (Int) throws -> StoredDetectorVersion) async throws -> StoredDetectorVersion
    /// The versions of one tenant's detector (all its detectors when nil; every tenant's when
    /// `tenant` is nil), by tenant, detector and version.
    func detectorVersions(tenant: TenantID?, detector: String?) async throws -> [StoredDetectorVersion]
    /// Replaces the stored versions in one transaction, with `model` stored for the first when given.
    func saveDetectorVersions(_ versions: [StoredDetectorVersion], model: Data?) async throws
    /// The model trained for a version; nil when it has none.
    func detectorModel(tenant: TenantID, detector: String, version: Int) async throws -> Data?
}
