import GembaCore

/// What a birth declared about one metric: enough to read its later values and store them.
struct MetricDefinition: Sendable {
    var name: String
    var dataType: SparkplugDataType
    var unit: String?
    /// The tag the metric is stored as; nil when its name cannot be one.
    var tag: String?
    /// `Node Control/…`, `Device Control/…`, `Properties/…` and bdSeq: session plumbing, not measurements.
    var isControl: Bool

    init(name: String, dataType: SparkplugDataType, unit: String?) {
        self.name = name
        self.dataType = dataType
        self.unit = unit
        tag = SparkplugAssetMapping.tagName(name)
        isControl = name == "bdSeq" || name.hasPrefix("Node Control/") || name.hasPrefix("Device Control/")
            || name.hasPrefix("CMD/") || name.hasPrefix("Properties/")
    }
}

/// The metrics an edge node or device declared in its birth, by name and by alias, and the last
/// live value of each of its tags (what a death marks stale).
struct MetricCatalogue: Sendable {
    private(set) var byName: [String: MetricDefinition] = [:]
    private(set) var nameByAlias: [UInt64: String] = [:]
    /// Per tag, the newest live value, its time and unit.
    var last: [String: (value: SampleValue, time: Int64, unit: String?)] = [:]

    /// Adds a birth metric; returns a reason when the metric cannot be catalogued.
    mutating func declare(_ metric: SparkplugMetric) -> String? {
        guard let name = metric.name, !name.isEmpty else { return "a birth metric has no name" }
        guard let dataType = metric.dataType, dataType != .unknown else {
            return "birth metric \"\(name)\" has no valid datatype (\(metric.dataTypeCode.map(String.init) ?? "none"))"
        }
        if let alias = metric.alias {
            if let other = nameByAlias[alias], other != name { return "alias \(alias) of \"\(name)\" is already \"\(other)\"" }
            nameByAlias[alias] = name
        }
        byName[name] = MetricDefinition(name: name, dataType: dataType, unit: Self.unit(of: metric))
        return nil
    }

    /// The definition a data metric refers to: by alias, else by name. A name not in the birth is
    /// also looked up under `DATA/<name>`, the form mqtt-spb-wrapper declares its metrics in.
    func definition(of metric: SparkplugMetric) -> MetricDefinition? {
        if let alias = metric.alias, let name = nameByAlias[alias] { return byName[name] }
        guard let name = metric.name else { return nil }
        return byName[name] ?? byName["DATA/" + name]
    }

    /// The writable metric stored as `tag`, with its alias if the birth gave one.
    func metric(storedAs tag: String) -> (definition: MetricDefinition, alias: UInt64?)? {
        guard let definition = byName.values.first(where: { !$0.isControl && SparkplugAssetMapping.tagName($0.name) == tag })
        else { return nil }
        return (definition, nameByAlias.first { $0.value == definition.name }?.key)
    }

    /// The engineering unit from a metric's properties (`engUnit`, `engUnits`, `unit`, `units`).
    static func unit(of metric: SparkplugMetric) -> String? {
        guard let properties = metric.properties else { return nil }
        for key in ["engUnit", "engUnits", "unit", "units"] {
            if case .string(let unit)? = properties[key]?.value, !unit.isEmpty { return unit }
        }
        return nil
    }
}
