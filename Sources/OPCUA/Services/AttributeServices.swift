/// Attribute ids (Part 6 §A.1) the client reads.
public enum AttributeId: UInt32, Sendable, Hashable {
    case nodeId = 1, nodeClass = 2, browseName = 3, displayName = 4, description = 5
    case value = 13, dataType = 14, valueRank = 15, accessLevel = 17, userAccessLevel = 18
}

/// Node classes (Part 3 §8.29), as a bit each for browse masks.
public enum NodeClass: Int32, Sendable, Hashable, CustomStringConvertible {
    case unspecified = 0, object = 1, variable = 2, method = 4, objectType = 8, variableType = 16, referenceType = 32, dataType = 64, view = 128

    public var description: String {
        switch self {
        case .unspecified: "Unspecified"
        case .object: "Object"
        case .variable: "Variable"
        case .method: "Method"
        case .objectType: "ObjectType"
        case .variableType: "VariableType"
        case .referenceType: "ReferenceType"
        case .dataType: "DataType"
        case .view: "View"
        }
    }
}

/// Well-known nodes of namespace 0 (Part 6, NodeIds.csv).
public enum WellKnownNode {
    public static let objectsFolder = NodeId(85)
    public static let hierarchicalReferences = NodeId(33)
    public static let hasTypeDefinition = NodeId(40)
    public static let serverStatusState = NodeId(2259)
    public static let maxNodesPerRead = NodeId(11705)
    public static let maxNodesPerWrite = NodeId(11707)
    public static let maxNodesPerBrowse = NodeId(11710)
    public static let maxNodesPerTranslateBrowsePaths = NodeId(11712)
    public static let maxMonitoredItemsPerCall = NodeId(11714)
}

/// One node and attribute to read (Part 4 §7.29).
public struct ReadValueId: Sendable, Hashable, UAEncodable {
    public var nodeId: NodeId
    public var attribute: AttributeId

    public init(_ nodeId: NodeId, _ attribute: AttributeId = .value) {
        self.nodeId = nodeId
        self.attribute = attribute
    }

    public func encode(to writer: inout UAWriter) {
        nodeId.encode(to: &writer)
        writer.uint32(attribute.rawValue)
        writer.string(nil)  // index range
        writer.uint16(0)  // data encoding: the default (a null QualifiedName)
        writer.string(nil)
    }
}

/// Which times a read or a subscription returns (Part 4 §7.40).
public enum TimestampsToReturn: Int32, Sendable { case source = 0, server = 1, both = 2, neither = 3 }

/// Read (Part 4 §5.10.2).
public struct ReadRequest: ServiceRequest {
    public static let encodingId: UInt32 = 631
    public var nodes: [ReadValueId]
    public var timestamps: TimestampsToReturn = .both

    public init(_ nodes: [ReadValueId]) { self.nodes = nodes }

    public func encodeBody(to writer: inout UAWriter) {
        writer.double(0)  // max age: read the device now
        writer.int32(timestamps.rawValue)
        writer.array(nodes)
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 634
        public var results: [DataValue]

        public init(body reader: inout UAReader) throws(UADecodingError) {
            results = try reader.array(of: DataValue.self)
            _ = try reader.array(of: DiagnosticInfo.self)
        }
    }
}

/// Write (Part 4 §5.10.4): values to the Value attribute.
public struct WriteRequest: ServiceRequest {
    public static let encodingId: UInt32 = 673
    public var values: [(NodeId, DataValue)]

    public init(_ values: [(NodeId, DataValue)]) { self.values = values }

    public func encodeBody(to writer: inout UAWriter) {
        writer.array(values) { writer, entry in
            entry.0.encode(to: &writer)
            writer.uint32(AttributeId.value.rawValue)
            writer.string(nil)
            entry.1.encode(to: &writer)
        }
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 676
        public var results: [StatusCode]

        public init(body reader: inout UAReader) throws(UADecodingError) {
            results = try reader.array(of: StatusCode.self)
            _ = try reader.array(of: DiagnosticInfo.self)
        }
    }
}

/// A reference found by Browse (Part 4 §7.30).
public struct ReferenceDescription: Sendable, Hashable, UADecodable {
    public var referenceTypeId: NodeId
    public var isForward: Bool
    public var nodeId: ExpandedNodeId
    public var browseName: QualifiedName
    public var displayName: LocalizedText
    public var nodeClass: NodeClass
    public var typeDefinition: ExpandedNodeId

