import Foundation

/// An OPC UA node's identifier (Part 3 §8.2): a namespace index and a numeric, string, GUID or
/// opaque identifier. Written and parsed in the standard text form: `i=85`, `ns=2;s=Line1.Speed`,
/// `ns=1;g=…`, `ns=1;b=<base64>`.
public struct NodeId: Hashable, Sendable, CustomStringConvertible {
    public enum Identifier: Hashable, Sendable {
        case numeric(UInt32)
        case string(String)
        case guid(UAGuid)
        case opaque([UInt8])
    }

    public var namespace: UInt16
    public var identifier: Identifier

    public init(namespace: UInt16 = 0, _ identifier: Identifier) {
        self.namespace = namespace
        self.identifier = identifier
    }

    public init(_ numeric: UInt32, namespace: UInt16 = 0) { self.init(namespace: namespace, .numeric(numeric)) }

    public init(_ string: String, namespace: UInt16) { self.init(namespace: namespace, .string(string)) }

    /// The null node id (`i=0`).
    public static let null = NodeId(0)

    public var isNull: Bool { namespace == 0 && identifier == .numeric(0) }

    /// Parses the text form; nil when it is not one.
    public init?(parsing text: String) {
        var rest = Substring(text)
        var namespace: UInt16 = 0
        if rest.hasPrefix("ns=") {
            guard let semicolon = rest.firstIndex(of: ";"), let index = UInt16(rest[rest.index(rest.startIndex, offsetBy: 3)..<semicolon]) else {
                return nil
            }
            namespace = index
            rest = rest[rest.index(after: semicolon)...]
        }
        guard rest.count >= 2, rest.dropFirst().first == "=" else { return nil }
        let value = String(rest.dropFirst(2))
        switch rest.first {
        case "i": guard let number = UInt32(value) else { return nil }; self.init(namespace: namespace, .numeric(number))
        case "s": self.init(namespace: namespace, .string(value))
        case "g": guard let guid = UAGuid(parsing: value) else { return nil }; self.init(namespace: namespace, .guid(guid))
        case "b": guard let bytes = Data(base64Encoded: value) else { return nil }; self.init(namespace: namespace, .opaque(Array(bytes)))
        default: return nil
        }
    }

    public var description: String {
        let prefix = namespace == 0 ? "" : "ns=\(namespace);"
        switch identifier {
        case .numeric(let value): return prefix + "i=\(value)"
        case .string(let value): return prefix + "s=\(value)"
        case .guid(let value): return prefix + "g=\(value)"
        case .opaque(let value): return prefix + "b=\(Data(value).base64EncodedString())"
        }
    }
}

extension NodeId: UACodable {
    /// Encoding bytes of Part 6 §5.2.2.9: the smallest form that holds the value.
    public init(from reader: inout UAReader) throws(UADecodingError) {
        let (node, _) = try Self.read(from: &reader)
        self = node
    }

    /// Reads a node id and the ExpandedNodeId flags in its encoding byte.
    static func read(from reader: inout UAReader) throws(UADecodingError) -> (NodeId, flags: UInt8) {
        let encoding = try reader.byte()
        let node: NodeId
        switch encoding & 0x3F {
        case 0: node = NodeId(UInt32(try reader.byte()))
        case 1:
            let namespace = UInt16(try reader.byte())
            node = NodeId(UInt32(try reader.uint16()), namespace: namespace)
        case 2:
            let namespace = try reader.uint16()
            node = NodeId(try reader.uint32(), namespace: namespace)
        case 3:
            let namespace = try reader.uint16()
            node = NodeId(namespace: namespace, .string(try reader.string() ?? ""))
        case 4:
            let namespace = try reader.uint16()
            node = NodeId(namespace: namespace, .guid(try UAGuid(from: &reader)))
        case 5:
            let namespace = try reader.uint16()
            node = NodeId(namespace: namespace, .opaque(try reader.byteString() ?? []))
        default: throw reader.error("unknown NodeId encoding \(encoding & 0x3F)")
        }
        return (node, encoding & 0xC0)
    }

    public func encode(to writer: inout UAWriter) { write(to: &writer, flags: 0) }

    func write(to writer: inout UAWriter, flags: UInt8) {
        switch identifier {
        case .numeric(let value) where namespace == 0 && value <= 0xFF:
            writer.byte(0 | flags)
            writer.byte(UInt8(value))
        case .numeric(let value) where namespace <= 0xFF && value <= 0xFFFF:
            writer.byte(1 | flags)
            writer.byte(UInt8(namespace))
            writer.uint16(UInt16(value))
        case .numeric(let value):
            writer.byte(2 | flags)
            writer.uint16(namespace)
            writer.uint32(value)
        case .string(let value):
            writer.byte(3 | flags)
            writer.uint16(namespace)
            writer.string(value)
        case .guid(let value):
            writer.byte(4 | flags)
            writer.uint16(namespace)
            value.encode(to: &writer)
        case .opaque(let value):
            writer.byte(5 | flags)
            writer.uint16(namespace)
            writer.byteString(value)
        }
    }
}

