// The floor: the least a server can do per 4 KiB keep-alive HTTP request on
// this kernel. No parsing, no files, no cache: every "\r\n\r\n" that arrives is
// answered with one fixed response (the same header size as fc's). Two event
// loops to compare, so that what io_uring could save fc is measured before fc's
// loop is rewritten for it:
//   epoll     epoll_wait, recv, send: 2 system calls per request + 1 per wake-up;
//   io_uring  multishot accept, multishot recv into a provided-buffer ring,
//             sends batched into one io_uring_enter per loop turn
//             (SINGLE_ISSUER + DEFER_TASKRUN).
// Benchmark tool only (bench/floor.sh builds and runs it); not installed.
//
//   floor_server epoll|io_uring PORT WORKERS
#include <arpa/inet.h>
#include <signal.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string g_response;

// Counts request ends in a stream, carrying a partial "\r\n\r\n" across reads.
struct Framer {
  int matched = 0;
  int Feed(const char* p, size_t n) {
    static const char kEnd[] = "\r\n\r\n";
    int requests = 0;
    for (size_t i = 0; i < n; ++i) {
      if (p[i] == kEnd[matched]) {
        if (++matched == 4) ++requests, matched = 0;
      } else {
        matched = p[i] == '\r' ? 1 : 0;
      }
    }
    return requests;
  }
};

int Listen(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 4096) != 0) {
    std::perror("floor_server: bind/listen");
    std::exit(1);
  }
  return fd;
}

void RunEpoll(int listen_fd) {
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
  std::vector<Framer> framers(65536);
  epoll_event events[128];
  char buf[16384];
  for (;;) {
    int n = epoll_wait(ep, events, 128, -1);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listen_fd) {
        int c;
        while ((c = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0) {
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          framers[c] = Framer();
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t got = recv(fd, buf, sizeof(buf), 0);
      if (got <= 0) {
        close(fd);
        continue;
      }
      for (int r = framers[fd].Feed(buf, static_cast<size_t>(got)); r > 0; --r) {
        if (send(fd, g_response.data(), g_response.size(), MSG_NOSIGNAL) < 0) break;
      }
    }
  }
}

enum : uint64_t { kAccept = 1ull << 62, kRecv = 2ull << 62, kSend = 3ull << 62, kKind = 3ull << 62 };
constexpr unsigned kBuffers = 4096, kBufferSize = 4096, kGroup = 1;

[[noreturn]] void DieUring(const char* call, int rc) {
  std::fprintf(stderr, "floor_server: %s: %s\n", call, std::strerror(-rc));
  std::exit(1);
}

// The ring, and the provided-buffer ring the kernel picks receive buffers from
// (kBuffers of kBufferSize in *pool, group kGroup).
io_uring_buf_ring* SetUpRing(io_uring* ring, std::vector<char>* pool) {
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (int rc = io_uring_queue_init_params(4096, ring, &params); rc < 0) DieUring("io_uring_queue_init", rc);
  const size_t ring_bytes = kBuffers * sizeof(io_uring_buf);
  auto* br = static_cast<io_uring_buf_ring*>(
      mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uint64_t>(br);
  reg.ring_entries = kBuffers;
  reg.bgid = kGroup;
  if (int rc = io_uring_register_buf_ring(ring, &reg, 0); rc < 0) DieUring("io_uring_register_buf_ring", rc);
  io_uring_buf_ring_init(br);
  pool->assign(size_t{kBuffers} * kBufferSize, 0);
  const int mask = io_uring_buf_ring_mask(kBuffers);
  for (unsigned i = 0; i < kBuffers; ++i) {
    io_uring_buf_ring_add(br, &(*pool)[size_t{i} * kBufferSize], kBufferSize, static_cast<uint16_t>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(br, kBuffers);
  return br;
}

void RunUring(int listen_fd) {
  io_uring ring;
  std::vector<char> pool;
  io_uring_buf_ring* br = SetUpRing(&ring, &pool);
  const int mask = io_uring_buf_ring_mask(kBuffers);
  auto arm_recv = [&](int fd) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kGroup;
    io_uring_sqe_set_data64(sqe, kRecv | static_cast<uint64_t>(fd));
  };
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, 0);
  io_uring_sqe_set_data64(sqe, kAccept);
  std::vector<Framer> framers(65536);
  for (;;) {
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    unsigned head, seen = 0, returned = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      const uint64_t data = cqe->user_data;
      const int fd = static_cast<int>(data & ~kKind);
      switch (data & kKind) {
        case kAccept:
          if (cqe->res >= 0) {
            int one = 1;
            setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            framers[cqe->res] = Framer();
            arm_recv(cqe->res);
          }
          break;
        case kRecv: {
          if (cqe->res <= 0) {
            if (cqe->res == -ENOBUFS) {
              arm_recv(fd);
            } else {
              close(fd);
            }
            break;
          }
          const unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
          const int requests = framers[fd].Feed(&pool[size_t{id} * kBufferSize], static_cast<size_t>(cqe->res));
          io_uring_buf_ring_add(br, &pool[size_t{id} * kBufferSize], kBufferSize, static_cast<uint16_t>(id),
                                mask, static_cast<int>(returned++));
          for (int r = 0; r < requests; ++r) {
            io_uring_sqe* s = io_uring_get_sqe(&ring);
            io_uring_prep_send(s, fd, g_response.data(), g_response.size(), MSG_NOSIGNAL);
            io_uring_sqe_set_data64(s, kSend | static_cast<uint64_t>(fd));
          }
          if (!(cqe->flags & IORING_CQE_F_MORE)) arm_recv(fd);
          break;
        }
        default:
          break;  // a send finished (a short one is not expected at 4 KiB)
      }
    }
    io_uring_buf_ring_advance(br, static_cast<int>(returned));
    io_uring_cq_advance(&ring, seen);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: floor_server epoll|io_uring PORT WORKERS\n");
    return 2;
  }
  const std::string loop = argv[1];
  const int port = std::atoi(argv[2]), workers = std::atoi(argv[3]);
  std::string body(4096, 'x');
  g_response =
      "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: Sun, 22 Nov 2026 05:29:42 GMT\r\n"
      "Content-Type: application/octet-stream\r\nContent-Length: 4096\r\nAccept-Ranges: bytes\r\n"
      "ETag: \"a7c04f-1000-18ea46cd383b67bb\"\r\nLast-Modified: Sun, 22 Nov 2026 05:27:28 GMT\r\n"
      "X-Fc-Served: cache\r\nX-Fc-Checksum: fa47a38af162d46a\r\n\r\n" + body;
  for (int w = 0; w < workers; ++w) {
    if (fork() == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // the workers go with the parent
      const int fd = Listen(port);
      if (loop == "io_uring") RunUring(fd);
      RunEpoll(fd);
    }
  }
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  while (wait(nullptr) > 0) {
  }
  return 0;
}
