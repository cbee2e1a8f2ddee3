internal import GembaCore

/// The ISA-95 tree (site → area → line → machine) built from machine paths, for `/api/v1/assets`.
struct AssetTree {
    private struct Line { var machines: [AssetPath] = [] }
    private struct Area { var lines: [String: Line] = [:] }
    private struct Site {
        var areas: [String: Area] = [:]
        var lines: [String: Line] = [:]
    }

    private var sites: [String: Site] = [:]

    init(_ paths: [AssetPath]) {
        for path in paths {
            if let area = path.area {
                sites[path.site, default: Site()].areas[area, default: Area()].lines[path.line, default: Line()].machines.append(path)
            } else {
                sites[path.site, default: Site()].lines[path.line, default: Line()].machines.append(path)
            }
        }
    }

    func write(into json: inout JSONWriter) {
        json.array { json in
            for (name, site) in sites.sorted(by: { $0.key < $1.key }) {
                json.object { json in
                    json.field("name") { $0.string(name) }
                    json.field("path") { $0.string(name) }
                    json.field("areas") { json in
                        json.array { json in
                            for (areaName, area) in site.areas.sorted(by: { $0.key < $1.key }) {
                                json.object { json in
                                    json.field("name") { $0.string(areaName) }
                                    json.field("path") { $0.string(name + "/" + areaName) }
                                    json.field("lines") { json in Self.write(area.lines, prefix: name + "/" + areaName, into: &json) }
                                }
                            }
                        }
                    }
                    json.field("lines") { json in Self.write(site.lines, prefix: name, into: &json) }
                }
            }
        }
    }

    private static func write(_ lines: [String: Line], prefix: String, into json: inout JSONWriter) {
        json.array { json in
            for (name, line) in lines.sorted(by: { $0.key < $1.key }) {
                json.object { json in
                    json.field("name") { $0.string(name) }
                    json.field("path") { $0.string(prefix + "/" + name) }
                    json.field("machines") { json in
                        json.array { json in
                            for machine in line.machines.sorted() {
                                json.object { json in
                                    json.field("name") { $0.string(machine.machine) }
                                    json.field("path") { $0.string(machine.description) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
