import MQTTCodec
import Testing

@Suite struct TopicTests {
    @Test(arguments: [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
        ("sport/#", "sport", true),
        ("#", "anything/at/all", true),
        ("sport/+", "sport/", true),
        ("sport/+", "sport", false),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("#", "$SYS/x", false),
        ("$SYS/#", "$SYS/broker/load", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("a//b", "a//b", true),
        ("a/+/b", "a//b", true),
        ("a/b", "a/b/c", false),
    ])
    func matching(filter: String, name: String, expected: Bool) {
        #expect(Topic.matches(filter: filter, name: name) == expected)
    }

    @Test(arguments: ["a/#/b", "a#", "a/b+", "+a", "", "$share/g", "$share//a", "$share/g/", "$share/g+/a"])
    func invalidFilters(filter: String) {
        #expect(throws: MQTTCodecError.self) { try Topic.validateFilter(filter) }
    }

    @Test(arguments: ["#", "+", "a/+/b/#", "/", "$share/group/a/+/#", "$SYS/#"])
    func validFilters(filter: String) throws {
        try Topic.validateFilter(filter)
    }

    @Test func sharedSubscriptionIsParsed() {
        let shared = SharedSubscription("$share/consumers/plant/+/temp")
        #expect(shared?.group == "consumers")
        #expect(shared?.filter == "plant/+/temp")
    }
}
