// A worker process: serves connections accepted from its slot's listening
// socket (SO_REUSEPORT, bound by the master) with `threads` epoll event loops, from the shared cache, with a small
// pool of loader threads for disk work (loading a file into the cache under its
// lock file, or checksumming a file that will be streamed).
//
// Called by fc-master in the forked child. RunWorker returns the process exit
// code once a drain (SIGTERM/SIGINT) finishes or its deadline passes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fc/base/net.h"
#include "fc/base/status.h"
#include "fc/protocol/content_coding.h"
#include "fc/tls/server_tls.h"

namespace fc::worker {

class MediaTypes;
// Reads the media-type table (mime.types format) once. The master calls it
// before forking, so every worker shares the table's pages instead of holding
// a private copy.
std::shared_ptr<const MediaTypes> LoadMediaTypes(const std::string& path,
                                                 const std::string& default_type);

// Access log formats (access_log.cc): Apache/nginx "combined", one JSON
// object per line, or fc's short line for people.
enum class LogFormat { kCombined, kJson, kFc };
Result<LogFormat> ParseLogFormat(const std::string& text);

// --autoindex: what a directory URL with no index file answers.
enum class Autoindex { kOff, kHtml, kJson };

// A worker's options: what the command line and the config file say, checked
// once by the master (options.cc) and the same for every worker of one
// configuration; a reload hands the next workers a new one. What the master
// made or chose for one process is its WorkerHandOff, below.
struct WorkerConfig {
  std::string root;           // served directory (absolute: the master resolved it)
  int threads = 2;            // event loop threads
  int loaders = 2;            // disk loader threads
  // The worker's threads run SCHED_BATCH: a request arriving while the CPU runs
  // something else does not preempt it, so the worker wakes less often and
  // finds more work per wake-up (docs/performance.md). false: SCHED_OTHER.
  bool batch_scheduling = true;
  // Trust a file's device, inode, size and mtime this long after the last stat
  // of it (nginx's open_file_cache_valid): no statx per request in between, and
  // a file changed on disk may be served in its old version that long. 0: stat
  // on every request.
  int revalidate_ms = 0;
  // Descriptors each worker keeps open between misses of a file (nginx's
  // open_file_cache max): a miss of a kept file whose statx still matches
  // skips the open. At most half of what the open-file limit leaves (the
  // rest is for connections); 0: none.
  int open_files = 16384;
  // Drop a file's pages from the kernel's page cache once its bytes are in the
  // segment (--page-cache drop, and auto under a cgroup memory limit): memory
  // holds a cached file once, not twice.
  bool drop_loaded_pages = false;
  int idle_timeout_ms = 60'000;
  int write_timeout_ms = 60'000;
  int shutdown_timeout_ms = 10'000;
  int drain_notice_ms = 0;     // after SIGTERM, serve on (health: 503) this long before draining
  std::string access_log = "-";  // a path, "-" (stderr) or "off"
  LogFormat log_format = LogFormat::kCombined;
  std::string error_log;         // lifecycle and errors; "" = stderr as inherited
  // Uploads (PUT): off unless allow_upload.
  bool allow_upload = false;
  std::string upload_token;            // empty: no token needed
  uint64_t max_upload = 1ull << 30;    // bytes
  uint64_t upload_min_rate = 4096;     // bytes/s averaged after the first 10 s; 0: none
  // Limits against hostile or broken clients.
  int max_connections = 10'000;        // per worker; more are closed at once
  int request_timeout_ms = 10'000;     // a started request must arrive whole in this time
  int lock_timeout_ms = 10;            // wait for the shared cache lock; then stream from disk
  int max_queued = 32;                 // pipelined requests waiting per connection
  bool allow_list = true;              // LIST discloses every cached name (--list off)
  // GET /.fc/cache answers only peers in these prefixes (--list-from); the
  // fc protocol's LIST is not limited by it.
  std::vector<net::AddressRange> list_from;
  // HTTP.
  std::string health_path = "/.fc/health";  // GET/HEAD: 200 serving, 503 draining
  std::string default_type = "application/octet-stream";
  std::string mime_types = "/etc/mime.types";
  std::string cache_control;                // empty: no Cache-Control on files
  // A URL ending in '/' serves the first of these that is a file in the
  // directory; then a listing (--autoindex) or 403. A directory's URL without
  // its '/' is redirected (301) to it. docs/web.md.
  std::vector<std::string> index_files{"index.html"};
  Autoindex autoindex = Autoindex::kOff;
  // --dotfiles deny: a name with a component beginning with '.' answers 404,
  // except under .well-known/; allow (the default, as nginx): served, never
  // listed (docs/security.md).
  bool deny_dotfiles = false;
  // Variants served beside a file (NAME.br, NAME.zst, NAME.gz), in preference
  // order, to a client that accepts them; empty: off (--precompressed).
  std::vector<http::Coding> precompressed;
  // Compressed copies made once by the loader and kept in the shared cache
  // beside the file (worker/src/compressor.h), in preference order, for
  // compressible types from compress_min_size bytes; empty: off (--compress).
  // A precompressed variant on disk, when there is one, comes first.
  std::vector<http::Coding> compress;
  uint64_t compress_min_size = 1024;
  // HTTPS (docs/tls.md). The certificates themselves are in WorkerHandOff.
  int tls_handshake_timeout_ms = 10'000;  // a handshake must finish in this
  int tls_max_handshakes = 256;          // per worker at once; more are closed unanswered
  int hsts_seconds = 0;                  // Strict-Transport-Security max-age on TLS replies; 0: none
  // --redirect-https: the plain listener answers 308 to https://HOST:https_port
  // (not the health path; not a Host that is an IP literal).
  bool redirect_https = false;
  uint16_t https_port = 0;
};

// What the master hands one worker process besides its options: what it
// made (the segment, the load lock directory and its salt, the media-type
// table read once before forking) and where this process serves. Runtime
// state, never read from a command line; a reload keeps what the master made.
struct WorkerHandOff {
  std::string shm_name;  // the cache segment
  std::string lock_dir;  // private directory of the load lock files (made by the master)
  uint64_t lock_salt = 0;  // salts lock file names (random per master)
  std::shared_ptr<const MediaTypes> media_types;  // from the options' mime_types; loaded by the worker if null
  uint32_t slot = 0;     // worker slot in the shared cache
  int listen_fd = -1;    // nonblocking listening socket, inherited; -1: only TLS
  int tls_listen_fd = -1;  // the slot's TLS listener (SO_REUSEPORT, as listen_fd); -1: none
  std::shared_ptr<const tls::ServerTls> tls;  // its certificates (built by the master)
  bool arm_crash_points = false;  // honour FC_CRASH_AT (tests: slot 0's first worker)
  // A standby worker (>= 0): it prepares everything that needs no slot, then
  // reads a StandbyActivation from this pipe, closes the listening sockets in
  // standby_listeners but its own, attaches and serves. EOF: it exits.
  int standby_fd = -1;
  std::vector<int> standby_listeners;
};

// What the master writes to a standby's pipe to make it a worker.
struct StandbyActivation {
  uint32_t slot;
  int32_t listen_fd;
  int32_t tls_listen_fd;  // -1: no TLS
};

int RunWorker(const WorkerConfig& config, WorkerHandOff hand_off);

}  // namespace fc::worker
