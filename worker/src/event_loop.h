// Internal header: EventLoop, one per worker thread. It accepts from its worker
// slot's listening socket (EPOLLEXCLUSIVE, so one loop wakes per connection), reads
// requests, answers hits straight from the shared-memory packets with writev,
// streams uncached files with sendfile, and hands misses to the LoaderPool.
// Nothing on a loop blocks: a slow client only ever holds its own buffers.
//
// Run() is called on the loop's own thread. BeginDrain() and PostLoaded() are
// the only members safe to call from other threads.
#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fc/base/clock.h"
#include "fc/base/mutex.h"
#include "fc/protocol/http.h"
#include "fc/base/unique_fd.h"
#include "fc/protocol/wire.h"
#include "fc/shm_cache/cache.h"
#include "fc/worker/worker.h"
#include "file_source.h"
#include "loader.h"
#include "media_types.h"
#include "outcome.h"
#include "response.h"
#include "upload.h"

namespace fc::worker {

class AccessLog;

// What every loop of a worker shares.
struct ServeContext {
  const WorkerConfig& config;
  shm_cache::ShmCache& cache;
  const FileSource& files;
  const MediaTypes& media_types;
  LoaderPool* loaders = nullptr;
  AccessLog* access_log = nullptr;  // null: --access-log off
  std::atomic<int> connections{0};  // open connections in this worker
};

// An HTTP request for more than one range: the spans, and the boundary of
// its multipart/byteranges reply.
struct Multipart {
  std::vector<http::ByteSpan> spans;
  char boundary[17] = {};
};

// A PUT whose body is arriving (loop thread only; the Upload is shared with
// the loader that writes a chunk).
struct PutState {
  std::shared_ptr<Upload> file;
  bool verify = false;    // the client sent a checksum
  uint64_t expected = 0;
  uint64_t length = 0;
  uint64_t queued = 0;    // body bytes handed to writes so far
  bool writing = false;   // a write of this upload runs on a loader
  int64_t started_ns = 0;
};

struct Connection {
  enum class State { kReading, kUploading, kWaiting, kWriting };
  enum class Proto { kUnknown, kFc, kHttp };  // told apart by a connection's first bytes
  UniqueFd fd;
  uint64_t serial = 0;
  std::string peer;
  State state = State::kReading;
  Proto proto = Proto::kUnknown;
  uint32_t interest = 0;  // current epoll event mask
  std::string in;
  size_t in_pos = 0;
  uint64_t discard_left = 0;  // body bytes of an answered request still to skip
  int64_t last_activity_ns = 0;
  bool close_after = false;

  // The current request.
  std::string name;
  const char* op = "";
  uint64_t offset = 0;  // first byte of the body within the file
  uint64_t length = 0;  // fc: requested length (0 = to the end); set to the body length
  bool head_only = false;            // HTTP HEAD, 304: no body
  bool is_upload = false;            // the request is a PUT
  // HTTP: the parsed request head; allocated on a connection's first HTTP
  // request, so an idle or fc-protocol connection does not pay for it.
  std::unique_ptr<http::Request> http;
  bool http_keep_alive = true;
  bool http_range = false;           // HTTP: answer 206
  // HTTP: more than one range asked (multipart/byteranges).
  std::unique_ptr<Multipart> multipart;
  shm_cache::FileIdentity identity;  // of the file being answered
  std::unique_ptr<PutState> put;      // PUT in progress
  int64_t request_started_ns = 0;     // first byte of a request not yet whole (0: none)
  int64_t started_ns = 0;

  // The current reply: what is being written (response.h).
  Response response;
  Outcome how = Outcome::kNone;  // named only in the access log
  protocol::Code code = protocol::Code::kOk;
  int status = 0;  // HTTP status, for the log
  uint32_t served = 0;  // responses finished on this connection
  // HTTP: the content coding of the variant being sent (c.name is the
  // variant's), or of the compressed copy (`copy`: c.name stays the file's).
  std::optional<http::Coding> coding;
  bool copy = false;
  // A load that may come back as a compressed copy: the body (ranges,
  // preconditions) is planned once its size is known (OnLoaded).
  bool plan_after_load = false;
};

class EventLoop {
 public:
  // Misses of files up to this size are loaded on the loop itself when that
  // needs no waiting (LoaderPool::TryLoadNow): ~50 us of copying at most.
  static constexpr uint64_t kInlineLoadMax = 256 * 1024;

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

