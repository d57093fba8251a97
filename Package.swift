// swift-tools-version: 6.1
import PackageDescription

#if os(Linux)
    import Glibc
#endif

let package = Package(
    name: "Outpost",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "outpost", targets: ["outpost"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // System libraries: zlib for gzip, SQLite for the SQLite connector.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        // fork + exec of job processes and secret commands: own process group, resource limits, no inherited
        // descriptors, killed with their parent.
        .target(name: "CJobSpawn"),

        .target(
            name: "Metadata",
            dependencies: [
                "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Secrets",
            dependencies: [
                "AWSSigV4",
                "AzureCloud",
                "GoogleCloud",
                "CJobSpawn",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Time as text and dates without Foundation's calendars (RFC 3339, the civil calendar): depends on nothing.
        .target(name: "CivilTime"),
        .target(name: "OutpostProtocol"),
        .target(
            name: "AWSSigV4", dependencies: ["CivilTime", .product(name: "Crypto", package: "swift-crypto")]),
        // Microsoft Entra ID identities (client secret, certificate, workload identity, managed identity) and their
        // tokens.
        .target(
            name: "AzureCloud",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Google identities (service account keys, the metadata server) and their OAuth tokens; CRC-32C.
        .target(
            name: "GoogleCloud",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // S3 API client (SigV4 header-signed requests, multipart uploads, pre-signed URLs): the agent's bucket relay,
        // the control plane's relay ingestion and its S3 blob store; Google Cloud Storage's V4 signed URLs.
        .target(
            name: "ObjectStore",
            dependencies: [
                "AWSSigV4",
                "AzureCloud",
                "GoogleCloud",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // A connection's bucket relay on its object store, and the layout of a run's objects there.
        .target(
            name: "Relay",
            dependencies: [
                "AWSSigV4", "GoogleCloud", "ObjectStore", "OutpostProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        // The agent daemon: configuration, control-plane client, claim loop, leases, heartbeats, job processes,
        // delivery, spool, audit ledger, egress policy, metrics.
        .target(
            name: "Agent",
            dependencies: [
                "AWSSigV4",
                "CJobSpawn",
                "CivilTime",
                "Connectors",
                "Metadata",
                "ObjectStore",
                "OutpostProtocol",
                "Relay",
                "Secrets",
                "SourceURLs",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The source URLs (PostgreSQL, Snowflake) as the connectors read them and the agent's policy and the control
        // plane check them, and the connectors' error type.
        .target(name: "SourceURLs"),
        .target(
            name: "Connectors",
            dependencies: [
                "CivilTime",
                "Metadata",
                "SourceURLs",
                "Secrets",
                "CSQLite",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The control plane's storage: its model, the repositories, and the SQLite and PostgreSQL backends. No HTTP.
        .target(
            name: "ControlPlaneStorage",
            dependencies: [
                "CivilTime",
                "CSQLite",
                "OutpostProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The OpenAPI document's one source, openapi/outpost-v1.yaml, embedded into the server at build time.
        .executableTarget(name: "EmbedText", path: "Tools/EmbedText"),
        .plugin(name: "EmbedOpenAPI", capability: .buildTool(), dependencies: ["EmbedText"]),
        .target(
            name: "ControlPlane",
            dependencies: [
                "AWSSigV4",
                "CivilTime",
                "ControlPlaneStorage",
                "Secrets",
                "ObjectStore",
                "OutpostProtocol",
                "Metadata",
                "Relay",
                "SourceURLs",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            plugins: ["EmbedOpenAPI"]
        ),
        // The admin API's client for `outpost admin`.
        .target(
            name: "OutpostAdmin",
            dependencies: [
                "OutpostProtocol",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "outpost",
            dependencies: [
                "AWSSigV4",
                "Agent",
                "AzureCloud",
                "CivilTime",
                "ControlPlane",
                "ControlPlaneStorage",
                "Connectors",
                "GoogleCloud",
                "Metadata",
                "ObjectStore",
                "Secrets",
                "OutpostAdmin",
                "OutpostProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),

        .target(
            name: "OutpostTesting",
            dependencies: [
                "Metadata",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/OutpostTesting"
        ),
        .testTarget(name: "MetadataTests", dependencies: ["Metadata", "OutpostTesting"]),
        .testTarget(name: "AWSSigV4Tests", dependencies: ["AWSSigV4", "OutpostTesting"]),
        .testTarget(
            name: "SecretsTests",
            dependencies: [
                "Secrets", "AzureCloud", "GoogleCloud", "OutpostTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .testTarget(
            name: "ConnectorsTests",
            dependencies: [
                "Connectors", "Metadata", "OutpostTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "AWSSigV4", "AzureCloud", "ControlPlane", "ControlPlaneStorage", "Connectors", "GoogleCloud",
                "Metadata", "ObjectStore", "OutpostProtocol", "OutpostTesting", "Relay",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "ObjectStoreTests",
            dependencies: [
                "ObjectStore", "AWSSigV4", "AzureCloud", "GoogleCloud", "OutpostProtocol", "OutpostTesting", "Relay",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "AgentTests",
            dependencies: [
                "Agent", "AzureCloud", "ControlPlane", "ControlPlaneStorage", "Connectors", "GoogleCloud", "Metadata",
                "ObjectStore",
                "OutpostProtocol",
                "OutpostTesting",
                "Secrets",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "CommandLineTests",
            dependencies: [
                "outpost", "ControlPlane", "ControlPlaneStorage", "Metadata", "OutpostProtocol", "OutpostTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        // The real `outpost server` and `outpost agent` binaries as separate processes, against real PostgreSQL and
        // moto; `outpost` is a dependency so the binary is built before the tests run.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "outpost", "AzureCloud", "ControlPlane", "ControlPlaneStorage", "GoogleCloud", "ObjectStore",
                "OutpostProtocol", "OutpostTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ]
)

// One settings loop for every Swift target: Swift 6 mode plus the upcoming features we hold ourselves to.
// CI sets OUTPOST_WARNINGS_AS_ERRORS=1 so a warning in our code (never in a dependency's) fails the build.
let warningsAsErrors: [SwiftSetting] =
    Context.environment["OUTPOST_WARNINGS_AS_ERRORS"] == "1" ? [.unsafeFlags(["-warnings-as-errors"])] : []
let cTargets: Set<String> = ["CJobSpawn"]
for target in package.targets where ![.system, .plugin].contains(target.type) && !cTargets.contains(target.name) {
    target.swiftSettings =
        (target.swiftSettings ?? []) + warningsAsErrors + [
            .swiftLanguageMode(.v6),
            .enableUpcomingFeature("ExistentialAny"),
            .enableUpcomingFeature("MemberImportVisibility"),
            .enableUpcomingFeature("InternalImportsByDefault"),
        ]
}

// Release builds on Linux (the container image): linked by lld, relative relocations packed (DT_RELR) and no symbol
// exported that nothing loads. A static-stdlib link otherwise exports every symbol of every object (`-export-dynamic`
// from the toolchain's static-stdlib-args.lnk) and writes one 24-byte RELA entry per pointer to relocate; the
// dynamic linker reads all of .rela.dyn (3.4 MB) at start-up and the runtime's dladdr() walks all of .dynsym and
// .gnu.hash (1.6 MB), which an idle agent then keeps resident. DT_RELR needs glibc 2.36 at run time, so it is used
// only when the build host's glibc (which the binary requires anyway) has it; docs/performance.md has the numbers.
#if os(Linux)
    let glibcHasRELR: Bool = {
        // "glibc 2.36"
        var buffer = [CChar](repeating: 0, count: 64)
        guard confstr(Int32(_CS_GNU_LIBC_VERSION), &buffer, buffer.count) > 0 else { return false }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let version = text.split(separator: " ").last?.split(separator: ".").compactMap { Int($0) } ?? []
        return version.count >= 2 && (version[0], version[1]) >= (2, 36)
    }()
#else
    let glibcHasRELR = false
#endif
let releaseLinkFlags =
    ["-use-ld=lld", "-Xlinker", "--no-export-dynamic"]
    + (glibcHasRELR ? ["-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"] : [])
if let executable = package.targets.first(where: { $0.name == "outpost" }) {
    executable.linkerSettings =
        (executable.linkerSettings ?? []) + [
            .unsafeFlags(releaseLinkFlags, .when(platforms: [.linux], configuration: .release))
        ]
}
