// Native TCP relay of the userspace proxy (src/proxy/native-relay.ts): once a relayed
// connection's two sockets are established, JavaScript hands both file descriptors over and this
// addon moves the bytes on its own epoll thread, with no JavaScript (and no libuv stream
// machinery) per chunk. What a relay does is what the JavaScript relay in src/proxy/tcp.ts does:
//   - each chunk read is written to the other socket at once; when the kernel takes only part
//     of it, the rest is kept and that direction reads no more until it has gone (backpressure);
//   - a FIN read on one side is passed on as shutdown(SHUT_WR) of the other once everything
//     read before it has been written (half-close), and the other direction carries on;
//   - a failed read resets the other side, a failed write resets the side read from (an abortive
//     close travels through as one);
//   - both FINs passed on: both sockets are closed, the relay is over.
// Every relay's end is reported to JavaScript (ended relays are batched per wake-up of the
// main thread) with how it ended and the bytes carried each way.
//
// Reads go into one buffer of the thread: an idle relay holds no buffer, only a relay with a
// partly written chunk keeps that remainder.
//
// The thread can also serve listening sockets itself (listen(): a TCP frontend of the userspace
// proxy, src/proxy/tcp.ts' NativeListener): it accepts, picks the endpoint from a table that
// JavaScript programs (setTable: round-robin or random over the usable endpoints), dials without
// blocking and relays, with no JavaScript per connection (see "accepting and dialing" below).
// Those connections are counted per group (one per proxy) and not reported one by one. A table
// for ClientIP affinity (mode 2) hands each accepted socket to JavaScript instead.
//
// Threading: the epoll thread alone touches relays. The main thread passes new relays and
// close requests through a queue and an eventfd; relays are numbered by a slot and a
// generation, so a close request for a relay that has ended meanwhile finds nothing.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#define READ_BUFFER_BYTES (64 * 1024)
#define MAX_EVENTS 256
// Slots are numbered below 2^24; the generation goes above (an id stays an exact double).
#define SLOT_BITS 24
#define SLOT_LIMIT (1u << SLOT_BITS)

// How a relay ended, as reported: DETACHED hands its two sockets back (to be relayed elsewhere);
// KEPT answers a detach that could not be done (bytes in flight, or a FIN seen), the relay goes on.
// ACCEPTED is no end: a listener whose table is for JavaScript (ClientIP affinity) hands the
// accepted socket over (the id is the listener's, fds[0] the socket). GROUP_DETACHED: a relay
// accepted here, detached by detachGroup (the id is the group's, fds both sockets).
enum end_reason { END_CLEAN = 0, END_RESET = 1, END_CLOSED = 2, END_DETACHED = 3, END_KEPT = 4, END_ACCEPTED = 5, END_GROUP_DETACHED = 6 };

typedef struct relay relay;

// One socket of a relay; what epoll's data.ptr points at (a listener starts with one, owner NULL).
typedef struct {
  relay *owner;
  int fd;
  uint32_t events;  // the interest registered with epoll; 0: not in the epoll set
} side;

// One direction: from side[i] to side[1 - i].
typedef struct {
  char *pending;  // bytes read but not written yet (malloc'd remainder of a partial write)
  size_t pending_off, pending_len;
  int eof;        // the FIN has been read
  int fin_sent;   // ... and passed on
  double bytes;   // bytes read (all of them are written unless the relay fails)
} direction;

// Connection counters of a group of listeners (one proxy's), as src/proxy/metrics.ts counts them;
// written by the epoll thread, read by the main thread (relaxed atomics).
typedef struct {
  int64_t accepted, active, rejected, dial_errors;
  uint32_t index;  // the group's id
} group_counters;

#define MAX_DIALS 3

typedef struct {
  struct sockaddr_storage addr;
  socklen_t len;
} endpoint_addr;

struct relay {
  side sides[2];  // 0: client, 1: endpoint
  direction dirs[2];
  uint32_t slot, gen;
  int ended;
  relay *next_dead;
  // Accepted here (not handed over by JavaScript): counted in `group`, its end not reported.
  group_counters *group;
  uint32_t table;       // where its endpoint is picked (again after a failed dial)
  int connecting;       // the endpoint's connect is under way; the client is not read yet
  int dials;            // endpoints that failed so far, in `failed`
  endpoint_addr failed[MAX_DIALS];
  uint64_t accepted_ms;  // when it was accepted (monotonic): only settled relays are detached
};

// Endpoints of a Service port, programmed by JavaScript (the usable ones, in its order).
enum table_mode { TABLE_ROUND_ROBIN = 0, TABLE_RANDOM = 1, TABLE_JS = 2 };
typedef struct {
  int mode;
  uint32_t count, next;
  endpoint_addr *endpoints;
} table;

// A listening socket the epoll thread accepts on. Closed by the main thread under the state's
// lock (so that a close is done when close() returns); freed by the epoll thread.
typedef struct {
  side s;  // s.owner == NULL
  double id;
  uint32_t table;
  group_counters *group;
  int closed;
  void *next_dead;
} listener;

typedef struct {
  double id;
  int reason;
  double to_endpoint, to_client;
  int fds[2];  // the sockets handed back by a detach, -1 otherwise
} end_record;

// Commands from the main thread.
typedef struct {
  int kind;  // 0: start relaying `r`; 1: close relay `id`; 2: detach relay `id`; 3: free listener `l`;
             // 4: close the relays accepted for group `g`; 5: detach up to `count` settled relays of `g`
  relay *r;
  double id;
  listener *l;
  group_counters *g;
  uint32_t count;
  uint64_t min_age_ms;
} command;