 private:
  // event_loop.cc: the reactor.
  void Accept();
  // Out of descriptors (or another accept error that would fire again at
  // once): stop watching the listening socket for a while, as nginx does,
  // rather than spin on a level-triggered readiness nobody can take.
  void PauseAccept(int error);
  void ResumeAccept();
  void OnConnectionEvent(Connection& c, uint32_t events);
  // Moves a connection along until it waits for the socket or a loader (or closes).
  void Drive(Connection& c);
  void DeliverLoaded();
  void Sweep();
  void StartDrain();
  void SetInterest(Connection& c, uint32_t events);
  EventLoop(ServeContext& context, uint32_t lane);
  Status Init();
  void Close(Connection& c);
  bool ReadInput(Connection& c);  // false: peer gone
  bool Pump(Connection& c);       // false: connection must close
  void FinishResponse(Connection& c);

  // request.cc: dispatch, fc requests, replies; serve.cc: the file-serving
  // flow both protocols share; upload_request.cc: PUT.
  void ProcessInput(Connection& c);
  bool ProcessFcRequest(Connection& c);  // false: wait for more input
  void HandleGet(Connection& c);  // c.name, c.offset, c.length, c.head_only, conditionals set
  // What the hit path learnt before a miss: the statx identity, whether the
  // cache was asked (or was busy), and the compressed copy to load, if any.
  struct HitProbe {
    shm_cache::FileIdentity quick;
    bool looked_up = false;
    bool busy = false;
    std::optional<http::Coding> copy;
  };
  // The hit path: one statx (or none, within --revalidate-after) and the
  // cache; no open. True when the request was answered.
  bool ServeHit(Connection& c, HitProbe* probe);
  // A miss of the opened file: streamed at once, loaded inline, or handed to
  // a loader thread.
  void ServeMiss(Connection& c, OpenedFile file);
  void HandleList(Connection& c);
  // Complete requests waiting in the input buffer (pipelined).
  size_t CountQueued(const Connection& c) const;
  // PUT: checks, then receive the body into an Upload (fc and HTTP alike).
  bool AdmitUpload(Connection& c, std::string_view token, uint64_t length);
  void BeginUpload(Connection& c, uint64_t length, bool verify, uint64_t checksum);
  void ConsumeUpload(Connection& c);
  void OnUploadWritten(Connection& c, LoadResult result);
  void OnLoaded(Connection& c, LoadResult result);
  // Decides the body range (or answers at once: bad range, 304, HEAD). False
  // when the reply is already started and no body is needed.
  bool PlanBody(Connection& c);
  void StartCached(Connection& c, shm_cache::PinnedEntry pin, Outcome how);
  void StartStream(Connection& c, UniqueFd file, uint64_t checksum, Outcome how);
  void StartHead(Connection& c, uint64_t checksum, bool from_cache);
  void ReplyError(Connection& c, protocol::Code code, const std::string& message,
                  bool close_after);
  // ReplyError with the request's name in front of the refusal's message.
  void Refuse(Connection& c, const Refusal& refusal, bool close_after);
  void BeginReply(Connection& c);
  // Counts a finished response (metrics, counters.h) and logs it (access log).
  void RecordRequest(const Connection& c);