/// A node id that may name its namespace by URI and its server (Part 6 §5.2.2.10).
public struct ExpandedNodeId: Hashable, Sendable, CustomStringConvertible, UACodable {
    public var nodeId: NodeId
    public var namespaceURI: String?
    public var serverIndex: UInt32

    public init(_ nodeId: NodeId, namespaceURI: String? = nil, serverIndex: UInt32 = 0) {
        self.nodeId = nodeId
        self.namespaceURI = namespaceURI
        self.serverIndex = serverIndex
    }

    public init(from reader: inout UAReader) throws(UADecodingError) {
        let (node, flags) = try NodeId.read(from: &reader)
        nodeId = node
        namespaceURI = flags & 0x80 != 0 ? try reader.string() : nil
        serverIndex = flags & 0x40 != 0 ? try reader.uint32() : 0
    }

    public func encode(to writer: inout UAWriter) {
        nodeId.write(to: &writer, flags: (namespaceURI == nil ? 0 : 0x80) | (serverIndex == 0 ? 0 : 0x40))
        if let namespaceURI { writer.string(namespaceURI) }
        if serverIndex != 0 { writer.uint32(serverIndex) }
    }

    public var description: String {
        (serverIndex == 0 ? "" : "svr=\(serverIndex);") + (namespaceURI.map { "nsu=\($0);" } ?? "") + nodeId.description
    }
}

/// A 16-byte GUID, written `72962B91-FA75-4AE6-8D28-B404DC7DAF63`.
public struct UAGuid: Hashable, Sendable, CustomStringConvertible, UACodable {
    public var data1: UInt32
    public var data2: UInt16
    public var data3: UInt16
    public var data4: [UInt8]

    public init(from reader: inout UAReader) throws(UADecodingError) {
        data1 = try reader.uint32()
        data2 = try reader.uint16()
        data3 = try reader.uint16()
        data4 = Array(try reader.readBytes(8))
    }

    public func encode(to writer: inout UAWriter) {
        writer.uint32(data1)
        writer.uint16(data2)
        writer.uint16(data3)
        writer.raw(data4)
    }

    public init?(parsing text: String) {
        let hex = text.filter { $0 != "-" && $0 != "{" && $0 != "}" }
        guard hex.count == 32, text.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12] || !text.contains("-") else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        func number(_ range: Range<Int>) -> UInt64 { range.reduce(0) { $0 << 8 | UInt64(bytes[$1]) } }
        data1 = UInt32(number(0..<4))
        data2 = UInt16(number(4..<6))
        data3 = UInt16(number(6..<8))
        data4 = Array(bytes[8...])
    }

    public var description: String {
        func hex<T: BinaryInteger>(_ value: T, _ width: Int) -> String {
            let text = String(value, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let tail = data4.map { hex($0, 2) }
        return "\(hex(data1, 8))-\(hex(data2, 4))-\(hex(data3, 4))-\(tail[0..<2].joined())-\(tail[2...].joined())"
    }
}

/// A name qualified by a namespace index (`2:Speed`).
public struct QualifiedName: Hashable, Sendable, CustomStringConvertible, UACodable {
    public var namespace: UInt16
    public var name: String

    public init(_ name: String, namespace: UInt16 = 0) {
        self.namespace = namespace
        self.name = name
    }

    /// Parses `2:Speed` or `Speed` (namespace 0).
    public init(parsing text: Substring) {
        if let colon = text.firstIndex(of: ":"), let namespace = UInt16(text[..<colon]) {
            self.init(String(text[text.index(after: colon)...]), namespace: namespace)
        } else {
            self.init(String(text))
        }
    }

    public init(from reader: inout UAReader) throws(UADecodingError) {
        namespace = try reader.uint16()
        name = try reader.string() ?? ""
    }

    public func encode(to writer: inout UAWriter) {
        writer.uint16(namespace)
        writer.string(name)
    }

    public var description: String { namespace == 0 ? name : "\(namespace):\(name)" }
}

/// Text in a locale (Part 6 §5.2.2.14).
public struct LocalizedText: Hashable, Sendable, CustomStringConvertible, UACodable {
    public var locale: String?
    public var text: String?

    public init(_ text: String?, locale: String? = nil) {
        self.text = text
        self.locale = locale
    }

    public init(from reader: inout UAReader) throws(UADecodingError) {
        let mask = try reader.byte()
        locale = mask & 1 != 0 ? try reader.string() : nil
        text = mask & 2 != 0 ? try reader.string() : nil
    }

    public func encode(to writer: inout UAWriter) {
        writer.byte((locale == nil ? 0 : 1) | (text == nil ? 0 : 2))
        if let locale { writer.string(locale) }
        if let text { writer.string(text) }
    }

    public var description: String { text ?? "" }
}