typedef struct {
  pthread_mutex_t lock;
  // Slots: the relay in each (NULL when free), its generation, the free list.
  relay **slots;
  uint32_t *gens;
  uint32_t slot_count, slot_cap;
  uint32_t *free_slots;
  uint32_t free_count;
  // Commands to the thread.
  command *commands;
  size_t command_count, command_cap;
  // Ends to report to JavaScript.
  end_record *ends;
  size_t end_count, end_cap;
  int epfd, wakefd;
  int stopping;
  pthread_t thread;
  int thread_started;
  napi_threadsafe_function on_end;
  char *buffer;  // the epoll thread's read buffer
  // Tables by index (NULL: free), under the lock.
  table **tables;
  uint32_t table_count, table_cap;
  // Listeners by id (the main thread's; NULL once closed).
  listener **listeners;
  uint32_t listener_count, listener_cap;
  // Groups of listeners, by id (never freed: one per proxy).
  group_counters **groups;
  uint32_t group_count, group_cap;
  listener *dead_listeners;  // the epoll thread's, freed after each batch of events
  int spare_fd;              // given up to reset a connection when out of descriptors (accept_on)
  uint64_t rng;
} relay_state;

// ---- the epoll thread ---------------------------------------------------------------------------

// A socket with nothing to wait for leaves the epoll set: epoll reports a hang-up (the peer's
// FIN in, ours out) whatever the interest, and would report it again and again while that
// socket waits for the other one (unread bytes may still be behind that FIN). An error on it
// surfaces at its next read or write, as with libuv.
static void set_interest(relay_state *st, side *s, uint32_t events) {
  if (s->events == events) return;
  struct epoll_event ev = {.events = events, .data.ptr = s};
  int op = events == 0 ? EPOLL_CTL_DEL : s->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  s->events = events;
  epoll_ctl(st->epfd, op, s->fd, &ev);
}

// Side i reads while its direction has nothing pending and no FIN; it waits to write while the
// other direction has something pending for it.
static void update_interest(relay_state *st, relay *r) {
  for (int i = 0; i < 2; i++) {
    uint32_t events = 0;
    if (!r->dirs[i].eof && !r->dirs[i].pending) events |= EPOLLIN;
    if (r->dirs[1 - i].pending) events |= EPOLLOUT;
    set_interest(st, &r->sides[i], events);
  }
}

static double relay_id(relay *r) { return (double)r->gen * SLOT_LIMIT + r->slot; }

// Queue a report for JavaScript under `id` (the relay's, or its group's for GROUP_DETACHED);
// `release`: the relay is over here, its slot is free again.
static void report_as(relay_state *st, relay *r, double id, int reason, int release, int client_fd, int endpoint_fd) {
  pthread_mutex_lock(&st->lock);
  if (release) {
    st->slots[r->slot] = NULL;
    st->gens[r->slot]++;
    st->free_slots[st->free_count++] = r->slot;
  }
  int was_empty = st->end_count == 0;
  if (st->end_count == st->end_cap) {
    st->end_cap = st->end_cap ? st->end_cap * 2 : 64;
    st->ends = realloc(st->ends, st->end_cap * sizeof(end_record));
  }
  st->ends[st->end_count++] = (end_record){.id = id, .reason = reason, .to_endpoint = r->dirs[0].bytes,
      .to_client = r->dirs[1].bytes, .fds = {client_fd, endpoint_fd}};
  pthread_mutex_unlock(&st->lock);
  // One call per batch: the main thread takes every report queued by the time it runs.
  if (was_empty) napi_call_threadsafe_function(st->on_end, NULL, napi_tsfn_nonblocking);
}

static void report(relay_state *st, relay *r, int reason, int release, int client_fd, int endpoint_fd) {
  report_as(st, r, relay_id(r), reason, release, client_fd, endpoint_fd);
}

// A relay accepted here ends without a report: its slot is free again, its group counts it out.
static void release_quietly(relay_state *st, relay *r) {
  pthread_mutex_lock(&st->lock);
  st->slots[r->slot] = NULL;
  st->gens[r->slot]++;
  st->free_slots[st->free_count++] = r->slot;
  pthread_mutex_unlock(&st->lock);
  __atomic_fetch_sub(&r->group->active, 1, __ATOMIC_RELAXED);
}

static void unregister(relay_state *st, relay *r) {
  // Closing our descriptor does not take the socket out of the epoll set while another one
  // refers to it: JavaScript closes its own just after handing a relay over, and a relay can end
  // before that. The registration must not outlive the relay.
  set_interest(st, &r->sides[0], 0);
  set_interest(st, &r->sides[1], 0);
}

static void reset_fd(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

// Close both sockets, resetting side `reset_side` (-1: none); the relay is freed after the batch
// of events being handled, which may still name it.
static void end_relay(relay_state *st, relay *r, int reset_side, int reason, relay **dead) {
  if (r->ended) return;
  r->ended = 1;
  // Out of the epoll set before the close, also for a relay accepted here whose descriptors are
  // the process's only ones: a child process between its fork and its exec holds copies of every
  // descriptor, and a socket closed meanwhile stays open and registered — and one that has seen
  // its FIN or a reset is ready at once, an event for a relay already freed.
  unregister(st, r);
  for (int i = 0; i < 2; i++) {
    if (r->sides[i].fd < 0) continue;
    if (i == reset_side) reset_fd(r->sides[i].fd);
    else close(r->sides[i].fd);
  }
  if (r->group) release_quietly(st, r);
  else report(st, r, reason, 1, -1, -1);
  r->next_dead = *dead;
  *dead = r;
}

// Stop relaying and hand both sockets back, when nothing is in flight and no FIN has been seen
// (what JavaScript's relay needs to take a connection over); otherwise answer that it goes on.
static void detach_relay(relay_state *st, relay *r, relay **dead) {
  for (int i = 0; i < 2; i++) {
    if (r->dirs[i].pending || r->dirs[i].eof) {
      report(st, r, END_KEPT, 0, -1, -1);
      return;
    }
  }
  r->ended = 1;
  unregister(st, r);
  report(st, r, END_DETACHED, 1, r->sides[0].fd, r->sides[1].fd);
  r->next_dead = *dead;
  *dead = r;
}

// Pass direction i's FIN on once nothing is pending; the relay ends when both have been.
static void pass_fin(relay_state *st, relay *r, int i, relay **dead) {
  direction *d = &r->dirs[i];
  if (!d->eof || d->pending || d->fin_sent) return;
  d->fin_sent = 1;
  if (r->dirs[1 - i].fin_sent) {
    end_relay(st, r, -1, END_CLEAN, dead);
    return;
  }
  if (shutdown(r->sides[1 - i].fd, SHUT_WR) < 0) end_relay(st, r, i, END_RESET, dead);
}

// Write what direction i has pending; 0 when the relay goes on.
static int flush(relay_state *st, relay *r, int i, relay **dead) {
  direction *d = &r->dirs[i];
  while (d->pending_off < d->pending_len) {
    ssize_t w = send(r->sides[1 - i].fd, d->pending + d->pending_off, d->pending_len - d->pending_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EINTR) return 0;
      end_relay(st, r, i, END_RESET, dead);
      return -1;
    }
    d->pending_off += (size_t)w;
  }
  free(d->pending);
  d->pending = NULL;
  pass_fin(st, r, i, dead);
  return r->ended ? -1 : 0;
}

