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
// Threading: the epoll thread alone touches relays. The main thread passes new relays and
// close requests through a queue and an eventfd; relays are numbered by a slot and a
// generation, so a close request for a relay that has ended meanwhile finds nothing.
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_BUFFER_BYTES (64 * 1024)
#define MAX_EVENTS 256
// Slots are numbered below 2^24; the generation goes above (an id stays an exact double).
#define SLOT_BITS 24
#define SLOT_LIMIT (1u << SLOT_BITS)

// How a relay ended, as reported: DETACHED hands its two sockets back (to be relayed elsewhere);
// KEPT answers a detach that could not be done (bytes in flight, or a FIN seen), the relay goes on.
enum end_reason { END_CLEAN = 0, END_RESET = 1, END_CLOSED = 2, END_DETACHED = 3, END_KEPT = 4 };

typedef struct relay relay;

// One socket of a relay; what epoll's data.ptr points at.
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

struct relay {
  side sides[2];  // 0: client, 1: endpoint
  direction dirs[2];
  uint32_t slot, gen;
  int ended;
  relay *next_dead;
};

typedef struct {
  double id;
  int reason;
  double to_endpoint, to_client;
  int fds[2];  // the sockets handed back by a detach, -1 otherwise
} end_record;

// Commands from the main thread.
typedef struct {
  int kind;  // 0: start relaying `r`; 1: close relay `id`; 2: detach relay `id`
  relay *r;
  double id;
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

// Queue a report for JavaScript; `release`: the relay is over here, its slot is free again.
static void report(relay_state *st, relay *r, int reason, int release, int client_fd, int endpoint_fd) {
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
  st->ends[st->end_count++] = (end_record){.id = relay_id(r), .reason = reason, .to_endpoint = r->dirs[0].bytes,
      .to_client = r->dirs[1].bytes, .fds = {client_fd, endpoint_fd}};
  pthread_mutex_unlock(&st->lock);
  // One call per batch: the main thread takes every report queued by the time it runs.
  if (was_empty) napi_call_threadsafe_function(st->on_end, NULL, napi_tsfn_nonblocking);
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
  unregister(st, r);
  for (int i = 0; i < 2; i++) {
    if (i == reset_side) reset_fd(r->sides[i].fd);
    else close(r->sides[i].fd);
  }
  report(st, r, reason, 1, -1, -1);
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

static void handle_event(relay_state *st, side *s, uint32_t ev, relay **dead) {
  relay *r = s->owner;
  if (r->ended) return;
  int i = s == &r->sides[0] ? 0 : 1;
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
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, message);
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
  pthread_mutex_unlock(&st->lock);
  push_command(st, (command){.kind = 0, .r = r});
  napi_value id;
  napi_create_double(env, (double)r->gen * SLOT_LIMIT + slot, &id);
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
    close(r->sides[0].fd);
    close(r->sides[1].fd);
    free_relay(r);
    st->slots[k] = NULL;
  }
  close(st->epfd);
  close(st->wakefd);
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
  pthread_mutex_destroy(&st->lock);
  free(st);
}

NAPI_MODULE_INIT() {
  relay_state *st = calloc(1, sizeof(relay_state));
  pthread_mutex_init(&st->lock, NULL);
  st->epfd = st->wakefd = -1;
  napi_set_instance_data(env, st, free_state, NULL);
  napi_property_descriptor props[] = {
      {"start", NULL, js_start, NULL, NULL, NULL, napi_default, NULL},
      {"relay", NULL, js_relay, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"detach", NULL, js_detach, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
