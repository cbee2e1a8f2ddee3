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

/// The newest live value of a tag, what a death marks stale.
struct LastValue: Sendable {
    var value: SampleValue
    var time: Int64
    var unit: String?
}

/// The metrics an edge node or device declared in its birth, by name and by alias, and the last
/// live value of each of its tags. Data resolves an alias to a definition with one integer lookup.
struct MetricCatalogue: Sendable {
    private(set) var definitions: [MetricDefinition] = []
    private var indexByName: [String: Int] = [:]
    private var indexByAlias: [UInt64: Int] = [:]
    /// Per definition, the last live value of its tag (nil: none yet, or a template).
    private var lastValues: [LastValue?] = []
    /// The last live values of template members, by tag.
    private var memberValues: [String: LastValue] = [:]

    /// Adds a birth metric; returns a reason when the metric cannot be catalogued.
    mutating func declare(_ metric: SparkplugMetric) -> String? {
        guard let name = metric.name, !name.isEmpty else { return "a birth metric has no name" }
        guard let dataType = metric.dataType, dataType != .unknown else {
            return "birth metric \"\(name)\" has no valid datatype (\(metric.dataTypeCode.map(String.init) ?? "none"))"
        }
        let index = indexByName[name] ?? definitions.count
        if let alias = metric.alias {
            if let other = indexByAlias[alias], other != index {
                return "alias \(alias) of \"\(name)\" is already \"\(definitions[other].name)\""
            }
            indexByAlias[alias] = index
        }
        let definition = MetricDefinition(name: name, dataType: dataType, unit: Self.unit(of: metric))
        if index == definitions.count {
            definitions.append(definition)
            lastValues.append(nil)
            indexByName[name] = index
        } else {
            definitions[index] = definition
        }
        return nil
    }

    /// The index of the definition a data metric refers to: by alias, else by name. A name not in
    /// the birth is also looked up under `DATA/<name>`, the form mqtt-spb-wrapper declares its metrics in.
    func definition(of metric: SparkplugMetric) -> Int? {
        if let alias = metric.alias, let index = indexByAlias[alias] { return index }
        guard let name = metric.name else { return nil }
        return indexByName[name] ?? indexByName["DATA/" + name]
    }

    /// Records a live value of the definition's tag (or of a template member's `tag`) unless an
    /// earlier-sent newer one is already there.
    mutating func record(_ value: LastValue, definition index: Int, memberTag: String?) {
        if let memberTag {
            if value.time >= memberValues[memberTag]?.time ?? .min { memberValues[memberTag] = value }
        } else if value.time >= lastValues[index]?.time ?? .min {
            lastValues[index] = value
        }
    }

    /// Every tag with its last live value.
    var last: [(tag: String, value: LastValue)] {
        zip(definitions, lastValues).compactMap { definition, last in last.flatMap { last in definition.tag.map { ($0, last) } } }
            + memberValues.map { ($0.key, $0.value) }
    }

    /// The writable metric stored as `tag`, with its alias if the birth gave one.
    func metric(storedAs tag: String) -> (definition: MetricDefinition, alias: UInt64?)? {
        guard let index = definitions.firstIndex(where: { !$0.isControl && $0.tag == tag }) else { return nil }
        return (definitions[index], indexByAlias.first { $0.value == index }?.key)
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
