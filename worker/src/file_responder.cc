// FileResponder: the file-serving flow both protocols share: canonical name,
// confined stat, then a hit from the cache, a load on a loader thread, or a
// stream from disk.
#include "file_responder.h"

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

FileResponder::FileResponder(EventLoop& loop) : loop_(loop), ctx_(loop.context()) {}

bool FileResponder::CurrentIdentity(const std::string& name, shm_cache::FileIdentity* id, bool* fresh) {
  *fresh = false;
  if (ctx_.config.revalidate_ms > 0) {
    auto it = stat_memo_.find(name);
    if (it != stat_memo_.end() &&
        loop_.now_ns() - it->second.checked_ns < int64_t{ctx_.config.revalidate_ms} * 1'000'000) {
      *id = it->second.id;
      return true;
    }
  }
  if (!QuickIdentity(ctx_.files.root_fd(), name, id)) return false;
  *fresh = true;
  RememberIdentity(name, *id);
  return true;
}

void FileResponder::RememberIdentity(const std::string& name, const shm_cache::FileIdentity& id) {
  if (ctx_.config.revalidate_ms <= 0) return;
  if (stat_memo_.size() >= kMaxStatMemo) stat_memo_.clear();
  stat_memo_[name] = StatMemo{id, loop_.now_ns()};
}

void FileResponder::Serve(Connection& c) {
  std::string canonical;
  Refusal refusal = FileSource::CanonicalName(c.ex.name, &canonical);
  if (refusal.code != Code::kOk) return c.session->Refuse(c, refusal, false);
  c.ex.name = std::move(canonical);
  if (ctx_.config.deny_dotfiles && FileSource::IsDeniedDotName(c.ex.name)) {
    return c.session->Refuse(c, {Code::kNotFound, "no such file under the served root"}, false);
  }
  HitProbe probe;
  if (ServeHit(c, &probe)) return;
  OpenedFile file;
  if (refusal = OpenForMiss(c.ex.name, probe, &file); !refusal.ok()) {
    Forget(c.ex.name);
    if (c.ex.coding && !c.ex.copy) {
      // A precompressed variant that cannot be opened (unreadable, just
      // removed) is as if absent: the next coding, or the file itself, and
      // the reply never names the variant. At most one retry per coding.
      c.ex.failed_variants |= static_cast<uint8_t>(1u << static_cast<int>(*c.ex.coding));
      c.ex.name = std::string(TypeName(c));
      c.ex.coding.reset();
      return Serve(c);
    }
    return c.session->RefuseOpen(c, refusal);
  }
  c.ex.identity = file.identity;
  RememberIdentity(c.ex.name, file.identity);
  if (probe.copy) return LoadCopy(c, std::move(file), *probe.copy);
  if (!c.session->PlanBody(c)) return;
  // Ask the cache again only if the open found another file than statx did
  // (a symlink followed, or a change in between).
  if (!probe.busy && (!probe.looked_up || !(probe.quick == file.identity))) {
    shm_cache::PinnedEntry pin = Take(ctx_.cache.Lookup(c.ex.name, file.identity), &probe);
    if (pin.valid()) return StartCached(c, std::move(pin), Outcome::kHit);
  }
  ServeMiss(c, std::move(file));
}

Refusal FileResponder::OpenForMiss(const std::string& name, const HitProbe& probe, OpenedFile* file) {
  // A remembered identity (--revalidate-after) may be older than the file:
  // the descriptor to reuse must be the file there now.
  shm_cache::FileIdentity now = probe.quick;
  const bool stated = probe.stated && (probe.fresh || QuickIdentity(ctx_.files.root_fd(), name, &now));
  if (stated && ctx_.open_files.Find(name, now, loop_.now_ns(), file)) return {};
  Refusal refusal = ctx_.files.OpenFile(name, file);
  if (refusal.code == Code::kInternal && ctx_.open_files.size() > 0) {
    ctx_.open_files.Shrink();  // out of descriptors, perhaps: the request first
    refusal = ctx_.files.OpenFile(name, file);
  }
  if (refusal.ok() && stated && now == file->identity) {
    ctx_.open_files.Keep(name, *file, loop_.now_ns());
  }
  return refusal;
}

void FileResponder::Forget(const std::string& name) {
  stat_memo_.erase(name);
  ctx_.open_files.Forget(name);
}

shm_cache::PinnedEntry FileResponder::Take(Result<shm_cache::PinnedEntry> found, HitProbe* probe) {
  if (!found.ok()) {
    probe->busy = true;  // the miss will not ask the cache again
    return shm_cache::PinnedEntry();
  }
  return std::move(found).value();
}

