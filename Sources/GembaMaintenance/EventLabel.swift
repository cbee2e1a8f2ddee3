/// What people say of a detector event: the machine was (or was becoming) faulty, or it was not.
public enum EventLabel: String, Sendable, Hashable, Codable, CaseIterable {
    case truePositive = "true_positive"
    case falsePositive = "false_positive"
}