  // http_request.cc: HTTP/1.1 on the same port.
  bool ProcessHttpRequest(Connection& c);  // false: wait for more input
  void DispatchHttp(Connection& c, bool body_skippable);
  void HandleHttpPut(Connection& c);
  bool PlanHttpBody(Connection& c);  // conditionals, Range, HEAD
  // http_reply.cc: status lines and fields.
  static bool ReplyCarriesChecksum(const Connection& c);
  // `checksum`: the whole file's xxHash64 when known, sent on a 200.
  void HttpHead(Connection& c, int status, uint64_t body_length, bool from_cache,
                const uint64_t* checksum = nullptr);
  // A reply with a short text body: errors, and also health and OPTIONS.
  void HttpText(Connection& c, int status, const std::string& message, bool close_after);
  // A reply with a body made in memory (a listing, /.fc/cache, a redirect's
  // note) and extra `fields` ("Name: value\r\n" each).
  void HttpBody(Connection& c, int status, std::string body, std::string_view content_type,
                std::string_view fields, bool close_after);
  // http_directory.cc: URLs of directories, and the variant of a file.
  // A URL ending in '/': its index file, else a listing (--autoindex) or 403.
  void HandleHttpDirectory(Connection& c);
  // After a refused open of `c.name`: if it is a directory, answers 301 to
  // its URL with the '/' (keeping the query) and returns true.
  bool RedirectDirectory(Connection& c);
  // GET /.fc/cache: the cache's entries as JSON, or as an HTML page.
  void HandleCachePage(Connection& c);
  // --precompressed: switches c.name to the best variant the client accepts
  // that exists and is not older than the file (*id: its identity).
  void ChooseVariant(Connection& c, shm_cache::FileIdentity* id);
  // --compress: hands the copy's load (or making) to a loader thread.
  void LoadCopy(Connection& c, OpenedFile file, http::Coding coding);
  LoadTask MakeLoadTask(const Connection& c, OpenedFile file);
  // The name whose extension gives the Content-Type (a variant's original).
  std::string_view TypeName(const Connection& c) const;
  // --compress: the coding of the copy to serve for this request of a file
  // with identity `id`, if any (compressible, in the size limits, accepted).
  std::optional<http::Coding> CopyCoding(const Connection& c, const shm_cache::FileIdentity& id) const;
  // The compressed copy is served: c.identity takes its size.
  void UseCopy(Connection& c, http::Coding coding, const shm_cache::PinnedEntry& pin);
  // What the ETag says beyond the file's identity: a copy's coding.
  static std::string_view EtagTag(const Connection& c);
  // The text before part `part` of a multipart/byteranges body; for
  // part == spans.size(), the closing boundary.
  std::string PartHeader(const Connection& c, size_t part) const;
  // The HTTP status for an fc code, in the context of the request.
  static int HttpStatusFor(const Connection& c, protocol::Code code);
  const std::string& DateHeader();
  // "ETag: ...\r\nLast-Modified: ...\r\n" for a file, memoised per loop.
  const std::string& Validators(const shm_cache::FileIdentity& id, std::string_view tag);

  ServeContext& ctx_;
  shm_cache::WorkerCounters& counters_;  // this thread's lane in the segment
  UniqueFd epoll_;
  UniqueFd wakeup_;  // eventfd
  uint64_t next_serial_ = 2;  // 0 = listening socket, 1 = wakeup
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
  std::string date_;          // "Date: ...\r\n", refreshed once a second
  time_t date_second_ = 0;
  struct ValidatorMemo {
    shm_cache::FileIdentity id;
    std::string tag;
    std::string text;
  };
  ValidatorMemo validators_[64];
  // --revalidate-after: a file's identity as last stat'ed, by canonical name.
  struct StatMemo {
    shm_cache::FileIdentity id;
    int64_t checked_ns = 0;
  };
  static constexpr size_t kMaxStatMemo = 65536;  // (~5 MiB) then it starts over
  std::unordered_map<std::string, StatMemo> stat_memo_;
  // The identity of `name` (false: the full open must decide), from the memo
  // while it is younger than --revalidate-after, else from one statx.
  bool CurrentIdentity(const std::string& name, shm_cache::FileIdentity* id);
  void RememberIdentity(const std::string& name, const shm_cache::FileIdentity& id);

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
