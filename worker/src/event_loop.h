// Internal header: EventLoop, one per worker thread: the reactor (nginx's
// event module, muduo's EventLoop). It accepts from its worker slot's
// listening socket (EPOLLEXCLUSIVE, so one loop wakes per connection), reads
// input into each Connection, hands it to the connection's Session (fc or
// HTTP), pumps each Response into its socket, and keeps the timers: idle,
// write, request and upload timeouts, the drain. The loop owns its two
// sessions, the FileResponder and the UploadReceiver; they reach the loop's
// services (clock, counters, waiting for a loader) through the public section.
// Nothing on a loop blocks: a slow client only ever holds its own buffers.
//
// Run() is called on the loop's own thread. BeginDrain() and PostLoaded() are
// the only members safe to call from other threads.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fc/base/clock.h"
#include "fc/base/mutex.h"
#include "fc/base/unique_fd.h"
#include "fc/protocol/wire.h"
#include "fc/shm_cache/cache.h"
#include "fc/tls/server_tls.h"
#include "fc/worker/worker.h"
#include "connection.h"
#include "fc_session.h"
#include "file_responder.h"
#include "file_source.h"
#include "http_session.h"
#include "lister.h"
#include "loader.h"
#include "media_types.h"
#include "open_files.h"
#include "upload_receiver.h"

namespace fc::worker {

class AccessLog;

// What every loop of a worker shares.
struct ServeContext {
  const WorkerConfig& config;
  int listen_fd = -1;  // this worker's listening socket (WorkerHandOff); -1: none
  shm_cache::ShmCache& cache;
  const FileSource& files;
  OpenFiles& open_files;  // descriptors kept between misses
  const MediaTypes& media_types;
  LoaderPool* loaders = nullptr;
  Lister* lister = nullptr;  // directory listings (--autoindex)
  AccessLog* access_log = nullptr;  // null: --access-log off
  std::atomic<int> connections{0};  // open connections in this worker
  // The slot's TLS listener and what it answers with.
  int tls_listen_fd = -1;
  std::shared_ptr<const tls::ServerTls> tls;
  std::atomic<int> handshakes{0};  // connections of this worker in a TLS handshake

};

class EventLoop {
 public:
  // Creates the loop's epoll instance and wakeup eventfd and watches the
  // slot's listening socket; fails (with the reason) if the kernel refuses.
  static Result<std::unique_ptr<EventLoop>> Create(ServeContext& context, uint32_t lane);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void Run();
  // Answer the health endpoint with 503 until `notice_until_ns`, then stop
  // accepting, finish in-flight responses, exit by `deadline_ns` (monotonic).
  void BeginDrain(int64_t notice_until_ns, int64_t deadline_ns);
  // Delivers a loader's result for connection `serial` to this loop's thread.
  void PostLoaded(uint64_t serial, LoadResult result);
  // True once the loop has stopped watching the listening socket.
  bool drain_started() const { return drain_started_.load(); }

  // For the sessions, the responder and the uploads (loop thread only).
  ServeContext& context() { return ctx_; }
  shm_cache::WorkerCounters& counters() { return counters_; }
  FileResponder& responder() { return responder_; }
  UploadReceiver& uploads() { return uploads_; }
  // The monotonic clock as of the last wake-up.
  int64_t now_ns() const { return now_ns_; }
  // False once SIGTERM is seen (health answers 503) or the drain started.
  bool serving() const { return notice_until_ns_ == 0 && !draining_; }
  bool draining() const { return draining_; }
  // The reply is ready in c.response: write it.
  void BeginReply(Connection& c) { c.state = Connection::State::kWriting; }
  // A loader thread has the connection's next step (PostLoaded brings it back).
  void AwaitLoader(Connection& c);
  // The epoll events the connection waits for (0: none, while a loader works).
  void SetInterest(Connection& c, uint32_t events);

 private:
  EventLoop(ServeContext& context, uint32_t lane);
  Status Init();
  // event_loop.cc: the reactor.
  void OnEvent(const epoll_event& event);
  void Accept(int listen_fd, bool tls);
  // Moves a TLS handshake on; false: it failed and the connection closed.
  bool Handshake(Connection& c);
  // Out of descriptors (or another accept error that would fire again at
  // once): stop watching the listening socket for a while, as nginx does,
  // rather than spin on a level-triggered readiness nobody can take.
  void PauseAccept(int error);
  // Adds (or removes) the listening sockets to the loop's epoll set.
  bool WatchListeners(bool watch);
  void ResumeAccept();
  void OnConnectionEvent(Connection& c, uint32_t events);
  // Moves a connection along until it waits for the socket or a loader (or closes).
  void Drive(Connection& c);
  void DeliverLoaded();
  void Sweep();
  void StartDrain();
  void Close(Connection& c);
  bool ReadInput(Connection& c);  // false: peer gone
  bool Pump(Connection& c);       // false: connection must close
  void FinishResponse(Connection& c);

  // exchange.cc: the protocol of a connection, its requests, their record.
  void ProcessInput(Connection& c);
  // Complete requests waiting in the input buffer (pipelined).
  size_t CountQueued(const Connection& c) const;
  // Counts a finished response (metrics, counters.h) and logs it (access log).
  void RecordRequest(const Connection& c);

  ServeContext& ctx_;
  shm_cache::WorkerCounters& counters_;  // this thread's lane in the segment
  FcSession fc_session_;
  HttpSession http_session_;
  FileResponder responder_;
  UploadReceiver uploads_;
  UniqueFd epoll_;
  UniqueFd wakeup_;  // eventfd
  uint64_t next_serial_ = 3;  // 0 = listening socket, 1 = wakeup, 2 = TLS listener
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> conns_;
  bool draining_ = false;
  int64_t notice_until_ns_ = 0;  // SIGTERM seen: health answers 503; drain starts then
  int64_t drain_deadline_ns_ = 0;
  int64_t last_sweep_ns_ = 0;
  // The monotonic clock as of the last wake-up: request start times, activity
  // and the stat memo use it, so a request costs one clock read (its end).
  int64_t now_ns_ = 0;
  int64_t last_limit_log_ns_ = 0;
  // Accept paused (PauseAccept): resumes at this time, or when a connection closes.
  bool accept_paused_ = false;
  int64_t accept_resume_ns_ = 0;
  int64_t last_accept_log_ns_ = 0;
  uint64_t accept_errors_unlogged_ = 0;
  std::string read_scratch_;  // one read buffer per loop, not per connection

  std::atomic<int64_t> drain_request_{0};  // deadline, 0 = none
  std::atomic<int64_t> notice_request_{0};
  std::atomic<bool> drain_started_{false};
  Mutex loaded_mu_;
  std::vector<std::pair<uint64_t, LoadResult>> loaded_ FC_GUARDED_BY(loaded_mu_);
};

// The strong validator of a file: changes whenever fc would consider a cached
// copy stale.
std::string ETag(const shm_cache::FileIdentity& id, std::string_view tag = {});
// An fc reply header as the head of `response`.
void EncodeReply(const protocol::ReplyHeader& header, Response* response);
// A name quoted for a message or a log line: escaped and bounded.
std::string Printable(const std::string& name);

}  // namespace fc::worker