    public init(from reader: inout UAReader) throws(UADecodingError) {
        referenceTypeId = try NodeId(from: &reader)
        isForward = try reader.boolean()
        nodeId = try ExpandedNodeId(from: &reader)
        browseName = try QualifiedName(from: &reader)
        displayName = try LocalizedText(from: &reader)
        nodeClass = NodeClass(rawValue: try reader.int32()) ?? .unspecified
        typeDefinition = try ExpandedNodeId(from: &reader)
    }
}

/// The references of one browsed node, and where to go on if there are more (Part 4 §7.6).
public struct BrowseResult: Sendable, Hashable, UADecodable {
    public var status: StatusCode
    public var continuationPoint: [UInt8]?
    public var references: [ReferenceDescription]

    public init(from reader: inout UAReader) throws(UADecodingError) {
        status = try StatusCode(from: &reader)
        continuationPoint = try reader.byteString()
        references = try reader.array(of: ReferenceDescription.self)
    }
}

/// Browse (Part 4 §5.8.2): forward hierarchical references of each node, all attributes of the result.
public struct BrowseRequest: ServiceRequest {
    public static let encodingId: UInt32 = 527
    public var nodes: [NodeId]
    public var maxReferencesPerNode: UInt32

    public init(_ nodes: [NodeId], maxReferencesPerNode: UInt32 = 1_000) {
        self.nodes = nodes
        self.maxReferencesPerNode = maxReferencesPerNode
    }

    public func encodeBody(to writer: inout UAWriter) {
        NodeId.null.encode(to: &writer)  // view: the whole address space
        UADateTime(ticks: 0).encode(to: &writer)
        writer.uint32(0)
        writer.uint32(maxReferencesPerNode)
        writer.array(nodes) { writer, node in
            node.encode(to: &writer)
            writer.int32(0)  // forward
            WellKnownNode.hierarchicalReferences.encode(to: &writer)
            writer.boolean(true)  // include subtypes
            writer.uint32(0)  // every node class
            writer.uint32(0x3F)  // every field of the result
        }
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 530
        public var results: [BrowseResult]

        public init(body reader: inout UAReader) throws(UADecodingError) {
            results = try reader.array(of: BrowseResult.self)
            _ = try reader.array(of: DiagnosticInfo.self)
        }
    }
}

/// BrowseNext (Part 4 §5.8.3).
public struct BrowseNextRequest: ServiceRequest {
    public static let encodingId: UInt32 = 533
    public var continuationPoints: [[UInt8]]
    public var release: Bool

    public init(continuationPoints: [[UInt8]], release: Bool) {
        self.continuationPoints = continuationPoints
        self.release = release
    }

    public func encodeBody(to writer: inout UAWriter) {
        writer.boolean(release)
        writer.array(continuationPoints) { $0.byteString($1) }
    }

    public typealias Response = BrowseRequest.Response
}

/// TranslateBrowsePathsToNodeIds (Part 4 §5.8.4): browse names followed from a node along
/// hierarchical references.
public struct TranslateBrowsePathsRequest: ServiceRequest {
    public static let encodingId: UInt32 = 554
    public var paths: [(start: NodeId, names: [QualifiedName])]

    public init(_ paths: [(start: NodeId, names: [QualifiedName])]) { self.paths = paths }

    public func encodeBody(to writer: inout UAWriter) {
        writer.array(paths) { writer, path in
            path.start.encode(to: &writer)
            writer.array(path.names) { writer, name in
                WellKnownNode.hierarchicalReferences.encode(to: &writer)
                writer.boolean(false)  // not inverse
                writer.boolean(true)  // include subtypes
                name.encode(to: &writer)
            }
        }
    }

    public struct Response: ServiceResponse {
        public static let encodingId: UInt32 = 557
        /// Per path: its status and the nodes it leads to.
        public var results: [(status: StatusCode, targets: [ExpandedNodeId])]

        public init(body reader: inout UAReader) throws(UADecodingError) {
            results = try reader.array { (reader: inout UAReader) throws(UADecodingError) in
                let status = try StatusCode(from: &reader)
                let targets = try reader.array { (reader: inout UAReader) throws(UADecodingError) in
                    let target = try ExpandedNodeId(from: &reader)
                    _ = try reader.uint32()  // remaining path index
                    return target
                }
                return (status, targets)
            }
            _ = try reader.array(of: DiagnosticInfo.self)
        }
    }
}