// Read one chunk of direction i and write it on at once.
static void read_chunk(relay_state *st, relay *r, int i, relay **dead) {
  direction *d = &r->dirs[i];
  ssize_t n = recv(r->sides[i].fd, st->buffer, READ_BUFFER_BYTES, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    end_relay(st, r, 1 - i, END_RESET, dead);
    return;
  }
  if (n == 0) {
    d->eof = 1;
    pass_fin(st, r, i, dead);
    return;
  }
  d->bytes += (double)n;
  ssize_t w = send(r->sides[1 - i].fd, st->buffer, (size_t)n, MSG_NOSIGNAL);
  if (w < 0) {
    if (errno != EAGAIN && errno != EINTR) {
      end_relay(st, r, i, END_RESET, dead);
      return;
    }
    w = 0;
  }
  if (w < n) {
    d->pending_len = (size_t)(n - w);
    d->pending_off = 0;
    d->pending = malloc(d->pending_len);
    memcpy(d->pending, st->buffer + w, d->pending_len);
  }
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

// A relay accepted for group g that could be handed to another process now: connected, nothing
// in flight, no FIN seen, and older than min_age_ms (a keep-alive connection, not a short one).
// Read under the state's lock (so that it is not freed meanwhile); its other fields are the epoll
// thread's, and a count made from the main thread is a snapshot.
static int settled_in(relay *r, group_counters *g, uint64_t min_age_ms, uint64_t now) {
  if (!r || r->group != g || r->ended || r->connecting || r->sides[1].fd < 0) return 0;
  for (int i = 0; i < 2; i++) {
    if (r->dirs[i].pending || r->dirs[i].eof) return 0;
  }
  return now - r->accepted_ms >= min_age_ms;
}

// ---- accepting and dialing (listeners served here) ----------------------------------------------
//
// What src/proxy/tcp.ts does for a connection accepted in JavaScript, without JavaScript: the
// endpoint is picked from the listener's table (round-robin from the table's position, or at
// random) and dialed before any client byte is read; a dial that fails with an error saying
// "this endpoint does not answer" is retried on another endpoint not tried yet, up to MAX_DIALS
// endpoints, else the client is reset; no endpoint left: the client is reset and counted as
// rejected. Once connected, the relay is one like those JavaScript hands over.

static int retriable(int err) {
  return err == ECONNREFUSED || err == ECONNRESET || err == EHOSTUNREACH || err == ENETUNREACH || err == ETIMEDOUT || err == EADDRNOTAVAIL;
}

// Count a failed dial; whether another endpoint may be tried.
static int dial_failed(relay *r, int err) {
  __atomic_fetch_add(&r->group->dial_errors, 1, __ATOMIC_RELAXED);
  r->dials++;
  return r->dials < MAX_DIALS && retriable(err);
}

static int same_addr(const endpoint_addr *a, const endpoint_addr *b) {
  return a->len == b->len && memcmp(&a->addr, &b->addr, a->len) == 0;
}

static uint64_t next_random(relay_state *st) {
  uint64_t x = st->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return st->rng = x;
}

// Pick r's next endpoint into r->failed[r->dials] (where it is kept should it fail); 0: none left.
static int pick(relay_state *st, relay *r) {
  int found = 0;
  pthread_mutex_lock(&st->lock);
  table *t = r->table < st->table_count ? st->tables[r->table] : NULL;
  uint32_t n = t ? t->count : 0;
  if (n) {
    if (t->mode == TABLE_RANDOM) {
      // Uniformly among the endpoints not tried yet.
      uint32_t nleft = 0;
      for (uint32_t k = 0; k < n; k++) {
        int excluded = 0;
        for (int d = 0; d < r->dials; d++) excluded |= same_addr(&t->endpoints[k], &r->failed[d]);
        nleft += !excluded;
      }
      if (nleft) {
        uint32_t chosen = (uint32_t)(next_random(st) % nleft);
        for (uint32_t k = 0; k < n && !found; k++) {
          int excluded = 0;
          for (int d = 0; d < r->dials; d++) excluded |= same_addr(&t->endpoints[k], &r->failed[d]);
          if (excluded) continue;
          if (chosen-- == 0) {
            r->failed[r->dials] = t->endpoints[k];
            found = 1;
          }
        }
      }
    } else {
      // Round-robin goes on from its position, skipping the endpoints tried.
      for (uint32_t k = 0; k < n && !found; k++) {
        endpoint_addr *e = &t->endpoints[t->next];
        t->next = t->next + 1 == n ? 0 : t->next + 1;
        int excluded = 0;
        for (int d = 0; d < r->dials; d++) excluded |= same_addr(e, &r->failed[d]);
        if (!excluded) {
          r->failed[r->dials] = *e;
          found = 1;
        }
      }
    }
  }
  pthread_mutex_unlock(&st->lock);
  return found;
}

static void dial(relay_state *st, relay *r, relay **dead) {
  for (;;) {
    if (!pick(st, r)) {
      __atomic_fetch_add(&r->group->rejected, 1, __ATOMIC_RELAXED);
      end_relay(st, r, 0, END_RESET, dead);
      return;
    }
    endpoint_addr *ep = &r->failed[r->dials];
    int fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err;
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect(fd, (struct sockaddr *)&ep->addr, ep->len) == 0 || errno == EINPROGRESS) {
        r->sides[1].fd = fd;
        r->connecting = 1;
        set_interest(st, &r->sides[1], EPOLLOUT);
        return;
      }
      err = errno;
      close(fd);
    } else {
      err = errno;
    }
    if (!dial_failed(r, err)) {
      end_relay(st, r, 0, END_RESET, dead);
      return;
    }
  }
}