bool FileResponder::ServeHit(Connection& c, HitProbe* probe) {
  if (!CurrentIdentity(c.ex.name, &probe->quick, &probe->fresh)) return false;
  probe->stated = true;
  if (!ctx_.config.precompressed.empty() && c.proto == Connection::Proto::kHttp && c.ex.http->has_accept_encoding) {
    ChooseVariant(c, &probe->quick, &probe->fresh);
  }
  c.ex.identity = probe->quick;
  probe->copy = CopyCoding(c, probe->quick);
  if (probe->copy) {
    shm_cache::PinnedEntry pin = Take(ctx_.cache.LookupCopy(CopyName(*probe->copy, c.ex.name), probe->quick), probe);
    if (pin.valid() && pin.size() > 0) {
      UseCopy(c, *probe->copy, pin);
      if (c.session->PlanBody(c)) StartCached(c, std::move(pin), Outcome::kHit);
      return true;
    }
    if (!pin.valid()) return false;  // the copy is to be made: open the file
    probe->copy.reset();  // an empty copy: compression does not pay for this file
  }
  shm_cache::PinnedEntry pin = Take(ctx_.cache.Lookup(c.ex.name, c.ex.identity), probe);
  if (pin.valid()) {
    if (c.session->PlanBody(c)) StartCached(c, std::move(pin), Outcome::kHit);
    return true;
  }
  probe->looked_up = true;
  return false;
}

void FileResponder::ServeMiss(Connection& c, OpenedFile file) {
  // A file that will be streamed whatever happens (larger than the cache, or
  // kept out by the admission gate on its first request) and whose reply
  // needs no checksum is streamed now: no load lock, no loader thread.
  if (!c.session->ReplyCarriesChecksum(c)) {
    switch (ctx_.cache.RouteMiss(c.ex.name, file.identity)) {
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
    if (std::optional<LoadResult> now = ctx_.loaders->TryLoadNow(task)) return OnLoaded(c, std::move(*now));
  }
  loop_.AwaitLoader(c);
  ctx_.loaders->Submit(std::move(task));
}

// The compressed copy missed: a loader thread makes it (or finds it made by
// another process meanwhile), or falls back to the file itself; the body is
// planned when it is known which (OnLoaded).
void FileResponder::LoadCopy(Connection& c, OpenedFile file, http::Coding coding) {
  LoadTask task = MakeLoadTask(c, std::move(file));
  task.compress = coding;
  c.ex.plan_after_load = true;
  loop_.AwaitLoader(c);
  ctx_.loaders->Submit(std::move(task));
}

// A loader's task for this request's file; its result comes back to this
// loop (PostLoaded).
LoadTask FileResponder::MakeLoadTask(const Connection& c, OpenedFile file) {
  const uint64_t serial = c.serial;
  LoadTask task;
  task.name = c.ex.name;
  task.fd = std::move(file.fd);
  task.identity = file.identity;
  // A streamed file is hashed first (memoised per identity) only when its
  // reply carries the checksum; a browser's or curl's request costs no hash.
  task.need_checksum = c.session->ReplyCarriesChecksum(c);
  // Waiting for another process's load counts against the request's own time.
  task.deadline_ns = c.ex.started_ns + int64_t{ctx_.config.request_timeout_ms} * 1'000'000;
  EventLoop* loop = &loop_;
  task.done = [loop, serial](LoadResult result) { loop->PostLoaded(serial, std::move(result)); };
  return task;
}

void FileResponder::OnLoaded(Connection& c, LoadResult result) {
  c.state = Connection::State::kReading;
  if (c.ex.plan_after_load && result.kind != LoadResult::Kind::kError) {
    c.ex.plan_after_load = false;
    if (result.coding) UseCopy(c, *result.coding, result.pin);
    if (!c.session->PlanBody(c)) return;  // (a refusal: the pin or the file is dropped with `result`)
  }
  switch (result.kind) {
    case LoadResult::Kind::kCached:
      return StartCached(c, std::move(result.pin), result.how);
    case LoadResult::Kind::kStream:
      return StartStream(c, std::move(result.fd), result.checksum, result.how);
    case LoadResult::Kind::kError:
      // A loader's message names the file already.
      return c.session->ReplyError(c, result.refusal.code, result.refusal.message, /*close_after=*/false);
    case LoadResult::Kind::kWritten:
    case LoadResult::Kind::kUploaded:
    case LoadResult::Kind::kWouldBlock:
    case LoadResult::Kind::kListed:
      break;  // never here: an upload's results go to the UploadReceiver, a listing's to the
              // HttpSession, and TryLoadNow keeps kWouldBlock
  }
}

void FileResponder::StartCached(Connection& c, shm_cache::PinnedEntry pin, Outcome how) {
  const uint64_t checksum = pin.checksum();
  c.ex.how = how;
  if (!c.ex.head_only) {
    c.response.SetPackets(ctx_.cache, std::move(pin), c.ex.offset, c.ex.length);
  }
  c.ex.code = Code::kOk;
  c.session->StartHead(c, checksum, /*from_cache=*/true);
}

void FileResponder::StartStream(Connection& c, SharedFd file, uint64_t checksum, Outcome how) {
  c.ex.how = how;
  if (!c.ex.head_only) {
    c.response.SetFile(std::move(file), c.ex.offset, c.ex.length);
  }
  c.ex.code = Code::kOk;
  c.session->StartHead(c, checksum, /*from_cache=*/false);
}

}  // namespace fc::worker
