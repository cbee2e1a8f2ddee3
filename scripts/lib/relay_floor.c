/*
 * The least an MQTT broker can do for the burst benchmark, to show what the kernel alone costs:
 * one epoll loop on non-blocking sockets that answers CONNECT, SUBSCRIBE and PINGREQ, acknowledges
 * each QoS 1 PUBLISH and forwards it to the subscribers whose filter is `#` or a prefix ending in
 * `/#`, at the lower of the two QoS, with a packet id of its own. It keeps no session, queue or
 * in-flight state, takes the subscriber's PUBACKs without looking at them, checks nothing and
 * writes each connection's output once per loop iteration. It is not a broker; it is the floor
 * under any broker that reads and writes the same packets (what a real one adds is user space).
 *
 *   relay_floor PORT
 *
 * MQTT 3.1.1 clients only (mosquitto_pub and mosquitto_sub by default). Build: cc -O2 -o relay_floor relay_floor.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 4096
#define IN_SIZE 65536
#define OUT_SIZE (4 << 20)

typedef struct {
    unsigned char in[IN_SIZE];
    size_t in_used;
    unsigned char *out;
    size_t out_used;
    int dirty;         /* listed in `dirty` for this iteration's flush */
    int sub_qos;       /* -1: not subscribed */
    char prefix[256];  /* the filter without its trailing `#` */
    uint16_t next_id;
} Conn;

static Conn *conns[MAX_FDS];
static int dirty[MAX_FDS];
static int dirty_count;
static int subscribers[64];
static int subscriber_count;

static void drop(int ep, int fd) {
    for (int i = 0; i < subscriber_count; i++) if (subscribers[i] == fd) subscribers[i--] = subscribers[--subscriber_count];
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(conns[fd]->out);
    free(conns[fd]);
    conns[fd] = NULL;
}

/* Appends bytes to a connection's output; written at the end of the loop iteration. */
static void emit(int fd, const unsigned char *bytes, size_t length) {
    Conn *c = conns[fd];
    if (!c || c->out_used + length > OUT_SIZE) return;  /* only a client that reads nothing: its answers are lost */
    memcpy(c->out + c->out_used, bytes, length);
    c->out_used += length;
    if (!c->dirty) { c->dirty = 1; dirty[dirty_count++] = fd; }
}

static void forward(const unsigned char *topic, size_t topic_length, const unsigned char *payload,
                    size_t payload_length, int qos) {
    for (int i = 0; i < subscriber_count; i++) {
        int fd = subscribers[i];
        Conn *s = conns[fd];
        size_t prefix_length = strlen(s->prefix);
        if (prefix_length > topic_length || memcmp(s->prefix, topic, prefix_length) != 0) continue;
        int out_qos = qos < s->sub_qos ? qos : s->sub_qos;
        size_t remaining = 2 + topic_length + (out_qos ? 2 : 0) + payload_length;
        if (s->out_used + 5 + remaining > OUT_SIZE) continue;  /* a subscriber that far behind loses the message */
        unsigned char header[5 + 2 + 2];
        size_t h = 0;
        header[h++] = (unsigned char)(0x30 | (out_qos << 1));
        size_t r = remaining;
        do { unsigned char b = r % 128; r /= 128; header[h++] = b | (r ? 0x80 : 0); } while (r);
        header[h++] = (unsigned char)(topic_length >> 8);
        header[h++] = (unsigned char)topic_length;
        emit(fd, header, h);
        emit(fd, topic, topic_length);
        if (out_qos) {
            if (++s->next_id == 0) s->next_id = 1;
            unsigned char id[2] = {(unsigned char)(s->next_id >> 8), (unsigned char)s->next_id};
            emit(fd, id, 2);
        }
        emit(fd, payload, payload_length);
    }
}

