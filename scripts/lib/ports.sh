# Sourced by the scripts: loopback ports for the servers they start.

# free_port: a TCP port nothing is bound to right now, picked at random below the kernel's
# ephemeral range (32768-60999), so that no outgoing connection takes it before its server binds it.
free_port() {
    python3 -c '
import random, socket
while True:
    port = random.randrange(10000, 32768)
    try:
        with socket.socket() as sock:
            sock.bind(("0.0.0.0", port))
        print(port)
        break
    except OSError:
        pass'
}

# wait_port PORT [SECONDS]: waits until something listens on PORT (default 10 s); fails after that.
wait_port() {
    local tries=$(( ${2:-10} * 10 ))
    for _ in $(seq "$tries"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1  # polling interval; the tries bound the wait
    done
    return 1
}
