/*
 * A plant's MQTT load, from its own process: many connections, each publishing a small message
 * now and then to its own topic (so each message reaches the broker alone), and one historian
 * subscribed to everything. One epoll loop, raw MQTT 3.1.1 on non-blocking sockets, so the
 * generator costs little beside the broker it measures.
 *
 *   fleet_load PORT CONNECTIONS RATE QOS SECONDS BROKER_PID LABEL
 *
 * RATE is messages per second per connection; the sends of all connections are spread evenly in
 * time. After a 3-second warm-up, SECONDS are measured: the broker's CPU time (utime + stime from
 * /proc/BROKER_PID/stat, also apart: user space and kernel) and RSS over that window, messages
 * sent and received by the historian, and the latency from send to the historian's read (p50, p99,
 * max in ms; each payload starts with its send time).
 * Prints one JSON line. Build: cc -O2 -o fleet_load fleet_load.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 64

typedef struct {
    int fd;
    unsigned char in[65536];
    size_t used;
    uint16_t next_id;
    long acked;
} Conn;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) { perror(what); exit(1); }

/* Latencies (ms) of the messages the historian read in the measured window. */
static float *latencies;
static long latency_count, latency_capacity;
static int measuring;

static int by_value(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double percentile(double p) {
    if (latency_count == 0) return 0;
    long index = (long)(p * (latency_count - 1));
    return latencies[index];
}

static size_t put_length(unsigned char *out, size_t length) {
    size_t n = 0;
    do {
        unsigned char byte = length % 128;
        length /= 128;
        out[n++] = byte | (length ? 0x80 : 0);
    } while (length);
    return n;
}

static size_t put_string(unsigned char *out, const char *text) {
    size_t length = strlen(text);
    out[0] = length >> 8; out[1] = length & 0xff;
    memcpy(out + 2, text, length);
    return length + 2;
}

static void write_all(int fd, const unsigned char *data, size_t length) {
    while (length > 0) {
        ssize_t n = write(fd, data, length);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("write");
        }
        data += n; length -= n;
    }
}

/* Opens a blocking connection, sends CONNECT (clean session, keepalive 0), waits for CONNACK. */
static int open_client(int port, const char *id) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    unsigned char body[256], packet[300];
    size_t n = put_string(body, "MQTT");
    body[n++] = 4; body[n++] = 0x02; body[n++] = 0; body[n++] = 0;
    n += put_string(body + n, id);
    size_t m = 0;
    packet[m++] = 0x10;
    m += put_length(packet + m, n);
    memcpy(packet + m, body, n);
    write_all(fd, packet, m + n);
    unsigned char connack[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t r = read(fd, connack + got, 4 - got);
        if (r <= 0) die("CONNACK");
        got += r;
    }
    if (connack[0] != 0x20 || connack[3] != 0) { fprintf(stderr, "refused %s\n", id); exit(1); }
    return fd;
}

static void subscribe(int fd, const char *filter, int qos) {
    unsigned char body[256], packet[300];
    size_t n = 0;
    body[n++] = 0; body[n++] = 1;
    n += put_string(body + n, filter);
    body[n++] = qos;
    size_t m = 0;
    packet[m++] = 0x82;
    m += put_length(packet + m, n);
    memcpy(packet + m, body, n);
    write_all(fd, packet, m + n);
    unsigned char suback[5];
    size_t got = 0;
    while (got < 5) {
        ssize_t r = read(fd, suback + got, 5 - got);
        if (r <= 0) die("SUBACK");
        got += r;
    }
    if (suback[0] != 0x90 || suback[4] > 2) { fprintf(stderr, "subscription refused\n"); exit(1); }
}

/* The broker's CPU seconds so far: in user space and in the kernel. */
typedef struct { double user, system; } CPU;