/* Handles one whole packet from fd. */
static void packet(int fd, unsigned char type, const unsigned char *body, size_t length) {
    switch (type >> 4) {
    case 1: {  /* CONNECT */
        static const unsigned char connack[] = {0x20, 0x02, 0x00, 0x00};
        emit(fd, connack, sizeof connack);
        break;
    }
    case 3: {  /* PUBLISH */
        int qos = (type >> 1) & 3;
        if (length < 2) return;
        size_t topic_length = (size_t)body[0] << 8 | body[1];
        size_t at = 2 + topic_length;
        if (at + (qos ? 2 : 0) > length) return;
        if (qos == 1) {
            unsigned char puback[] = {0x40, 0x02, body[at], body[at + 1]};
            emit(fd, puback, sizeof puback);
        }
        if (qos) at += 2;
        forward(body + 2, topic_length, body + at, length - at, qos > 1 ? 1 : qos);
        break;
    }
    case 8: {  /* SUBSCRIBE: the first filter */
        if (length < 5) return;
        size_t filter_length = (size_t)body[2] << 8 | body[3];
        if (4 + filter_length + 1 > length || filter_length == 0 || filter_length > sizeof conns[fd]->prefix) return;
        Conn *c = conns[fd];
        if (c->sub_qos < 0) {
            if (subscriber_count == 64) return;
            subscribers[subscriber_count++] = fd;
        }
        memcpy(c->prefix, body + 4, filter_length - 1);  /* `#` or `a/b/#`: keep what precedes `#` */
        c->prefix[filter_length - 1] = 0;
        c->sub_qos = body[4 + filter_length] & 3;
        if (c->sub_qos > 1) c->sub_qos = 1;
        unsigned char suback[] = {0x90, 0x03, body[0], body[1], (unsigned char)c->sub_qos};
        emit(fd, suback, sizeof suback);
        break;
    }
    case 12: {  /* PINGREQ */
        static const unsigned char pingresp[] = {0xD0, 0x00};
        emit(fd, pingresp, sizeof pingresp);
        break;
    }
    default:  /* PUBACK and the rest: nothing to do */
        break;
    }
}

/* Cuts whole packets from the connection's input; returns -1 on a malformed length. */
static int readable(int fd) {
    Conn *c = conns[fd];
    for (;;) {
        ssize_t n = read(fd, c->in + c->in_used, IN_SIZE - c->in_used);
        if (n == 0) return -1;
        if (n < 0) return errno == EAGAIN ? 0 : -1;
        c->in_used += (size_t)n;
        size_t at = 0;
        while (c->in_used - at >= 2) {
            size_t remaining = 0, multiplier = 1, h = 1;
            for (;;) {
                if (at + h >= c->in_used) goto partial;
                unsigned char b = c->in[at + h++];
                remaining += (b & 127) * multiplier;
                multiplier *= 128;
                if (!(b & 128)) break;
                if (h > 4) return -1;
            }
            if (at + h + remaining > c->in_used) {
                if (h + remaining > IN_SIZE) return -1;
                break;
            }
            packet(fd, c->in[at], c->in + at + h, remaining);
            at += h + remaining;
        }
    partial:
        memmove(c->in, c->in + at, c->in_used - at);
        c->in_used -= at;
        if ((size_t)n < IN_SIZE) return 0;  /* the socket had no more */
    }
}

/* Writes what each connection gathered this iteration; a full socket waits for EPOLLOUT. */
static void flush_all(int ep) {
    for (int i = 0; i < dirty_count; i++) {
        int fd = dirty[i];
        Conn *c = conns[fd];
        if (!c) continue;
        size_t done = 0;
        while (done < c->out_used) {
            ssize_t n = write(fd, c->out + done, c->out_used - done);
            if (n > 0) { done += (size_t)n; continue; }
            if (n < 0 && errno == EAGAIN) {
                memmove(c->out, c->out + done, c->out_used - done);
                c->out_used -= done;
                done = 0;
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                goto next;
            }
            drop(ep, fd);
            goto next;
        }
        c->out_used = 0;
        c->dirty = 0;
    next:;
    }
    int kept = 0;  /* those a full socket stopped stay listed until written */
    for (int i = 0; i < dirty_count; i++) if (conns[dirty[i]] && conns[dirty[i]]->dirty) dirty[kept++] = dirty[i];
    dirty_count = kept;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: relay_floor PORT\n"); return 2; }
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 1024)) { perror("bind"); return 1; }
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int client;
                while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (client >= MAX_FDS) { close(client); continue; }
                    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conns[client] = calloc(1, sizeof(Conn));
                    conns[client]->out = malloc(OUT_SIZE);
                    conns[client]->sub_qos = -1;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = client};
                    epoll_ctl(ep, EPOLL_CTL_ADD, client, &cev);
                }
                continue;
            }
            if (!conns[fd]) continue;
            if (events[i].events & EPOLLOUT) {  /* room again: it is still listed, the flush below writes */
                struct epoll_event cev = {.events = EPOLLIN, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
            }
            if ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && readable(fd) < 0) drop(ep, fd);
        }
        flush_all(ep);
    }
}
