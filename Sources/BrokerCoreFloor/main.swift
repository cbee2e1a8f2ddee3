// The broker's core behind a bare epoll loop: what an MQTT broker of Gemba's own code would cost
// per message under the fleet load if SwiftNIO's channels and pipelines were not in the way. It is a
// measurement, like `scripts/lib/relay_floor.c`, not a broker to run: plain TCP on 127.0.0.1 only,
// everyone allowed, no persistence, receiver, TLS, slow-consumer or flow control, and writes that
// do not fit the socket wait for the next iteration. `BrokerState` and the codec are the ones
// `gemba serve` runs.
//
//   broker-core-floor PORT [WAIT_US]
//
// WAIT_US (default 4000, gemba's `--mqtt-read-coalescing-us`): after an iteration that read fewer
// than 16 connections, the loop sleeps this long before polling again, so the fleet's messages are
// read in batches as gemba's read coalescer does under that load. (It has no busy-publisher rule:
// the burst case, where each publisher waits for its acknowledgement, is not for this tool.)
import CEpoll
import Glibc
import MQTTBroker
import MQTTCodec
import NIOCore

/// Writes `text` to standard error and exits with `code`.
func fail(_ text: String, code: Int32) -> Never {
    let line = text + "\n"
    _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
    exit(code)
}

let arguments = CommandLine.arguments.dropFirst()
guard (1...2).contains(arguments.count), let port = UInt16(arguments[1]),
      let wait = arguments.count == 2 ? UInt32(arguments[2]) : 4000 else {
    fail("usage: broker-core-floor PORT [WAIT_US]", code: 2)
}
do {
    try CoreFloor(port: port, wait: wait).run()
} catch {
    fail("broker-core-floor: \(error)", code: 1)
}