// Give a relay a slot (the lock held).
static void take_slot(relay_state *st, relay *r) {
  uint32_t slot;
  if (st->free_count) {
    slot = st->free_slots[--st->free_count];
  } else {
    if (st->slot_count == st->slot_cap) {
      st->slot_cap = st->slot_cap ? st->slot_cap * 2 : 1024;
      st->slots = realloc(st->slots, st->slot_cap * sizeof(relay *));
      st->gens = realloc(st->gens, st->slot_cap * sizeof(uint32_t));
      st->free_slots = realloc(st->free_slots, st->slot_cap * sizeof(uint32_t));
    }
    slot = st->slot_count++;
    st->gens[slot] = 0;
  }
  st->slots[slot] = r;
  r->slot = slot;
  r->gen = st->gens[slot];
}

// Connections accepted per readiness of a listener, so that a burst of new connections takes
// turns with the relays' own events in the same epoll_wait batch (the listener stays ready, so
// the rest is accepted on the next turn).
#define ACCEPT_BATCH 4

static void accept_on(relay_state *st, listener *l, relay **dead) {
  for (int k = 0; k < ACCEPT_BATCH; k++) {
    pthread_mutex_lock(&st->lock);
    if (l->closed) {
      pthread_mutex_unlock(&st->lock);
      return;
    }
    int fd = accept4(l->s.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // EAGAIN: nothing (left) to accept. Out of descriptors, the connection would stay queued
      // and the listener ready, again and again: as libuv does, the spare descriptor kept for
      // this is given up to accept it and reset it, then taken again.
      if ((errno == EMFILE || errno == ENFILE) && st->spare_fd >= 0) {
        close(st->spare_fd);
        int dropped = accept4(l->s.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (dropped >= 0) reset_fd(dropped);
        st->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      }
      pthread_mutex_unlock(&st->lock);
      return;
    }
    table *t = l->table < st->table_count ? st->tables[l->table] : NULL;
    if (t && t->mode == TABLE_JS) {
      // JavaScript picks (ClientIP affinity): the socket is its.
      int was_empty = st->end_count == 0;
      if (st->end_count == st->end_cap) {
        st->end_cap = st->end_cap ? st->end_cap * 2 : 64;
        st->ends = realloc(st->ends, st->end_cap * sizeof(end_record));
      }
      st->ends[st->end_count++] = (end_record){.id = l->id, .reason = END_ACCEPTED, .fds = {fd, -1}};
      pthread_mutex_unlock(&st->lock);
      if (was_empty) napi_call_threadsafe_function(st->on_end, NULL, napi_tsfn_nonblocking);
      continue;
    }
    relay *r = calloc(1, sizeof(relay));
    r->sides[0] = (side){.owner = r, .fd = fd};
    r->sides[1] = (side){.owner = r, .fd = -1};
    r->group = l->group;
    r->table = l->table;
    r->accepted_ms = now_ms();
    take_slot(st, r);
    pthread_mutex_unlock(&st->lock);
    __atomic_fetch_add(&r->group->accepted, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&r->group->active, 1, __ATOMIC_RELAXED);
    dial(st, r, dead);
  }
}

static void handle_event(relay_state *st, side *s, uint32_t ev, relay **dead) {
  relay *r = s->owner;
  if (!r) {
    accept_on(st, (listener *)s, dead);
    return;
  }
  if (r->ended) return;
  int i = s == &r->sides[0] ? 0 : 1;
  if (r->connecting) {
    // Only the endpoint's side is registered while its connect is under way.
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(r->sides[1].fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0) {
      // Connected (whatever came since, bytes, a FIN or a reset, is read as on any relay).
      r->connecting = 0;
      update_interest(st, r);
      return;
    }
    set_interest(st, &r->sides[1], 0);
    close(r->sides[1].fd);
    r->sides[1].fd = -1;
    r->connecting = 0;
    if (dial_failed(r, err)) dial(st, r, dead);
    else end_relay(st, r, 0, END_RESET, dead);
    return;
  }
  int acted = 0;
  if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && r->dirs[1 - i].pending) {
    acted = 1;
    if (flush(st, r, 1 - i, dead)) return;
  }
  if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !r->dirs[i].eof && !r->dirs[i].pending) {
    acted = 1;
    read_chunk(st, r, i, dead);
    if (r->ended) return;
  }
  if (!acted) {
    // Only an error or hang-up comes unasked (the interest follows what each side waits for):
    // the socket failed, so does the relay.
    end_relay(st, r, 1 - i, END_RESET, dead);
    return;
  }
  update_interest(st, r);
}

static void start_relay(relay_state *st, relay *r, relay **dead) {
  for (int i = 0; i < 2; i++) {
    side *s = &r->sides[i];
    s->events = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
      end_relay(st, r, -1, END_RESET, dead);
      return;
    }
  }
  // Bytes JavaScript read before the hand-over go first.
  for (int i = 0; i < 2; i++) {
    if (r->dirs[i].pending && flush(st, r, i, dead)) return;
  }
  update_interest(st, r);
}

