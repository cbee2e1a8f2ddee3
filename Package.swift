// swift-tools-version:6.0
import PackageDescription

/// Settings every Gemba target shares: Swift 6 mode plus the upcoming features that keep code honest.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// What the networked MQTT targets (client and broker) build on.
let networking: [Target.Dependency] = [
    "MQTTCodec",
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
    .product(name: "NIOSSL", package: "swift-nio-ssl"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "DequeModule", package: "swift-collections"),
]

let package = Package(
    name: "Gemba",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gemba", targets: ["gemba"]),
        .library(name: "MQTTCodec", targets: ["MQTTCodec"]),
        .library(name: "MQTTClient", targets: ["MQTTClient"]),
        .library(name: "MQTTBroker", targets: ["MQTTBroker"]),
        .library(name: "GembaStorage", targets: ["GembaStorage"]),
        .library(name: "GembaIngest", targets: ["GembaIngest"]),
        .library(name: "GembaServer", targets: ["GembaServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-crypto", "4.1.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        .target(name: "GembaCore", swiftSettings: strictSettings),
        .target(name: "GembaDetect", dependencies: ["GembaCore"], swiftSettings: strictSettings),
        .target(
            name: "GembaBackup",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaPostgres",
            dependencies: [
                "GembaCore", "GembaStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "GembaMaintenance", dependencies: ["GembaCore", "GembaStorage"], swiftSettings: strictSettings),
        .target(
            name: "GembaStorage",
            dependencies: [
                "GembaCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaIngest",
            dependencies: [
                "GembaCore", "GembaStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "GembaSimulator", dependencies: ["GembaCore"], swiftSettings: strictSettings),
        .target(
            name: "Modbus",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "OPCUA",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaConnectors",
            dependencies: [
                "GembaCore", "Modbus", "OPCUA", "Sparkplug", "MQTTClient", "MQTTCodec",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaAnalytics",
            dependencies: ["GembaCore", "GembaStorage", "GembaRules", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaRules",
            dependencies: ["GembaCore", "GembaStorage", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaNotifications",
            dependencies: [
                "GembaCore", "GembaStorage", "GembaRules", "MQTTClient", "MQTTCodec",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Sparkplug",
            dependencies: ["GembaCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaAccess",
            dependencies: [
                "GembaCore", "GembaStorage",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaServer",
            dependencies: [
                "GembaDetect", "GembaMaintenance",
                "GembaCore", "GembaStorage", "GembaIngest", "GembaAccess", "GembaAnalytics", "GembaRules", "GembaNotifications",
                "MQTTBroker", "MQTTClient", "MQTTCodec", "Sparkplug",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "MQTTCodec",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strictSettings
        ),
        .target(name: "MQTTClient", dependencies: networking, swiftSettings: strictSettings),
        .target(
            name: "MQTTBroker",
            dependencies: networking + [
                "CEpoll",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "CEpoll"),
        .executableTarget(
            name: "gemba",
            dependencies: [
                "GembaCore", "MQTTCodec", "MQTTClient", "MQTTBroker",
                "GembaStorage", "GembaIngest", "GembaServer", "GembaSimulator", "GembaAccess", "GembaAnalytics", "GembaRules", "GembaNotifications", "Sparkplug", "Modbus", "OPCUA", "GembaConnectors", "GembaDetect", "GembaMaintenance", "GembaBackup", "GembaPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "GembaTestSupport",
            dependencies: [
                "MQTTClient", "MQTTCodec", "GembaCore", "GembaStorage", "GembaPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/GembaTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(name: "GembaBackupTests", dependencies: ["GembaBackup", .product(name: "GRDB", package: "GRDB.swift")],
                    swiftSettings: strictSettings),
        .testTarget(name: "GembaCoreTests", dependencies: ["GembaCore"], swiftSettings: strictSettings),
        .testTarget(name: "ModbusTests", dependencies: ["Modbus"], swiftSettings: strictSettings),
        .testTarget(name: "OPCUATests", dependencies: ["OPCUA"], swiftSettings: strictSettings),
        .testTarget(
            name: "GembaConnectorsTests", dependencies: ["GembaConnectors", "GembaCore", "Modbus", "OPCUA", "Sparkplug"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GembaStorageTests",
            dependencies: [
                "GembaCore", "GembaStorage", "GembaPostgres", "GembaTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GembaIngestTests",
            dependencies: ["GembaCore", "GembaStorage", "GembaIngest", "GembaTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "GembaAccessTests",
            dependencies: ["GembaCore", "GembaStorage", "GembaAccess", "GembaPostgres", "GembaTestSupport",
                           .product(name: "GRDB", package: "GRDB.swift"), .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "SparkplugTests", dependencies: ["Sparkplug", "GembaCore"], swiftSettings: strictSettings),
        .testTarget(name: "GembaAnalyticsTests", dependencies: ["GembaAnalytics", "GembaCore"], swiftSettings: strictSettings),
        .testTarget(name: "GembaDetectTests", dependencies: ["GembaDetect", "GembaCore"], swiftSettings: strictSettings),
        .testTarget(name: "GembaMaintenanceTests", dependencies: ["GembaMaintenance", "GembaCore", "GembaStorage", .product(name: "Logging", package: "swift-log")], swiftSettings: strictSettings),
        .testTarget(name: "GembaRulesTests", dependencies: ["GembaRules", "GembaCore", "GembaStorage"], swiftSettings: strictSettings),
        .testTarget(
            name: "GembaNotificationsTests",
            dependencies: ["GembaNotifications", "GembaRules", "GembaCore", "GembaStorage"],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "GembaSimulatorTests", dependencies: ["GembaSimulator", "GembaIngest", "GembaCore"], swiftSettings: strictSettings),
        .testTarget(
            name: "GembaServerTests",
            dependencies: [
                "GembaCore", "GembaStorage", "GembaIngest", "GembaServer", "GembaTestSupport", "GembaAccess", "GembaAnalytics",
                "GembaRules", "GembaNotifications", "GembaMaintenance", "GembaDetect", "MQTTBroker",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "MQTTCodecTests",
            dependencies: [
                "MQTTCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "MQTTClientTests",
            dependencies: [
                "MQTTClient", "MQTTCodec", "MQTTBroker", "GembaTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "MQTTBrokerTests",
            dependencies: [
                "MQTTBroker", "MQTTCodec", "MQTTClient", "GembaTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
