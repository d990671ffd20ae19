// UploadReceiver: PUT, in both protocols: admission before the body, then the
// body into an Upload, then the commit (fsync, verify, rename) on a loader thread.
#include "upload_receiver.h"

#include <sys/epoll.h>

#include "compressor.h"
#include "event_loop.h"

namespace fc::worker {

using protocol::Code;

namespace {
bool SameSecret(std::string_view a, std::string_view b) {
  // Constant time in the secret's content.
  unsigned diff = a.size() != b.size();
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}
}  // namespace

UploadReceiver::UploadReceiver(EventLoop& loop) : loop_(loop), ctx_(loop.context()) {}

bool UploadReceiver::Admit(Connection& c, std::string_view token, uint64_t length) {
  // A refused upload closes the connection: its body is not read, so what
  // follows in the stream is not a request boundary.
  const WorkerConfig& cfg = ctx_.config;
  if (!cfg.allow_upload) {
    c.session->ReplyError(c, Code::kUnsupported, "uploads are not enabled on this server", true);
    return false;
  }
  if (!cfg.upload_token.empty() && !SameSecret(token, cfg.upload_token)) {
    c.session->ReplyError(c, Code::kForbidden, "upload token missing or wrong", true);
    return false;
  }
  if (length > cfg.max_upload) {
    c.session->ReplyError(c, Code::kTooLarge,
               "upload of " + std::to_string(length) + " bytes is over the server's limit of " +
                   std::to_string(cfg.max_upload) + " bytes",
               true);
    return false;
  }
  std::string canonical;
  const Refusal refusal = FileSource::CanonicalName(c.ex.name, &canonical);
  if (!refusal.ok()) {
    c.session->Refuse(c, refusal, true);
    return false;
  }
  if (cfg.deny_dotfiles && FileSource::IsDeniedDotName(canonical)) {
    c.session->ReplyError(c, Code::kForbidden,
                          "\"" + Printable(canonical) + "\": names beginning with '.' are refused (--dotfiles deny)",
                          true);
    return false;
  }
  c.ex.name = std::move(canonical);
  return true;
}

void UploadReceiver::Begin(Connection& c, uint64_t length, bool verify, uint64_t checksum) {
  std::unique_ptr<Upload> file;
  if (Refusal refusal = Upload::Begin(ctx_.files, c.ex.name, length, &file); !refusal.ok()) {
    return c.session->Refuse(c, refusal, true);
  }
  c.ex.put = std::make_unique<PutState>();
  c.ex.put->file = std::move(file);
  c.ex.put->verify = verify;
  c.ex.put->expected = checksum;
  c.ex.put->length = length;
  c.ex.put->started_ns = MonotonicNowNs();
  c.state = Connection::State::kUploading;
  Consume(c);
}

// The body goes to disk on a loader thread, one chunk at a time, so the loop
// never waits for the disk; reading pauses while a chunk is being written.
void UploadReceiver::Consume(Connection& c) {
  PutState& put = *c.ex.put;
  if (put.writing) return;
  const size_t take =
      static_cast<size_t>(std::min<uint64_t>(c.in.size() - c.in_pos, put.length - put.queued));
  const uint64_t serial = c.serial;
  std::shared_ptr<Upload> upload = put.file;
  if (take > 0) {
    std::string chunk(c.in.data() + c.in_pos, take);
    c.in_pos += take;
    if (c.in_pos == c.in.size()) {
      c.in.clear();
      c.in_pos = 0;
    }
    put.queued += take;
    put.writing = true;
    loop_.SetInterest(c, 0);
    EventLoop* loop = &loop_;
    ctx_.loaders->Post([loop, upload, serial, chunk = std::move(chunk)] {
      LoadResult r;
      r.refusal = upload->Append(chunk.data(), chunk.size());
      if (r.refusal.ok()) r.kind = LoadResult::Kind::kWritten;
      loop->PostLoaded(serial, std::move(r));
    });
    return;
  }
  if (put.queued < put.length) return;  // more to come
  // All bytes written: fsync, verify and rename on a loader thread.
  c.state = Connection::State::kWaiting;
  loop_.SetInterest(c, 0);
  const bool verify = put.verify;
  const uint64_t expected = put.expected;
  const uint64_t length = put.length;
  c.ex.put.reset();
  const std::string name = c.ex.name;
  EventLoop* loop = &loop_;
  shm_cache::ShmCache* cache = &ctx_.cache;
  ctx_.loaders->Post([loop, cache, upload, serial, verify, expected, length, name] {
    LoadResult r;
    r.refusal = upload->Commit(verify, expected);
    if (r.refusal.ok()) {
      cache->Invalidate(name);
      for (http::Coding coding : {http::Coding::kGzip, http::Coding::kZstd, http::Coding::kBrotli})
        cache->Invalidate(CopyName(coding, name));
      r.kind = LoadResult::Kind::kUploaded;
      r.checksum = upload->checksum();
      r.length = length;
      r.how = Outcome::kStored;
    }
    loop->PostLoaded(serial, std::move(r));
  });
}

void UploadReceiver::OnWritten(Connection& c, LoadResult result) {
  if (c.state != Connection::State::kUploading) return OnCommitted(c, std::move(result));
  c.ex.put->writing = false;
  if (result.kind != LoadResult::Kind::kWritten) {
    c.ex.put.reset();  // the unnamed file vanishes
    c.state = Connection::State::kReading;
    return c.session->ReplyError(c, result.refusal.code, result.refusal.message, true);
  }
  loop_.SetInterest(c, EPOLLIN);
  Consume(c);
}

void UploadReceiver::OnCommitted(Connection& c, LoadResult result) {
  c.state = Connection::State::kReading;
  if (result.kind != LoadResult::Kind::kUploaded) {
    // A loader's message names the file already.
    return c.session->ReplyError(c, result.refusal.code, result.refusal.message, /*close_after=*/false);
  }
  loop_.responder().Forget(c.ex.name);  // this loop serves the new file at once
  c.ex.how = result.how;
  c.ex.code = protocol::Code::kOk;
  c.ex.identity.size = result.length;
  c.session->ReplyStored(c, result);
}

}  // namespace fc::worker