static void run_commands(relay_state *st, relay **dead) {
  uint64_t count;
  if (read(st->wakefd, &count, sizeof count) < 0) { /* nothing queued: a spurious wake-up */ }
  pthread_mutex_lock(&st->lock);
  command *commands = st->commands;
  size_t n = st->command_count;
  st->commands = NULL;
  st->command_count = st->command_cap = 0;
  pthread_mutex_unlock(&st->lock);
  for (size_t k = 0; k < n; k++) {
    command *c = &commands[k];
    if (c->kind == 0) {
      start_relay(st, c->r, dead);
      continue;
    }
    if (c->kind == 3) {
      // Closed (and out of the epoll set) already; an event of this batch may still name it.
      c->l->next_dead = st->dead_listeners;
      st->dead_listeners = c->l;
      continue;
    }
    if (c->kind == 4) {
      pthread_mutex_lock(&st->lock);
      size_t count = 0;
      relay **group = malloc((st->slot_count + 1) * sizeof(relay *));
      for (uint32_t k = 0; k < st->slot_count; k++) {
        if (st->slots[k] && st->slots[k]->group == c->g) group[count++] = st->slots[k];
      }
      pthread_mutex_unlock(&st->lock);
      for (size_t k = 0; k < count; k++) end_relay(st, group[k], -1, END_CLOSED, dead);
      free(group);
      continue;
    }
    if (c->kind == 5) {
      // Hand settled relays of the group back to JavaScript, to be relayed by another process
      // (src/proxy/worker-main.ts evens out the proxy workers' keep-alive connections): out of
      // the epoll set, both sockets left open and reported; the group counts them out.
      uint64_t now = now_ms();
      pthread_mutex_lock(&st->lock);
      size_t count = 0;
      relay **picked = malloc((c->count + 1) * sizeof(relay *));
      for (uint32_t k = 0; k < st->slot_count && count < c->count; k++) {
        if (settled_in(st->slots[k], c->g, c->min_age_ms, now)) picked[count++] = st->slots[k];
      }
      pthread_mutex_unlock(&st->lock);
      for (size_t k = 0; k < count; k++) {
        relay *r = picked[k];
        r->ended = 1;
        unregister(st, r);
        __atomic_fetch_sub(&r->group->active, 1, __ATOMIC_RELAXED);
        report_as(st, r, c->g->index, END_GROUP_DETACHED, 1, r->sides[0].fd, r->sides[1].fd);
        r->next_dead = *dead;
        *dead = r;
      }
      free(picked);
      continue;
    }
    uint32_t slot = (uint32_t)((uint64_t)c->id % SLOT_LIMIT);
    uint32_t gen = (uint32_t)((uint64_t)c->id / SLOT_LIMIT);
    pthread_mutex_lock(&st->lock);
    relay *r = slot < st->slot_count && st->gens[slot] == gen ? st->slots[slot] : NULL;
    pthread_mutex_unlock(&st->lock);
    if (!r) continue;
    if (c->kind == 1) end_relay(st, r, -1, END_CLOSED, dead);
    else detach_relay(st, r, dead);
  }
  free(commands);
}

static void free_relay(relay *r) {
  free(r->dirs[0].pending);
  free(r->dirs[1].pending);
  free(r);
}

static void *relay_thread(void *arg) {
  relay_state *st = arg;
  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(st->epfd, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    relay *dead = NULL;
    for (int k = 0; k < n; k++) {
      if (events[k].data.ptr == NULL) {
        if (__atomic_load_n(&st->stopping, __ATOMIC_ACQUIRE)) goto stop;
        run_commands(st, &dead);
      } else {
        handle_event(st, events[k].data.ptr, events[k].events, &dead);
      }
    }
    while (dead) {
      relay *next = dead->next_dead;
      free_relay(dead);
      dead = next;
    }
    while (st->dead_listeners) {
      listener *next = st->dead_listeners->next_dead;
      free(st->dead_listeners);
      st->dead_listeners = next;
    }
  }
stop:
  return NULL;
}

// ---- the main thread ----------------------------------------------------------------------------

static void stop_thread(void *data);

static void push_command(relay_state *st, command c) {
  pthread_mutex_lock(&st->lock);
  int was_empty = st->command_count == 0;
  if (st->command_count == st->command_cap) {
    st->command_cap = st->command_cap ? st->command_cap * 2 : 64;
    st->commands = realloc(st->commands, st->command_cap * sizeof(command));
  }
  st->commands[st->command_count++] = c;
  pthread_mutex_unlock(&st->lock);
  // The thread takes the whole queue per wake-up: one write per batch.
  if (was_empty) {
    uint64_t one = 1;
    if (write(st->wakefd, &one, sizeof one) < 0) { /* the counter is full: the thread is awake anyway */ }
  }
}

static napi_value throw_errno(napi_env env, const char *what) {
  char message[128];
  int err = errno;
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  // The error's `code` is the errno's name, as Node's own errors have it.
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 32)
  napi_throw_error(env, strerrorname_np(err), message);
#else
  napi_throw_error(env, NULL, message);
#endif
  return NULL;
}

// Runs on the main thread with the reports queued so far:
// callback(id, reason, toEndpoint, toClient, clientFd, endpointFd) for each.
static void call_on_end(napi_env env, napi_value callback, void *context, void *data) {
  (void)data;
  relay_state *st = context;
  if (!env) return;
  pthread_mutex_lock(&st->lock);
  end_record *ends = st->ends;
  size_t n = st->end_count;
  st->ends = NULL;
  st->end_count = st->end_cap = 0;
  pthread_mutex_unlock(&st->lock);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t k = 0; k < n; k++) {
    napi_value argv[6];
    napi_create_double(env, ends[k].id, &argv[0]);
    napi_create_int32(env, ends[k].reason, &argv[1]);
    napi_create_double(env, ends[k].to_endpoint, &argv[2]);
    napi_create_double(env, ends[k].to_client, &argv[3]);
    napi_create_int32(env, ends[k].fds[0], &argv[4]);
    napi_create_int32(env, ends[k].fds[1], &argv[5]);
    napi_status status = napi_call_function(env, undefined, callback, 6, argv, NULL);
    if (status == napi_pending_exception) {
      // Reported like any uncaught exception, after the rest have been delivered.
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e);
    }
  }
  free(ends);
}

// start(onEnd): start the epoll thread; onEnd(id, reason, bytesToEndpoint, bytesToClient,
// clientFd, endpointFd) is called for every relay that ends (reason 0: both FINs passed on,
// 1: reset, 2: closed by close(), 3: detached by detach(): the descriptors are the caller's now)
// and for every detach() refused (reason 4: the relay goes on).
static napi_value js_start(napi_env env, napi_callback_info info) {
  relay_state *st;
  napi_get_instance_data(env, (void **)&st);
  if (st->thread_started) {
    napi_throw_error(env, NULL, "the relay thread runs already");
    return NULL;
  }
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_value name;
  napi_create_string_utf8(env, "kubelite relay end", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, st, call_on_end, &st->on_end) != napi_ok) {
    napi_throw_error(env, NULL, "cannot create the relay's end callback");
    return NULL;
  }
  // The relays' ends alone do not keep the process running (its listeners do).
  napi_unref_threadsafe_function(env, st->on_end);
  st->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (st->epfd < 0) return throw_errno(env, "epoll_create1");
  st->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (st->wakefd < 0) return throw_errno(env, "eventfd");
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, st->wakefd, &ev) < 0) return throw_errno(env, "epoll_ctl");
  st->buffer = malloc(READ_BUFFER_BYTES);
  st->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (pthread_create(&st->thread, NULL, relay_thread, st) != 0) {
    napi_throw_error(env, NULL, "cannot start the relay thread");
    return NULL;
  }
  st->thread_started = 1;
  napi_add_env_cleanup_hook(env, stop_thread, st);
  return NULL;
}

