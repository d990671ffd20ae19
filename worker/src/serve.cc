// The file-serving flow both protocols share: canonical name, confined stat,
// then a hit from the cache, a load on a loader thread, or a stream from disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "fc/base/clock.h"
#include "compressor.h"
#include "event_loop.h"

namespace fc::worker {

using protocol::Code;

namespace {

// A cheap confined stat for the hit path: one statx, no open. Serving cached
// bytes on a match is safe even if a directory on the way was swapped for a
// symlink: the cached bytes were loaded through a confined open, and device +
// inode + size + mtime must all match them. Anything unusual (a symlink as the
// last component, not a regular file) takes the full openat2 path instead.
bool QuickIdentity(int root_fd, const std::string& name, shm_cache::FileIdentity* id) {
  struct statx st;
  if (::statx(root_fd, name.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_AS_STAT,
              STATX_TYPE | STATX_SIZE | STATX_INO | STATX_MTIME | STATX_CTIME, &st) != 0) {
    return false;
  }
  if (!S_ISREG(st.stx_mode)) return false;
  id->size = st.stx_size;
  id->mtime_ns = Nanoseconds(st.stx_mtime);
  id->ino = st.stx_ino;
  id->dev = makedev(st.stx_dev_major, st.stx_dev_minor);
  id->ctime_ns = Nanoseconds(st.stx_ctime);
  return true;
}

}  // namespace

bool EventLoop::CurrentIdentity(const std::string& name, shm_cache::FileIdentity* id) {
  if (ctx_.config.revalidate_ms > 0) {
    auto it = stat_memo_.find(name);
    if (it != stat_memo_.end() &&
        now_ns_ - it->second.checked_ns < int64_t{ctx_.config.revalidate_ms} * 1'000'000) {
      *id = it->second.id;
      return true;
    }
  }
  if (!QuickIdentity(ctx_.files.root_fd(), name, id)) return false;
  RememberIdentity(name, *id);
  return true;
}

void EventLoop::RememberIdentity(const std::string& name, const shm_cache::FileIdentity& id) {
  if (ctx_.config.revalidate_ms <= 0) return;
  if (stat_memo_.size() >= kMaxStatMemo) stat_memo_.clear();
  stat_memo_[name] = StatMemo{id, now_ns_};
}

void EventLoop::HandleGet(Connection& c) {
  std::string canonical;
  Refusal refusal = FileSource::CanonicalName(c.name, &canonical);
  if (refusal.code != Code::kOk) return Refuse(c, refusal, false);
  c.name = std::move(canonical);
  HitProbe probe;
  if (ServeHit(c, &probe)) return;
  OpenedFile file;
  if (refusal = ctx_.files.OpenFile(c.name, &file); !refusal.ok()) {
    stat_memo_.erase(c.name);
    if (c.proto == Connection::Proto::kHttp && refusal.code == Code::kForbidden && RedirectDirectory(c)) {
      return;
    }
    return Refuse(c, refusal, false);
  }
  c.identity = file.identity;
  RememberIdentity(c.name, file.identity);
  if (probe.copy) return LoadCopy(c, std::move(file), *probe.copy);
  if (!PlanBody(c)) return;
  // Ask the cache again only if the open found another file than statx did
  // (a symlink followed, or a change in between).
  if (!probe.busy && (!probe.looked_up || !(probe.quick == file.identity))) {
    shm_cache::PinnedEntry pin = ctx_.cache.Lookup(c.name, file.identity, &probe.busy);
    if (pin.valid()) return StartCached(c, std::move(pin), Outcome::kHit);
  }
  ServeMiss(c, std::move(file));
}

bool EventLoop::ServeHit(Connection& c, HitProbe* probe) {
  if (!CurrentIdentity(c.name, &probe->quick)) return false;
  if (!ctx_.config.precompressed.empty() && c.proto == Connection::Proto::kHttp && c.http->has_accept_encoding) {
    ChooseVariant(c, &probe->quick);
  }
  c.identity = probe->quick;
  probe->copy = CopyCoding(c, probe->quick);
  if (probe->copy) {
    shm_cache::PinnedEntry pin = ctx_.cache.LookupCopy(CopyName(*probe->copy, c.name), probe->quick, &probe->busy);
    if (pin.valid() && pin.size() > 0) {
      UseCopy(c, *probe->copy, pin);
      if (PlanBody(c)) StartCached(c, std::move(pin), Outcome::kHit);
      return true;
    }
    if (!pin.valid()) return false;  // the copy is to be made: open the file
    probe->copy.reset();  // an empty copy: compression does not pay for this file
  }
  shm_cache::PinnedEntry pin = ctx_.cache.Lookup(c.name, c.identity, &probe->busy);
  if (pin.valid()) {
    if (PlanBody(c)) StartCached(c, std::move(pin), Outcome::kHit);
    return true;
  }
  probe->looked_up = true;
  return false;
}

void EventLoop::ServeMiss(Connection& c, OpenedFile file) {
  // A file that will be streamed whatever happens (larger than the cache, or
  // kept out by the admission gate on its first request) and whose reply
  // needs no checksum is streamed now: no load lock, no loader thread.
  if (!ReplyCarriesChecksum(c)) {
    switch (ctx_.cache.RouteMiss(c.name, file.identity)) {
      case shm_cache::Admission::Kind::kTooLarge:
        return StartStream(c, std::move(file.fd), 0, Outcome::kStream);
      case shm_cache::Admission::Kind::kNotAdmitted:
        return StartStream(c, std::move(file.fd), 0, Outcome::kStreamFirst);
      default:
        break;
    }
  }
  // Otherwise the disk work happens here if it needs no waiting (a small file
  // in the page cache, its load lock free), else on a loader thread while
  // this loop moves on.
  const uint64_t size = file.identity.size;
  LoadTask task = MakeLoadTask(c, std::move(file));
  if (size <= kInlineLoadMax) {
    LoadResult result;
    if (ctx_.loaders->TryLoadNow(task, &result)) return OnLoaded(c, std::move(result));
  }
  c.state = Connection::State::kWaiting;
  SetInterest(c, 0);
  ctx_.loaders->Submit(std::move(task));
}

// The compressed copy missed: a loader thread makes it (or finds it made by
// another process meanwhile), or falls back to the file itself; the body is
// planned when it is known which (OnLoaded).
void EventLoop::LoadCopy(Connection& c, OpenedFile file, http::Coding coding) {
  LoadTask task = MakeLoadTask(c, std::move(file));
  task.compress = coding;
  c.plan_after_load = true;
  c.state = Connection::State::kWaiting;
  SetInterest(c, 0);
  ctx_.loaders->Submit(std::move(task));
}

// A loader's task for this request's file; its result comes back to this
// loop (PostLoaded).
LoadTask EventLoop::MakeLoadTask(const Connection& c, OpenedFile file) {
  const uint64_t serial = c.serial;
  LoadTask task;
  task.name = c.name;
  task.fd = std::move(file.fd);
  task.identity = file.identity;
  // A streamed file is hashed first (memoised per identity) only when its
  // reply carries the checksum; a browser's or curl's request costs no hash.
  task.need_checksum = ReplyCarriesChecksum(c);
  // Waiting for another process's load counts against the request's own time.
  task.deadline_ns = c.started_ns + int64_t{ctx_.config.request_timeout_ms} * 1'000'000;
  task.done = [this, serial](LoadResult result) { PostLoaded(serial, std::move(result)); };
  return task;
}

// Whether a streamed file must be hashed for its reply: every fc reply
// carries the checksum; an HTTP 200 only when the request asked for it
// (X-Fc-Want-Checksum, which fc-client sends; PROTOCOL.md). A reply from the
// cache carries it whenever it is a 200 or HEAD: it was computed at the load.
bool EventLoop::ReplyCarriesChecksum(const Connection& c) {
  return c.proto == Connection::Proto::kFc ||
         (!c.http_range && !c.head_only && c.http && c.http->want_checksum);
}

bool EventLoop::PlanBody(Connection& c) {
  const uint64_t size = c.identity.size;
  if (c.proto == Connection::Proto::kFc) {
    if (c.offset > size) {
      ReplyError(c, Code::kBadRange,
                 "offset " + std::to_string(c.offset) + " is beyond the end of \"" +
                     Printable(c.name) + "\" (" + std::to_string(size) + " bytes)",
                 false);
      return false;
    }
    c.length = c.length == 0 ? size - c.offset : std::min(c.length, size - c.offset);
    return true;
  }
  return PlanHttpBody(c);
}

void EventLoop::OnLoaded(Connection& c, LoadResult result) {
  if (c.state == Connection::State::kUploading) return OnUploadWritten(c, std::move(result));
  c.state = Connection::State::kReading;
  if (c.plan_after_load && result.kind != LoadResult::Kind::kError) {
    c.plan_after_load = false;
    if (result.coding) UseCopy(c, *result.coding, result.pin);
    if (!PlanBody(c)) return;  // (a refusal: the pin or the file is dropped with `result`)
  }
  switch (result.kind) {
    case LoadResult::Kind::kCached:
      return StartCached(c, std::move(result.pin), result.how);
    case LoadResult::Kind::kStream:
      return StartStream(c, std::move(result.fd), result.checksum, result.how);
    case LoadResult::Kind::kError:
      // A loader's message names the file already.
      return ReplyError(c, result.refusal.code, result.refusal.message, /*close_after=*/false);
    case LoadResult::Kind::kWritten:
      return;  // (only while uploading, above)
    case LoadResult::Kind::kUploaded: {
      stat_memo_.erase(c.name);  // this loop serves the new file at once
      c.how = result.how;
      c.code = Code::kOk;
      c.identity.size = result.length;
      if (c.proto == Connection::Proto::kHttp) {
        return HttpText(c, 201, "stored \"" + Printable(c.name) + "\"", false);
      }
      protocol::ReplyHeader h;
      h.file_size = result.length;
      h.checksum = result.checksum;
      EncodeReply(h, &c.response);
      return BeginReply(c);
    }
  }
}

void EventLoop::StartCached(Connection& c, shm_cache::PinnedEntry pin, Outcome how) {
  const uint64_t checksum = pin.checksum();
  c.how = how;
  if (!c.head_only) {
    c.response.SetPackets(ctx_.cache, std::move(pin), c.offset, c.length);
  }
  StartHead(c, checksum, /*from_cache=*/true);
}

void EventLoop::StartStream(Connection& c, UniqueFd file, uint64_t checksum, Outcome how) {
  c.how = how;
  if (!c.head_only) {
    c.response.SetFile(std::move(file), c.offset, c.length);
  }
  StartHead(c, checksum, /*from_cache=*/false);
}

void EventLoop::StartHead(Connection& c, uint64_t checksum, bool from_cache) {
  c.code = Code::kOk;
  if (c.proto == Connection::Proto::kHttp) {
    const bool known = from_cache || ReplyCarriesChecksum(c);
    return HttpHead(c, c.http_range ? 206 : 200, c.length, from_cache, known ? &checksum : nullptr);
  }
  protocol::ReplyHeader h;
  h.flags = from_cache ? protocol::kFlagFromCache : 0;
  h.file_size = c.identity.size;
  h.offset = c.offset;
  h.body_length = c.length;
  h.checksum = checksum;
  EncodeReply(h, &c.response);
  BeginReply(c);
}

}  // namespace fc::worker
