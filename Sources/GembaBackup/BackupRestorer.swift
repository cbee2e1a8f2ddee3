internal import Foundation

/// Checks and restores a backup written by ``BackupMaker``.
///
/// The manifest is read and judged first (``BackupManifest/checkRestorable(by:runningVersion:)``),
/// so an incompatible backup is refused before anything is written. Files are extracted into a
/// staging directory beside the target, each checked against its SHA-256 as it streams; only when
/// every file is present and intact does the staging directory become the data directory.
public struct BackupRestorer: Sendable {
    public let layout: DataDirectoryLayout
    public let runningVersion: String
    /// The largest manifest read (a guard against a huge first entry).
    static let manifestLimit = 4 << 20

    public init(layout: DataDirectoryLayout, runningVersion: String) {
        self.layout = layout
        self.runningVersion = runningVersion
    }

    /// Reads the whole archive and checks every file, writing nothing.
    public func verify(archive: String) throws -> BackupManifest {
        try read(archive: archive, extractingInto: nil)
    }

    /// Restores into `directory`, which must not exist or be empty.
    @discardableResult
    public func restore(archive: String, into directory: String) throws -> BackupManifest {
        let fileManager = FileManager.default
        let target = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        var isDirectory: ObjCBool = false
        let exists = fileManager.fileExists(atPath: target, isDirectory: &isDirectory)
        if exists {
            guard isDirectory.boolValue, (try? fileManager.contentsOfDirectory(atPath: target))?.isEmpty == true else {
                throw BackupError.targetNotEmpty(target)
            }
        }
        let staging = target + ".restoring-\(ProcessInfo.processInfo.processIdentifier)"
        try? fileManager.removeItem(atPath: staging)
        try fileManager.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let manifest = try read(archive: archive, extractingInto: staging)
            if exists { try fileManager.removeItem(atPath: target) }
            try fileManager.moveItem(atPath: staging, toPath: target)
            return manifest
        } catch {
            try? fileManager.removeItem(atPath: staging)
            throw error
        }
    }

    private func read(archive: String, extractingInto staging: String?) throws -> BackupManifest {
        guard let handle = FileHandle(forReadingAtPath: archive) else { throw BackupError.unreadable(archive) }
        defer { try? handle.close() }
        let reader = TarReader(handle: handle)
        let manifest = try readManifest(reader)
        try manifest.checkRestorable(by: layout, runningVersion: runningVersion)
        var expected = Dictionary(uniqueKeysWithValues: manifest.files.map { ($0.path, $0) })
        while let header = try reader.next() {
            guard let file = expected.removeValue(forKey: header.name) else { throw BackupError.unexpectedFile(header.name) }
            let sink = try staging.map { try create(file.path, in: $0) }
            let digest: FileDigest
            do {
                defer { try? sink?.close() }
                digest = try reader.readContents(into: sink)
                try sink?.synchronize()
            }
            guard digest == file.digest else { throw BackupError.checksumMismatch(file.path) }
        }
        if let missing = manifest.files.first(where: { expected[$0.path] != nil }) { throw BackupError.missingFile(missing.path) }
        return manifest
    }

    private func readManifest(_ reader: TarReader) throws -> BackupManifest {
        guard let first = try reader.next() else { throw BackupError.notABackup("the archive is empty") }
        guard first.name == BackupManifest.entryName else {
            throw BackupError.notABackup("its first entry is \(first.name), not \(BackupManifest.entryName)")
        }
        let data = try reader.readData(limit: Self.manifestLimit)
        do {
            return try JSONDecoder().decode(BackupManifest.self, from: data)
        } catch {
            throw BackupError.notABackup("its manifest does not parse (\(error))")
        }
    }

    /// A new file at `path` under `staging` (its directories made), with a key's mode kept to 0600.
    private func create(_ path: String, in staging: String) throws -> FileHandle {
        let fileManager = FileManager.default
        let destination = join(staging, path)
        try fileManager.createDirectory(atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let mode = layout.item(path)?.isSecret == true ? 0o600 : 0o644
        guard fileManager.createFile(atPath: destination, contents: nil, attributes: [.posixPermissions: mode]),
              let handle = FileHandle(forWritingAtPath: destination) else { throw BackupError.unwritable(destination) }
        return handle
    }
}