// Copy a Buffer argument's bytes (undefined: none) into a direction's pending bytes.
static int take_pending(napi_env env, napi_value value, direction *d) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_undefined || type == napi_null) return 0;
  void *data;
  size_t length;
  if (napi_get_buffer_info(env, value, &data, &length) != napi_ok) return -1;
  if (length == 0) return 0;
  d->pending = malloc(length);
  memcpy(d->pending, data, length);
  d->pending_len = length;
  return 0;
}

// relay(clientFd, endpointFd, toEndpoint?, toClient?) → id. The descriptors are duplicated: the
// caller closes its own (without a shutdown). toEndpoint/toClient: bytes already read from one
// side and not yet written to the other, written first.
static napi_value js_relay(napi_env env, napi_callback_info info) {
  relay_state *st;
  napi_get_instance_data(env, (void **)&st);
  if (!st->thread_started) {
    napi_throw_error(env, NULL, "start() the relay thread first");
    return NULL;
  }
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fds[2];
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fds[0]) != napi_ok || napi_get_value_int32(env, argv[1], &fds[1]) != napi_ok) {
    napi_throw_type_error(env, NULL, "relay(clientFd, endpointFd, toEndpoint?, toClient?)");
    return NULL;
  }
  relay *r = calloc(1, sizeof(relay));
  for (int i = 0; i < 2; i++) {
    if (argc > 2 + (size_t)i && take_pending(env, argv[2 + i], &r->dirs[i]) < 0) {
      free_relay(r);
      napi_throw_type_error(env, NULL, "pending bytes must be a Buffer");
      return NULL;
    }
  }
  for (int i = 0; i < 2; i++) {
    r->sides[i].owner = r;
    r->sides[i].fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
    if (r->sides[i].fd < 0) {
      int saved = errno;
      if (i == 1) close(r->sides[0].fd);
      free_relay(r);
      errno = saved;
      return throw_errno(env, "dup");
    }
  }
  pthread_mutex_lock(&st->lock);
  take_slot(st, r);
  pthread_mutex_unlock(&st->lock);
  push_command(st, (command){.kind = 0, .r = r});
  napi_value id;
  napi_create_double(env, relay_id(r), &id);
  return id;
}

