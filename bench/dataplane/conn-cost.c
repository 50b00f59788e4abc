/*
 * The per-connection probe of `bench conn-cost`: a client and a backend in C, so that what is timed is
 * the kernel's path for a new connection and not a runtime's. Built with the host's cc at run time.
 *
 *   conn-cost serve PORT            accept and close, forever (the backend pod)
 *   conn-cost connect IP PORT COUNT [GAP_US]
 *                                   COUNT connections one after another; prints the CLOCK_MONOTONIC
 *                                   nanoseconds each blocking connect() took, one a line
 *
 * connect() returns when the SYN/ACK is back: the SYN's whole path (the data plane's lookup for the first
 * packet: iptables chains, nftables maps, IPVS scheduling, then DNAT and conntrack) and the SYN/ACK's
 * way back. Under qemu's -icount the guest clock counts instructions, so this is an instruction count.
 * The connection is then reset (SO_LINGER 0): no TIME_WAIT, so the port range lasts, and the reset
 * is not timed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long parse_long(const char *text, long min, long max, const char *what) {
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "conn-cost: %s must be an integer %ld-%ld, got \"%s\"\n", what, min, max, text);
    exit(2);
  }
  return v;
}

static int serve(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 4096) != 0) {
    perror("conn-cost serve");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c >= 0) close(c);
  }
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int connect_many(const char *ip, int port, long count, long gap_us) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "conn-cost: not an IPv4 address: %s\n", ip);
    return 2;
  }
  struct linger reset = {.l_onoff = 1, .l_linger = 0};
  for (long i = 0; i < count; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
      perror("conn-cost socket");
      return 1;
    }
    setsockopt(s, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    long long t0 = now_ns();
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    long long t1 = now_ns();
    if (r != 0) {
      fprintf(stderr, "conn-cost: connect %s:%d: %s\n", ip, port, strerror(errno));
      close(s);
      return 1;
    }
    printf("%lld\n", t1 - t0);
    close(s);
    /* Let the backend accept and the resets drain before the next timed connect. */
    if (gap_us > 0) usleep((useconds_t)gap_us);
  }
  return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "serve") == 0) return serve((int)parse_long(argv[2], 1, 65535, "port"));
  if ((argc == 5 || argc == 6) && strcmp(argv[1], "connect") == 0) {
    return connect_many(argv[2], (int)parse_long(argv[3], 1, 65535, "port"), parse_long(argv[4], 1, 1000000, "count"),
                        argc == 6 ? parse_long(argv[5], 0, 1000000, "gap") : 1000);
  }
  fprintf(stderr, "usage: conn-cost serve PORT | conn-cost connect IP PORT COUNT [GAP_US]\n");
  return 2;
}
