// Internal header: FileResponder, the one file-serving flow for both
// protocols (h2o's file generator). From a request's name to a Response body
// source: the canonical name, a confined statx (memoised within
// --revalidate-after), a hit from the shared cache, or a miss — streamed at
// once, loaded on the loop, or handed to a loader thread — and, for HTTP, the
// variant or compressed copy to send. What differs by protocol (the body's
// plan, the head, refusals) it asks the connection's Session. Loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "connection.h"
#include "file_source.h"
#include "loader.h"

namespace fc::worker {

class EventLoop;
struct ServeContext;

class FileResponder {
 public:
  // Misses of files up to this size are loaded on the loop itself when that
  // needs no waiting (LoaderPool::TryLoadNow): ~50 us of copying at most.
  static constexpr uint64_t kInlineLoadMax = 256 * 1024;

  explicit FileResponder(EventLoop& loop);

  // Serves c.ex.name (c.ex.offset, length, head_only and, for HTTP, the
  // parsed request set).
  void Serve(Connection& c);
  // A loader's result for a Serve that waited for it.
  void OnLoaded(Connection& c, LoadResult result);
  // Forgets the memoised identity of `name` (it was refused, or replaced).
  void Forget(const std::string& name);

  // The name whose extension gives the Content-Type (a variant's original).
  std::string_view TypeName(const Connection& c) const;
  // What the ETag says beyond the file's identity: a copy's coding.
  static std::string_view EtagTag(const Connection& c);

 private:
  // What the hit path learnt before a miss: the statx identity, whether the
  // cache was asked (or was busy), and the compressed copy to load, if any.
  struct HitProbe {
    shm_cache::FileIdentity quick;
    bool stated = false;  // `quick` holds the name's identity...
    bool fresh = false;   // ...from a statx of this request (not the memo)
    bool looked_up = false;
    bool busy = false;
    std::optional<http::Coding> copy;
  };
  // A lookup's pin (invalid on a miss); a busy lock is remembered in the
  // probe, so that the miss path does not ask again.
  static shm_cache::PinnedEntry Take(Result<shm_cache::PinnedEntry> found, HitProbe* probe);
  // The hit path: one statx (or none, within --revalidate-after) and the
  // cache; no open. True when the request was answered.
  bool ServeHit(Connection& c, HitProbe* probe);
  // A miss of the opened file: streamed at once, loaded inline, or handed to
  // a loader thread.
  void ServeMiss(Connection& c, OpenedFile file);
  void StartCached(Connection& c, shm_cache::PinnedEntry pin, Outcome how);
  void StartStream(Connection& c, SharedFd file, uint64_t checksum, Outcome how);
  LoadTask MakeLoadTask(const Connection& c, OpenedFile file);

  // file_variants.cc: HTTP's choice of bytes for one file.
  // --precompressed: switches c.ex.name to the best variant the client
  // accepts that exists and is not older than the file (*id: its identity,
  // *fresh: from a statx now, not the memo).
  void ChooseVariant(Connection& c, shm_cache::FileIdentity* id, bool* fresh);
  // --compress: the coding of the copy to serve for this request of a file
  // with identity `id`, if any (compressible, in the size limits, accepted).
  std::optional<http::Coding> CopyCoding(const Connection& c, const shm_cache::FileIdentity& id) const;
  // The compressed copy is served: c.ex.identity takes its size.
  void UseCopy(Connection& c, http::Coding coding, const shm_cache::PinnedEntry& pin);
  // --compress: hands the copy's load (or making) to a loader thread.
  void LoadCopy(Connection& c, OpenedFile file, http::Coding coding);

  // The identity of `name` (false: the full open must decide), from the memo
  // while it is younger than --revalidate-after, else from one statx (*fresh).
  bool CurrentIdentity(const std::string& name, shm_cache::FileIdentity* id, bool* fresh);
  void RememberIdentity(const std::string& name, const shm_cache::FileIdentity& id);
  // The file of a request that missed the cache: the kept descriptor when it
  // is still the file a statx sees now (the probe's, or a new one if the
  // probe's came from the memo), else a confined open (kept for the next miss
  // when it agrees with that statx).
  Refusal OpenForMiss(const std::string& name, const HitProbe& probe, OpenedFile* file);

  EventLoop& loop_;
  ServeContext& ctx_;
  // --revalidate-after: a file's identity as last stat'ed, by canonical name.
  struct StatMemo {
    shm_cache::FileIdentity id;
    int64_t checked_ns = 0;
  };
  static constexpr size_t kMaxStatMemo = 65536;  // (~5 MiB) then it starts over
  std::unordered_map<std::string, StatMemo> stat_memo_;
};

}  // namespace fc::worker