static napi_value queue_for_relay(napi_env env, napi_callback_info info, int kind, const char *usage) {
  relay_state *st;
  napi_get_instance_data(env, (void **)&st);
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double id;
  if (argc < 1 || napi_get_value_double(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (st->thread_started) push_command(st, (command){.kind = kind, .id = id});
  return NULL;
}

// close(id): close both sockets of a relay (no reset); its end is reported with reason 2 unless
// it ended otherwise first.
static napi_value js_close(napi_env env, napi_callback_info info) {
  return queue_for_relay(env, info, 1, "close(id)");
}

// detach(id): stop relaying and hand the sockets back (reason 3), or answer reason 4.
static napi_value js_detach(napi_env env, napi_callback_info info) {
  return queue_for_relay(env, info, 2, "detach(id)");
}

// ---- listeners, tables and groups (main thread) ------------------------------------------------

static relay_state *state_of(napi_env env) {
  relay_state *st;
  napi_get_instance_data(env, (void **)&st);
  return st;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *usage) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < want) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  return 0;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out, const char *usage) {
  if (napi_get_value_uint32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  return 0;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

// group() → id: a group of listeners with its own counters (one proxy's).
static napi_value js_group(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  if (st->group_count == st->group_cap) {
    st->group_cap = st->group_cap ? st->group_cap * 2 : 16;
    st->groups = realloc(st->groups, st->group_cap * sizeof(group_counters *));
  }
  st->groups[st->group_count] = calloc(1, sizeof(group_counters));
  st->groups[st->group_count]->index = st->group_count;
  return number(env, st->group_count++);
}

static group_counters *group_arg(napi_env env, relay_state *st, napi_value v, const char *usage) {
  uint32_t g;
  if (get_u32(env, v, &g, usage) < 0) return NULL;
  if (g >= st->group_count) {
    napi_throw_range_error(env, NULL, "no such group");
    return NULL;
  }
  return st->groups[g];
}

// counters(group) → [accepted, active, rejected, dialErrors] of the connections accepted here.
static napi_value js_counters(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  napi_value argv[1];
  if (get_args(env, info, 1, argv, "counters(group)") < 0) return NULL;
  group_counters *g = group_arg(env, st, argv[0], "counters(group)");
  if (!g) return NULL;
  napi_value out;
  napi_create_array_with_length(env, 4, &out);
  int64_t values[4] = {__atomic_load_n(&g->accepted, __ATOMIC_RELAXED), __atomic_load_n(&g->active, __ATOMIC_RELAXED),
      __atomic_load_n(&g->rejected, __ATOMIC_RELAXED), __atomic_load_n(&g->dial_errors, __ATOMIC_RELAXED)};
  for (uint32_t k = 0; k < 4; k++) napi_set_element(env, out, k, number(env, (double)values[k]));
  return out;
}

// closeGroup(group): close (no reset) every connection accepted for the group's listeners.
static napi_value js_close_group(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  napi_value argv[1];
  if (get_args(env, info, 1, argv, "closeGroup(group)") < 0) return NULL;
  group_counters *g = group_arg(env, st, argv[0], "closeGroup(group)");
  if (!g) return NULL;
  if (st->thread_started) push_command(st, (command){.kind = 4, .g = g});
  return NULL;
}

// settled(group, minAgeMs) → how many of the group's relays detachGroup could hand back now.
static napi_value js_settled(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  const char *usage = "settled(group, minAgeMs)";
  napi_value argv[2];
  uint32_t min_age;
  if (get_args(env, info, 2, argv, usage) < 0 || get_u32(env, argv[1], &min_age, usage) < 0) return NULL;
  group_counters *g = group_arg(env, st, argv[0], usage);
  if (!g) return NULL;
  uint64_t now = now_ms();
  uint32_t n = 0;
  pthread_mutex_lock(&st->lock);
  for (uint32_t k = 0; k < st->slot_count; k++) n += settled_in(st->slots[k], g, min_age, now);
  pthread_mutex_unlock(&st->lock);
  return number(env, n);
}

// detachGroup(group, count, minAgeMs): hand up to `count` settled relays of the group back
// (reported as GROUP_DETACHED with the group's id and both descriptors, still open).
static napi_value js_detach_group(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  const char *usage = "detachGroup(group, count, minAgeMs)";
  napi_value argv[3];
  uint32_t count, min_age;
  if (get_args(env, info, 3, argv, usage) < 0 || get_u32(env, argv[1], &count, usage) < 0 || get_u32(env, argv[2], &min_age, usage) < 0) return NULL;
  group_counters *g = group_arg(env, st, argv[0], usage);
  if (!g) return NULL;
  if (st->thread_started && count > 0) push_command(st, (command){.kind = 5, .g = g, .count = count, .min_age_ms = min_age});
  return NULL;
}

// table() → index: a new table, without endpoints (connections through it are rejected).
static napi_value js_table(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  table *t = calloc(1, sizeof(table));
  pthread_mutex_lock(&st->lock);
  uint32_t k = 0;
  while (k < st->table_count && st->tables[k]) k++;
  if (k == st->table_count) {
    if (st->table_count == st->table_cap) {
      st->table_cap = st->table_cap ? st->table_cap * 2 : 16;
      st->tables = realloc(st->tables, st->table_cap * sizeof(table *));
    }
    st->table_count++;
  }
  st->tables[k] = t;
  pthread_mutex_unlock(&st->lock);
  return number(env, k);
}

// setTable(index, mode, ips, ports): 0 round-robin, 1 random, 2 JavaScript picks (the accepted
// sockets are handed over, reason 5). The round-robin position carries over.
static napi_value js_set_table(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  const char *usage = "setTable(index, mode, ips, ports)";
  napi_value argv[4];
  if (get_args(env, info, 4, argv, usage) < 0) return NULL;
  uint32_t index, mode, n, m;
  if (get_u32(env, argv[0], &index, usage) < 0 || get_u32(env, argv[1], &mode, usage) < 0) return NULL;
  if (napi_get_array_length(env, argv[2], &n) != napi_ok || napi_get_array_length(env, argv[3], &m) != napi_ok || n != m) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  endpoint_addr *eps = calloc(n ? n : 1, sizeof(endpoint_addr));
  for (uint32_t k = 0; k < n; k++) {
    napi_value ipv, portv;
    char ip[64];
    size_t len;
    uint32_t port;
    napi_get_element(env, argv[2], k, &ipv);
    napi_get_element(env, argv[3], k, &portv);
    if (napi_get_value_string_utf8(env, ipv, ip, sizeof ip, &len) != napi_ok || napi_get_value_uint32(env, portv, &port) != napi_ok || port > 65535) {
      free(eps);
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)&eps[k].addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&eps[k].addr;
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
      a4->sin_family = AF_INET;
      a4->sin_port = htons((uint16_t)port);
      eps[k].len = sizeof *a4;
    } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons((uint16_t)port);
      eps[k].len = sizeof *a6;
    } else {
      free(eps);
      napi_throw_type_error(env, NULL, "setTable: not an IP address");
      return NULL;
    }
  }
  pthread_mutex_lock(&st->lock);
  table *t = index < st->table_count ? st->tables[index] : NULL;
  endpoint_addr *old = NULL;
  if (t) {
    old = t->endpoints;
    t->endpoints = eps;
    t->count = n;
    t->mode = (int)mode;
    if (t->next >= n) t->next = 0;
  }
  pthread_mutex_unlock(&st->lock);
  free(t ? old : eps);
  if (!t) napi_throw_range_error(env, NULL, "no such table");
  return NULL;
}

// freeTable(index): listeners still routed to it reject their connections.
static napi_value js_free_table(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  napi_value argv[1];
  uint32_t index;
  if (get_args(env, info, 1, argv, "freeTable(index)") < 0 || get_u32(env, argv[0], &index, "freeTable(index)") < 0) return NULL;
  pthread_mutex_lock(&st->lock);
  table *t = index < st->table_count ? st->tables[index] : NULL;
  if (t) st->tables[index] = NULL;
  pthread_mutex_unlock(&st->lock);
  if (t) {
    free(t->endpoints);
    free(t);
  }
  return NULL;
}

// A socket of its own bound to the address `fd` is bound to, with SO_REUSEPORT: the kernel spreads
// the connections over the listening sockets of a reuseport group by a hash of their addresses, so
// proxy workers each get their share (a shared socket goes to whichever thread accepts first).
// The socket `fd` itself (the primary's, bound with SO_REUSEADDR and not listening) takes none.
static int reuseport_socket(int fd) {
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) return -1;
  int s = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int one = 1;
  // TCP_NODELAY on the listener is copied to every socket accepted from it.
  if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
      setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 || bind(s, (struct sockaddr *)&addr, len) < 0) {
    int saved = errno;
    close(s);
    errno = saved;
    return -1;
  }
  return s;
}