static void read_cpu(int pid, CPU *cpu, long *rss_kb) {
    char path[64], line[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file) die("broker stat");
    if (!fgets(line, sizeof line, file)) die("broker stat");
    fclose(file);
    char *p = strrchr(line, ')');
    unsigned long utime = 0, stime = 0;
    long rss = 0;
    /* After ')': state(3) ... utime(14) stime(15) ... rss(24), counted from the pid field. */
    int field = 2;
    for (char *token = strtok(p + 1, " "); token; token = strtok(NULL, " ")) {
        field++;
        if (field == 14) utime = strtoul(token, NULL, 10);
        if (field == 15) stime = strtoul(token, NULL, 10);
        if (field == 24) { rss = atol(token); break; }
    }
    cpu->user = (double)utime / sysconf(_SC_CLK_TCK);
    cpu->system = (double)stime / sysconf(_SC_CLK_TCK);
    *rss_kb = rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Consumes whole packets in a connection's buffer; the historian acknowledges QoS 1 publishes. */
static long drain(Conn *c, int historian, unsigned char *acks, size_t *ack_length) {
    long publishes = 0;
    size_t offset = 0;
    while (offset + 2 <= c->used) {
        size_t length = 0, shift = 0, index = offset + 1;
        int complete = 0;
        while (index < c->used) {
            unsigned char byte = c->in[index++];
            length |= (size_t)(byte & 0x7f) << shift;
            shift += 7;
            if (!(byte & 0x80)) { complete = 1; break; }
        }
        if (!complete || index + length > c->used) break;
        unsigned char type = c->in[offset] >> 4;
        if (type == 3) {
            publishes++;
            int qos = (c->in[offset] >> 1) & 3;
            size_t payload = index + 2 + ((c->in[index] << 8) | c->in[index + 1]) + (qos ? 2 : 0);
            if (historian && measuring && latency_count < latency_capacity && payload + sizeof(double) <= index + length) {
                double sent_at;
                memcpy(&sent_at, c->in + payload, sizeof sent_at);
                latencies[latency_count++] = (float)((now_s() - sent_at) * 1000);
            }
            if (historian && qos == 1) {
                size_t topic = (c->in[index] << 8) | c->in[index + 1];
                unsigned char *id = c->in + index + 2 + topic;
                unsigned char ack[4] = {0x40, 2, id[0], id[1]};
                memcpy(acks + *ack_length, ack, 4);
                *ack_length += 4;
            }
        } else if (type == 4) {
            c->acked++;
        }
        offset = index + length;
    }
    memmove(c->in, c->in + offset, c->used - offset);
    c->used -= offset;
    return publishes;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: fleet_load PORT CONNECTIONS RATE QOS SECONDS BROKER_PID LABEL\n");
        return 2;
    }
    int port = atoi(argv[1]), count = atoi(argv[2]), qos = atoi(argv[4]), pid = atoi(argv[6]);
    double rate = atof(argv[3]), seconds = atof(argv[5]);
    const char *label = argv[7];
    Conn *conns = calloc(count + 1, sizeof(Conn));
    int epoll = epoll_create1(0);
    Conn *historian = &conns[count];
    historian->fd = open_client(port, "fleet-historian");
    subscribe(historian->fd, "fleet/#", qos);
    for (int i = 0; i < count; i++) {
        char id[32];
        snprintf(id, sizeof id, "fleet-%d", i);
        conns[i].fd = open_client(port, id);
    }
    for (int i = 0; i <= count; i++) {
        fcntl(conns[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(epoll, EPOLL_CTL_ADD, conns[i].fd, &event);
    }
    /* One prebuilt PUBLISH per connection; only the packet id changes. */
    unsigned char (*packets)[160] = calloc(count, sizeof *packets);
    size_t *lengths = calloc(count, sizeof(size_t)), *id_offsets = calloc(count, sizeof(size_t));
    size_t *payload_offsets = calloc(count, sizeof(size_t));
    for (int i = 0; i < count; i++) {
        char topic[64];
        snprintf(topic, sizeof topic, "fleet/line%d/machine%d/telemetry", i % 20, i);
        unsigned char body[140];
        size_t n = put_string(body, topic);
        size_t id_at = n;
        if (qos) { body[n++] = 0; body[n++] = 0; }
        size_t payload_at = n;
        memset(body + n, 'v', PAYLOAD);
        n += PAYLOAD;
        size_t m = 0;
        packets[i][m++] = 0x30 | (qos << 1);
        m += put_length(packets[i] + m, n);
        memcpy(packets[i] + m, body, n);
        id_offsets[i] = m + id_at;
        payload_offsets[i] = m + payload_at;
        lengths[i] = m + n;
    }
    latency_capacity = (long)(rate * count * seconds * 2) + 1024;
    latencies = malloc(latency_capacity * sizeof(float));
    double total_rate = rate * count, start = now_s(), measure_at = start + 3, end = measure_at + seconds;
    long sent = 0, sent_at_measure = -1, received = 0, received_at_measure = 0, received_at_end = 0, sent_at_end = 0;
    CPU cpu_start = {0, 0}, cpu_end = {0, 0};
    long rss_start = 0, rss_end = 0;
    unsigned char acks[65536 * 4];
    struct epoll_event events[512];
    for (;;) {
        double t = now_s();
        if (sent_at_measure < 0 && t >= measure_at) {
            read_cpu(pid, &cpu_start, &rss_start);
            sent_at_measure = sent;
            received_at_measure = received;
            measuring = 1;
        }
        if (t >= end) {
            read_cpu(pid, &cpu_end, &rss_end);
            sent_at_end = sent;
            received_at_end = received;
            break;
        }
        long due = (long)((t - start) * total_rate);
        while (sent < due) {
            int i = sent % count;
            if (qos) {
                conns[i].next_id = conns[i].next_id == 65535 ? 1 : conns[i].next_id + 1;
                packets[i][id_offsets[i]] = conns[i].next_id >> 8;
                packets[i][id_offsets[i] + 1] = conns[i].next_id & 0xff;
            }
            double sent_at = now_s();
            memcpy(packets[i] + payload_offsets[i], &sent_at, sizeof sent_at);
            write_all(conns[i].fd, packets[i], lengths[i]);
            sent++;
        }
        double next = start + (sent + 1) / total_rate;
        int timeout = (int)((next - now_s()) * 1000);
        if (timeout < 0) timeout = 0;
        int ready = epoll_wait(epoll, events, 512, timeout);
        for (int e = 0; e < ready; e++) {
            Conn *c = &conns[events[e].data.u32];
            for (;;) {
                ssize_t r = read(c->fd, c->in + c->used, sizeof c->in - c->used);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
                if (r <= 0) { fprintf(stderr, "the broker closed a connection\n"); return 1; }
                c->used += r;
                size_t ack_length = 0;
                long got = drain(c, c == historian, acks, &ack_length);
                if (c == historian) received += got;
                if (ack_length) write_all(c->fd, acks, ack_length);
            }
        }
    }
    long window_sent = sent_at_end - sent_at_measure, window_received = received_at_end - received_at_measure;
    double user = cpu_end.user - cpu_start.user, system = cpu_end.system - cpu_start.system, cpu = user + system;
    double per_message = window_sent ? 1e6 / window_sent : 0;
    qsort(latencies, latency_count, sizeof(float), by_value);
    long acked = 0;
    for (int i = 0; i < count; i++) acked += conns[i].acked;
    printf("{\"label\": \"%s\", \"connections\": %d, \"qos\": %d, \"rate_per_connection\": %g, \"seconds\": %g, "
           "\"sent\": %ld, \"received\": %ld, \"acked_total\": %ld, \"broker_cpu_s\": %.3f, \"cpu_us_per_msg\": %.2f, "
           "\"user_us_per_msg\": %.2f, \"system_us_per_msg\": %.2f, \"msg_per_cpu_s\": %.0f, \"broker_rss_mb\": %ld, "
           "\"latency_ms_p50\": %.2f, \"latency_ms_p99\": %.2f, \"latency_ms_max\": %.2f}\n",
           label, count, qos, rate, seconds, window_sent, window_received, acked, cpu, cpu * per_message,
           user * per_message, system * per_message, cpu > 0 ? window_sent / cpu : 0, rss_end / 1024,
           percentile(0.5), percentile(0.99), latency_count ? latencies[latency_count - 1] : 0);
    return 0;
}
