/// What describes a Bytes or File metric (3.0 § 6.4.7).
public struct SparkplugMetaData: Sendable, Hashable {
    public var isMultiPart: Bool?
    public var contentType: String?
    public var size: UInt64?
    public var seq: UInt64?
    public var fileName: String?
    public var fileType: String?
    public var md5: String?
    public var description: String?

    public init() {}

    init(_ proto: Org_Eclipse_Tahu_Protobuf_Payload.MetaData) {
        isMultiPart = proto.hasIsMultiPart ? proto.isMultiPart : nil
        contentType = proto.hasContentType ? proto.contentType : nil
        size = proto.hasSize ? proto.size : nil
        seq = proto.hasSeq ? proto.seq : nil
        fileName = proto.hasFileName ? proto.fileName : nil
        fileType = proto.hasFileType ? proto.fileType : nil
        md5 = proto.hasMd5 ? proto.md5 : nil
        description = proto.hasDescription_p ? proto.description_p : nil
    }

    var proto: Org_Eclipse_Tahu_Protobuf_Payload.MetaData {
        var proto = Org_Eclipse_Tahu_Protobuf_Payload.MetaData()
        if let isMultiPart { proto.isMultiPart = isMultiPart }
        if let contentType { proto.contentType = contentType }
        if let size { proto.size = size }
        if let seq { proto.seq = seq }
        if let fileName { proto.fileName = fileName }
        if let fileType { proto.fileType = fileType }
        if let md5 { proto.md5 = md5 }
        if let description { proto.description_p = description }
        return proto
    }
}

/// Holds a metric's metadata out of line.
final class MetaDataBox: Sendable {
    let value: SparkplugMetaData

    init(_ value: SparkplugMetaData) { self.value = value }
}