// listen(fd, table, group, reuseport) → id: listen on (a duplicate of) a bound socket, or with
// `reuseport` on a socket of its own bound to the same address (reuseport_socket), and accept on
// the epoll thread. The caller closes its own descriptor.
static napi_value js_listen(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  const char *usage = "listen(fd, table, group, reuseport)";
  napi_value argv[4];
  uint32_t fd0, tix;
  bool reuseport = false;
  if (get_args(env, info, 4, argv, usage) < 0 || get_u32(env, argv[0], &fd0, usage) < 0 || get_u32(env, argv[1], &tix, usage) < 0) return NULL;
  group_counters *g = group_arg(env, st, argv[2], usage);
  if (!g) return NULL;
  napi_get_value_bool(env, argv[3], &reuseport);
  if (!st->thread_started) {
    napi_throw_error(env, NULL, "start() the relay thread first");
    return NULL;
  }
  int fd = reuseport ? reuseport_socket((int)fd0) : fcntl((int)fd0, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, reuseport ? "bind" : "dup");
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 || listen(fd, 1024) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return throw_errno(env, "listen");
  }
  listener *l = calloc(1, sizeof(listener));
  l->s.fd = fd;
  l->s.events = EPOLLIN;
  l->table = tix;
  l->group = g;
  if (st->listener_count == st->listener_cap) {
    st->listener_cap = st->listener_cap ? st->listener_cap * 2 : 16;
    st->listeners = realloc(st->listeners, st->listener_cap * sizeof(listener *));
  }
  l->id = st->listener_count;
  st->listeners[st->listener_count++] = l;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &l->s};
  if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int saved = errno;
    st->listeners[--st->listener_count] = NULL;
    close(fd);
    free(l);
    errno = saved;
    return throw_errno(env, "epoll_ctl");
  }
  return number(env, l->id);
}

static listener *listener_arg(napi_env env, relay_state *st, napi_value v, const char *usage) {
  uint32_t id;
  if (get_u32(env, v, &id, usage) < 0) return NULL;
  return id < st->listener_count ? st->listeners[id] : NULL;
}

// route(id, table): the listener's next connections go through that table.
static napi_value js_route(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  napi_value argv[2];
  uint32_t tix;
  if (get_args(env, info, 2, argv, "route(id, table)") < 0 || get_u32(env, argv[1], &tix, "route(id, table)") < 0) return NULL;
  listener *l = listener_arg(env, st, argv[0], "route(id, table)");
  if (!l) return NULL;
  pthread_mutex_lock(&st->lock);
  l->table = tix;
  pthread_mutex_unlock(&st->lock);
  return NULL;
}

// closeListener(id): stop accepting (done when this returns); connections carry on.
static napi_value js_close_listener(napi_env env, napi_callback_info info) {
  relay_state *st = state_of(env);
  napi_value argv[1];
  if (get_args(env, info, 1, argv, "closeListener(id)") < 0) return NULL;
  listener *l = listener_arg(env, st, argv[0], "closeListener(id)");
  if (!l) return NULL;
  st->listeners[(uint32_t)l->id] = NULL;
  pthread_mutex_lock(&st->lock);
  epoll_ctl(st->epfd, EPOLL_CTL_DEL, l->s.fd, NULL);
  close(l->s.fd);
  l->closed = 1;
  pthread_mutex_unlock(&st->lock);
  push_command(st, (command){.kind = 3, .l = l});
  return NULL;
}

// The environment (the process, or a worker thread) is being torn down: stop the thread and close
// every relay. Registered after the end callback, so it runs before that callback is torn down.
static void stop_thread(void *data) {
  relay_state *st = data;
  pthread_mutex_lock(&st->lock);
  __atomic_store_n(&st->stopping, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&st->lock);
  uint64_t one = 1;
  if (write(st->wakefd, &one, sizeof one) < 0) { /* the counter is full: the thread wakes anyway */ }
  pthread_join(st->thread, NULL);
  // Every relay holds a slot from relay() on, started or still queued.
  for (uint32_t k = 0; k < st->slot_count; k++) {
    relay *r = st->slots[k];
    if (!r) continue;
    if (r->sides[0].fd >= 0) close(r->sides[0].fd);
    if (r->sides[1].fd >= 0) close(r->sides[1].fd);
    free_relay(r);
    st->slots[k] = NULL;
  }
  for (uint32_t k = 0; k < st->listener_count; k++) {
    listener *l = st->listeners[k];
    if (!l) continue;
    close(l->s.fd);
    free(l);
    st->listeners[k] = NULL;
  }
  close(st->epfd);
  close(st->wakefd);
  if (st->spare_fd >= 0) close(st->spare_fd);
}

static void free_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  relay_state *st = data;
  free(st->slots);
  free(st->gens);
  free(st->free_slots);
  free(st->commands);
  free(st->ends);
  free(st->buffer);
  for (uint32_t k = 0; k < st->table_count; k++) {
    if (!st->tables[k]) continue;
    free(st->tables[k]->endpoints);
    free(st->tables[k]);
  }
  free(st->tables);
  free(st->listeners);
  for (uint32_t k = 0; k < st->group_count; k++) free(st->groups[k]);
  free(st->groups);
  pthread_mutex_destroy(&st->lock);
  free(st);
}

NAPI_MODULE_INIT() {
  relay_state *st = calloc(1, sizeof(relay_state));
  pthread_mutex_init(&st->lock, NULL);
  st->epfd = st->wakefd = st->spare_fd = -1;
  st->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)st;
  if (!st->rng) st->rng = 88172645463325252ull;
  napi_set_instance_data(env, st, free_state, NULL);
  napi_property_descriptor props[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"relay", NULL, js_relay, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"detach", NULL, js_detach, NULL, NULL, NULL, napi_default, NULL},
      {"group", NULL, js_group, NULL, NULL, NULL, napi_default, NULL},
      {"counters", NULL, js_counters, NULL, NULL, NULL, napi_default, NULL},
      {"closeGroup", NULL, js_close_group, NULL, NULL, NULL, napi_default, NULL},
      {"table", NULL, js_table, NULL, NULL, NULL, napi_default, NULL},
      {"setTable", NULL, js_set_table, NULL, NULL, NULL, napi_default, NULL},
      {"freeTable", NULL, js_free_table, NULL, NULL, NULL, napi_default, NULL},
      {"listen", NULL, js_listen, NULL, NULL, NULL, napi_default, NULL},
      {"route", NULL, js_route, NULL, NULL, NULL, napi_default, NULL},
      {"closeListener", NULL, js_close_listener, NULL, NULL, NULL, napi_default, NULL},
      {"settled", NULL, js_settled, NULL, NULL, NULL, napi_default, NULL},
      {"detachGroup", NULL, js_detach_group, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
