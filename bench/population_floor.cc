// The population floor: the least a server can do to send bench/population.sh's
// files over HTTP keep-alive on this kernel, so that fc and nginx are read
// against what no design can go below. No stat, no open, no cache bookkeeping,
// no header but the length: each request's file is found by its number, and
// its bytes go out one of two ways:
//   memory    every file read into this process's memory at start, sent with
//             one writev (head + bytes): fc's hit with no lookup, pin or stat;
//   sendfile  every file kept open at start, the head sent with MSG_MORE, the
//             bytes with sendfile: nginx's path with no stat or open. Where
//             the open-file limit cannot be raised that far, the files
//             beyond it (the least requested ranks) are opened per request.
// Benchmark tool only (bench/population.sh builds and runs it with FLOOR=1);
// not installed. Loopback only; it serves until killed.
//
//   population_floor memory|sendfile ROOT FILES WORKERS
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

struct File {
  std::string head;   // "HTTP/1.1 200 OK\r\nContent-Length: N\r\n\r\n"
  std::string bytes;  // memory mode
  int fd = -1;        // sendfile mode (-1: beyond the open-file limit, opened per request)
  std::string path;
  off_t size = 0;
};

bool g_sendfile = false;
std::vector<File> g_files;
const std::string kNotFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";

struct Conn {
  std::string in;
  const File* file = nullptr;  // the reply under way, if any
  const std::string* head = nullptr;
  size_t head_done = 0;
  off_t body_done = 0;
};

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "population_floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// Finds the next complete request in c.in and starts its reply; false if none.
bool StartNext(Conn& c) {
  const size_t end = c.in.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  unsigned long n = 0;
  bool ok = c.in.compare(0, 6, "GET /f") == 0;
  size_t i = 6;
  for (; ok && i < end && c.in[i] >= '0' && c.in[i] <= '9'; ++i) n = n * 10 + (c.in[i] - '0');
  ok = ok && i > 6 && c.in[i] == ' ' && n < g_files.size();
  c.in.erase(0, end + 4);
  c.file = ok ? &g_files[n] : nullptr;
  c.head = ok ? &c.file->head : &kNotFound;
  c.head_done = 0;
  c.body_done = 0;
  return true;
}

// Writes what it can of the reply under way; true when it is all sent.
bool Pump(int fd, Conn& c) {
  const off_t size = c.file ? c.file->size : 0;
  while (c.head_done < c.head->size() || c.body_done < size) {
    ssize_t n;
    if (!g_sendfile || c.file == nullptr) {
      iovec iov[2];
      int count = 0;
      if (c.head_done < c.head->size()) {
        iov[count++] = {const_cast<char*>(c.head->data()) + c.head_done, c.head->size() - c.head_done};
      }
      if (c.body_done < size) {
        const size_t from = c.body_done;
        iov[count++] = {const_cast<char*>(c.file->bytes.data()) + from, static_cast<size_t>(size) - from};
      }
      n = ::writev(fd, iov, count);
    } else if (c.head_done < c.head->size()) {
      n = ::send(fd, c.head->data() + c.head_done, c.head->size() - c.head_done, MSG_MORE | MSG_NOSIGNAL);
    } else {
      off_t at = c.body_done;
      const int file_fd = c.file->fd >= 0 ? c.file->fd : ::open(c.file->path.c_str(), O_RDONLY | O_CLOEXEC);
      n = ::sendfile(fd, file_fd, &at, static_cast<size_t>(size - c.body_done));
      if (file_fd != c.file->fd) ::close(file_fd);
      if (n > 0) {
        c.body_done += n;
        continue;
      }
      if (n == 0) {  // the file shrank under us
        errno = EIO;
        return false;
      }
    }
    if (n < 0) return false;
    size_t left = static_cast<size_t>(n);
    const size_t in_head = std::min(left, c.head->size() - c.head_done);
    c.head_done += in_head;
    c.body_done += static_cast<off_t>(left - in_head);
  }
  c.head = nullptr;
  return true;
}

