import Modbus
import MQTTClient
import Sparkplug
import Yams

extension EdgeConfiguration {
    /// Reads a gateway configuration (YAML, or JSON) and checks it whole: every problem is reported
    /// with its line, and nothing is returned unless there are none.
    ///
    /// ```yaml
    /// broker: {url: mqtt://gateway@10.0.0.5:1883, password: {env: BROKER_PASSWORD}}
    /// sparkplug: {group: plant1, node: gateway1, primaryHost: gemba}
    /// buffer: {directory: /var/lib/gemba-edge, maxSize: 1GB, maxAge: 7d}
    /// modbus:
    ///   - device: press3              # the machine plant1/gateway1/press3
    ///     host: 10.0.0.12
    ///     addressing: zero-based      # or one-based, or modicon (then tags give a reference: 40101)
    ///     every: 1s
    ///     tags:
    ///       - {name: spindle_temp, table: holding-register, address: 100, type: float32, order: CDAB, unit: °C, deadband: 0.5}
    /// ```
    ///
    /// `forServe`: the file is read by `gemba serve`, which reads the devices itself: no broker is needed
    /// (one given is not used), and the Sparkplug group and node name the site and line of the machines.
    public static func parse(_ text: String, file: String, environment: [String: String] = [:], forServe: Bool = false,
                             readFile: @escaping (String) -> String? = { _ in nil }) throws(ConfigurationErrors) -> EdgeConfiguration {
        let document: Node
        do {
            document = try ConfigReader.document(text)
        } catch {
            throw ConfigurationErrors(file: file, issues: [error])
        }
        let reader = ConfigReader()
        let configuration = EdgeConfigurationParser(reader: reader, environment: environment, readFile: readFile, forServe: forServe)
            .configuration(document)
        guard let configuration, reader.issues.isEmpty else {
            throw ConfigurationErrors(file: file, issues: reader.issues.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return configuration
    }
}

/// Turns the parsed document into an ``EdgeConfiguration``, reporting into its reader.
private struct EdgeConfigurationParser {
    let reader: ConfigReader
    let environment: [String: String]
    let readFile: (String) -> String?
    let forServe: Bool

    func configuration(_ document: Node) -> EdgeConfiguration? {
        guard let root = reader.fields(document, "the configuration", allowed: ["broker", "sparkplug", "buffer", "pki", "modbus", "opcua"]) else { return nil }
        let broker = root["broker"].flatMap(broker) ?? {
            if forServe { return MQTTClientConfiguration(brokerURL: "mqtt://127.0.0.1:1883") }  // not used by gemba serve
            reader.report(document, "'broker' is required")
            return nil
        }()
        let sparkplug = root["sparkplug"].flatMap { reader.fields($0, "sparkplug", allowed: ["group", "node", "primaryHost"]) }
        if root["sparkplug"] == nil { reader.report(document, "'sparkplug' (group and node) is required") }
        let group = sparkplug.flatMap { sparkplugID($0, "group", required: true) }
        let node = sparkplug.flatMap { sparkplugID($0, "node", required: true) }
        let primaryHost = sparkplug.flatMap { sparkplugID($0, "primaryHost", required: false) }
        var devices: [ModbusDeviceConfiguration] = []
        var servers: [OPCUADeviceConfiguration] = []
        var seen: Set<String> = []
        let unique = { (device: String, item: Node) -> Bool in
            guard seen.insert(device).inserted else {
                reader.report(item, "device '\(device)' is listed twice")
                return false
            }
            return true
        }
        if let list = root["modbus"], let items = reader.items(list, "modbus") {
            for item in items {
                guard let device = modbusDevice(item), unique(device.device, item) else { continue }
                devices.append(device)
            }
        }
        if let list = root["opcua"], let items = reader.items(list, "opcua") {
            let parser = OPCUAConfigurationParser(reader: reader, environment: environment, readFile: readFile, pki: root.string("pki"))
            for item in items {
                guard let device = parser.device(item), unique(device.device, item) else { continue }
                servers.append(device)
            }
        }
        if devices.isEmpty, servers.isEmpty, reader.issues.isEmpty { reader.report(document, "no devices: list them under 'modbus' or 'opcua'") }
        let buffer = root["buffer"].flatMap { self.buffer($0, keepAlive: broker?.keepAlive ?? 60) }
        guard let broker, let group, let node else { return nil }
        return EdgeConfiguration(broker: broker, group: group, node: node, primaryHost: primaryHost, buffer: buffer, modbus: devices, opcua: servers)
    }

    private func buffer(_ node: Node, keepAlive: UInt16) -> BufferConfiguration? {
        guard let fields = reader.fields(node, "buffer", allowed: ["directory", "maxSize", "maxAge", "window", "replayRate"]) else { return nil }
        let directory = fields.string("directory", required: true)
        let defaults = ForwardBuffer.Limits()
        let minimumWindow = 2 * Int64(keepAlive) * 1000
        var limits = ForwardBuffer.Limits(
            maximumBytes: fields.bytes("maxSize", in: (16 << 20)...(1 << 50)) ?? defaults.maximumBytes,
            maximumAge: fields.duration("maxAge", in: 60_000...(3_650 * 86_400_000)) ?? defaults.maximumAge,
            window: minimumWindow)
        if let window = fields.duration("window", in: minimumWindow...86_400_000) { limits.window = window }
        let rate = fields.int("replayRate", in: 100...10_000_000) ?? 50_000
        guard let directory else { return nil }
        return BufferConfiguration(directory: directory, limits: limits, replayRate: rate)
    }

    private func broker(_ node: Node) -> MQTTClientConfiguration? {
        let url: String?, password: String?, clientID: String?
        if case .scalar(let scalar) = node {
            (url, password, clientID) = (scalar.string, nil, nil)
        } else {
            guard let fields = reader.fields(node, "broker", allowed: ["url", "password", "clientId"]) else { return nil }
            url = fields.string("url", required: true)
            password = fields.secret("password", environment: environment, readFile: readFile)
            clientID = fields.string("clientId")
        }
        guard let url else { return nil }
        guard var configuration = MQTTClientConfiguration(brokerURL: url) else {
            reader.report(node, "broker: the url must look like mqtt://[user@]host[:port] or mqtts://…")
            return nil
        }
        if let password { configuration.password = Array(password.utf8) }
        if let clientID { configuration.clientID = clientID }
        return configuration
    }

    private func sparkplugID(_ fields: ConfigReader.Fields, _ key: String, required: Bool) -> String? {
        guard let id = fields.string(key, required: required) else { return nil }
        guard !id.contains(where: { "/+#".contains($0) }) else {
            reader.report(fields[key], "sparkplug: '\(key)' must not contain '/', '+' or '#'")
            return nil
        }
        return id
    }

    private enum Addressing: String { case zeroBased = "zero-based", oneBased = "one-based", modicon }

    private func modbusDevice(_ node: Node) -> ModbusDeviceConfiguration? {
        let allowed: Set<String> = ["device", "host", "port", "unit", "addressing", "timeout", "pacing", "every", "maxGap", "tags"]
        guard let named = reader.fields(node, "a Modbus device", allowed: allowed) else { return nil }
        let id = named.string("device", required: true)
        let what = "device '\(id ?? "?")'"
        let fields = ConfigReader.Fields(node: node, what: what, entries: named.entries, reader: reader)
        if let id, id.contains(where: { "/+#".contains($0) }) || SparkplugAssetMapping.tagName(id) == nil {
            reader.report(fields["device"], "\(what): the device id must be 1–64 characters without '/', '+' or '#'")
        }
        let host = fields.string("host", required: true)
        let addressingText = fields.string("addressing", required: true)
        let addressing = addressingText.flatMap(Addressing.init(rawValue:))
        if addressingText != nil, addressing == nil {
            reader.report(fields["addressing"], "\(what): 'addressing' must be zero-based, one-based or modicon")
        }
        let every = fields.duration("every", in: 10...86_400_000) ?? 1000
        var tags: [(tag: ModbusTag, node: Node)] = []
        if let list = fields["tags"], let items = reader.items(list, "\(what): tags") {
            for item in items {
                if let addressing, let tag = tag(item, device: what, addressing: addressing, every: every) { tags.append((tag, item)) }
            }
            checkOverlaps(tags, device: what)
        } else if fields["tags"] == nil {
            reader.report(node, "\(what): 'tags' is required")
        }
        guard let id, let host, addressing != nil else { return nil }
        return ModbusDeviceConfiguration(
            device: id, host: host, port: fields.int("port", in: 1...65_535) ?? 502, unit: UInt8(fields.int("unit", in: 0...255) ?? 1),
            timeout: fields.duration("timeout", in: 10...60_000) ?? 2000, pacing: fields.duration("pacing", in: 0...10_000) ?? 0,
            maximumGap: fields.int("maxGap", in: 0...124) ?? 16, tags: tags.map(\.tag))
    }

    private static let tables: [String: ModbusTable] = [
        "coil": .coil, "discrete-input": .discreteInput, "holding-register": .holdingRegister, "input-register": .inputRegister,
    ]

    private func tag(_ node: Node, device: String, addressing: Addressing, every: Int64) -> ModbusTag? {
        let allowed: Set<String> = ["name", "table", "address", "reference", "type", "order", "scale", "offset", "unit", "deadband",
                                    "every", "writable"]
        guard let named = reader.fields(node, "\(device): a tag", allowed: allowed) else { return nil }
        let name = named.string("name", required: true)
        let what = "\(device), tag '\(name ?? "?")'"
        let fields = ConfigReader.Fields(node: node, what: what, entries: named.entries, reader: reader)
        if let name, SparkplugAssetMapping.tagName(name) == nil { reader.report(fields["name"], "\(what): a name of 1 to 64 characters") }
        let location = place(fields, addressing: addressing)
        let typeText = fields.string("type")
        var type = typeText.flatMap(ModbusValueType.init)
        if typeText != nil, type == nil {
            reader.report(fields["type"], "\(what): 'type' must be int16, uint16, int32, uint32, int64, uint64, float32, float64, bitN (0–15), stringN (registers) or bool")
        }
        if typeText == nil, let table = location?.table { type = table.holdsBits ? .bool : .uint16 }
        let orderText = fields.string("order")
        let order = orderText.map { ModbusWordOrder(rawValue: $0.uppercased()) } ?? .abcd
        if order == nil { reader.report(fields["order"], "\(what): 'order' must be ABCD, CDAB, BADC or DCBA") }
        let scale = fields.double("scale", where: { $0 != 0 }, rule: "a number other than 0") ?? 1
        let offset = fields.double("offset") ?? 0
        let deadband = fields.double("deadband", where: { $0 >= 0 }, rule: "a number not below 0")
        let writable = fields.bool("writable") ?? false
        guard let name, let location, let type, let order else { return nil }
        let point = ModbusPoint(table: location.table, address: location.address, type: type)
        guard location.table.holdsBits == (type == .bool) else {
            reader.report(fields["type"] ?? node, "\(what): \(location.table.holdsBits ? "coils and discrete inputs hold bool values only" : "registers do not hold bool values (use bitN for a bit of a register)")")
            return nil
        }
        guard point.span.upperBound <= 65_536 else {
            reader.report(node, "\(what): \(type.width) items from address \(location.address) run past address 65535")
            return nil
        }
        if writable {
            if location.table == .discreteInput || location.table == .inputRegister {
                reader.report(fields["writable"], "\(what): only coils and holding registers can be written")
            } else if case .bit = type {
                reader.report(fields["writable"], "\(what): a bit of a register cannot be written on its own")
            }
        }
        return ModbusTag(name: name, point: point, order: order, scale: scale, offset: offset, unit: fields.string("unit"),
                         deadband: deadband, interval: fields.duration("every", in: 10...86_400_000) ?? every, writable: writable)
    }

    /// The table and 0-based protocol address, as the device's addressing states them.
    private func place(_ fields: ConfigReader.Fields, addressing: Addressing) -> (table: ModbusTable, address: UInt16)? {
        let what = fields.what
        switch addressing {
        case .modicon:
            if fields["table"] != nil || fields["address"] != nil {
                reader.report(fields["table"] ?? fields["address"], "\(what): with modicon addressing, give a 'reference' (40001 …) instead of table and address")
            }
            guard let text = fields.string("reference", required: true) else { return nil }
            do {
                return try ModbusTable.reference(text)
            } catch {
                reader.report(fields["reference"], "\(what): \(error)")
                return nil
            }
        case .zeroBased, .oneBased:
            if fields["reference"] != nil {
                reader.report(fields["reference"], "\(what): 'reference' needs 'addressing: modicon'; give table and address")
            }
            let tableText = fields.string("table", required: true)
            let table = tableText.flatMap { Self.tables[$0] }
            if tableText != nil, table == nil {
                reader.report(fields["table"], "\(what): 'table' must be coil, discrete-input, holding-register or input-register")
            }
            let first = addressing == .oneBased ? 1 : 0
            guard let address = fields.int("address", in: first...(65_535 + first), required: true), let table else { return nil }
            return (table, UInt16(address - first))
        }
    }

    /// Two tags may not share an item, except bits of one register (each bit once); names are unique.
    private func checkOverlaps(_ tags: [(tag: ModbusTag, node: Node)], device: String) {
        var names: Set<String> = []
        var bits: Set<[Int]> = []
        var spans: [(tag: ModbusTag, node: Node)] = []
        for (tag, node) in tags {
            if !names.insert(tag.name).inserted { reader.report(node, "\(device): tag '\(tag.name)' is listed twice") }
            if case .bit(let bit) = tag.point.type {
                let key = [ModbusTable.allCases.firstIndex(of: tag.point.table)!, Int(tag.point.address), bit]
                if !bits.insert(key).inserted { reader.report(node, "\(device): tag '\(tag.name)' reads a bit another tag reads") }
            } else {
                spans.append((tag, node))
            }
        }
        for table in ModbusTable.allCases {
            var widest: ModbusTag?
            for (tag, node) in spans.filter({ $0.tag.point.table == table }).sorted(by: { $0.tag.point.address < $1.tag.point.address }) {
                let span = tag.point.span
                if let previous = widest, span.overlaps(previous.point.span) {
                    reader.report(node, "\(device): tag '\(tag.name)' (\(Self.tables.first { $0.value == table }!.key) \(span.lowerBound)…\(span.upperBound - 1)) overlaps '\(previous.name)' (\(previous.point.span.lowerBound)…\(previous.point.span.upperBound - 1))")
                }
                if span.upperBound > widest?.point.span.upperBound ?? .min { widest = tag }
            }
        }
    }
}
