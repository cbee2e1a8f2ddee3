# Sourced by the scripts: loopback ports for the servers they start.

# free_port: a TCP port nothing listens on right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_port PORT [SECONDS]: waits until something listens on PORT (default 10 s); fails after that.
wait_port() {
    local tries=$(( ${2:-10} * 10 ))
    for _ in $(seq "$tries"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1  # polling interval; the tries bound the wait
    done
    return 1
}