void Serve(int listener) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  ev.data.fd = listener;
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  std::vector<std::unique_ptr<Conn>> conns;
  epoll_event events[256];
  char buf[4096];
  for (;;) {
    const int ready = epoll_wait(ep, events, 256, -1);
    for (int k = 0; k < ready; ++k) {
      const int fd = events[k].data.fd;
      if (fd == listener) {
        for (;;) {
          const int c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
          if (static_cast<size_t>(c) >= conns.size()) conns.resize(c + 1);
          conns[c] = std::make_unique<Conn>();
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      Conn& c = *conns[fd];
      bool closed = false;
      if (events[k].events & EPOLLIN) {
        for (;;) {
          const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
          if (n > 0) {
            c.in.append(buf, static_cast<size_t>(n));
            continue;
          }
          closed = n == 0 || errno != EAGAIN;
          break;
        }
      }
      if (events[k].events & (EPOLLHUP | EPOLLERR)) closed = true;
      bool blocked = false;
      while (!closed && !blocked) {
        if (c.head == nullptr && !StartNext(c)) break;
        if (!Pump(fd, c)) {
          if (errno == EAGAIN) {
            blocked = true;
          } else {
            closed = true;
          }
        }
      }
      if (closed) {
        ::close(fd);
        conns[fd].reset();
        continue;
      }
      epoll_event mev{};
      mev.events = blocked ? EPOLLOUT : EPOLLIN;
      mev.data.fd = fd;
      epoll_ctl(ep, EPOLL_CTL_MOD, fd, &mev);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 || (std::strcmp(argv[1], "memory") != 0 && std::strcmp(argv[1], "sendfile") != 0)) {
    std::fprintf(stderr, "usage: population_floor memory|sendfile ROOT FILES WORKERS\n");
    return 2;
  }
  g_sendfile = std::strcmp(argv[1], "sendfile") == 0;
  const std::string root = argv[2];
  const int files = std::atoi(argv[3]);
  const int workers = std::atoi(argv[4]);
  size_t kept = static_cast<size_t>(files);
  if (g_sendfile) {  // one descriptor per file, kept, as far as the limit allows
    rlimit lim{static_cast<rlim_t>(files) + 1024, static_cast<rlim_t>(files) + 1024};
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
      getrlimit(RLIMIT_NOFILE, &lim);
      lim.rlim_cur = lim.rlim_max;
      setrlimit(RLIMIT_NOFILE, &lim);
      kept = lim.rlim_max > 1024 ? lim.rlim_max - 1024 : 0;
      std::fprintf(stderr, "population_floor: keeps %zu files open (open-file limit %lu)\n", kept,
                   static_cast<unsigned long>(lim.rlim_max));
    }
  }
  g_files.resize(files);
  for (int i = 0; i < files; ++i) {
    const std::string path = root + "/f" + std::to_string(i);
    File& f = g_files[i];
    f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (f.fd < 0 || fstat(f.fd, &st) != 0) Fail(path.c_str());
    f.size = st.st_size;
    f.head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(f.size) + "\r\n\r\n";
    f.path = path;
    if (g_sendfile && static_cast<size_t>(i) >= kept) {
      ::close(f.fd);
      f.fd = -1;
    }
    if (!g_sendfile) {
      f.bytes.resize(static_cast<size_t>(f.size));
      if (::pread(f.fd, f.bytes.data(), f.bytes.size(), 0) != f.size) Fail(path.c_str());
      ::close(f.fd);
      f.fd = -1;
    }
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 1024) != 0 || getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Fail("listening on 127.0.0.1");
  }
  signal(SIGPIPE, SIG_IGN);
  for (int w = 0; w < workers; ++w) {
    if (fork() == 0) Serve(listener);
  }
  std::printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
  std::fflush(stdout);
  while (wait(nullptr) > 0) {
  }
  return 0;
}
