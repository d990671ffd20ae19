// PUT, in both protocols: admission before the body, then the body into an
// Upload, then the commit (fsync, verify, rename) on a loader thread.
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

bool EventLoop::AdmitUpload(Connection& c, std::string_view token, uint64_t length) {
  // A refused upload closes the connection: its body is not read, so what
  // follows in the stream is not a request boundary.
  const WorkerConfig& cfg = ctx_.config;
  if (!cfg.allow_upload) {
    ReplyError(c, Code::kUnsupported, "uploads are not enabled on this server", true);
    return false;
  }
  if (!cfg.upload_token.empty() && !SameSecret(token, cfg.upload_token)) {
    ReplyError(c, Code::kForbidden, "upload token missing or wrong", true);
    return false;
  }
  if (length > cfg.max_upload) {
    ReplyError(c, Code::kTooLarge,
               "upload of " + std::to_string(length) + " bytes is over the server's limit of " +
                   std::to_string(cfg.max_upload) + " bytes",
               true);
    return false;
  }
  std::string canonical;
  const Refusal refusal = FileSource::CanonicalName(c.name, &canonical);
  if (refusal.code != Code::kOk) {
    Refuse(c, refusal, true);
    return false;
  }
  c.name = std::move(canonical);
  return true;
}

void EventLoop::BeginUpload(Connection& c, uint64_t length, bool verify, uint64_t checksum) {
  Refusal refusal;
  c.upload = Upload::Begin(ctx_.files, c.name, length, &refusal);
  if (!c.upload) return Refuse(c, refusal, true);
  c.upload_verify = verify;
  c.upload_expected = checksum;
  c.upload_length = length;
  c.state = Connection::State::kUploading;
  ConsumeUpload(c);
}

void EventLoop::ConsumeUpload(Connection& c) {
  const size_t take = static_cast<size_t>(
      std::min<uint64_t>(c.in.size() - c.in_pos, c.upload->left()));
  if (take > 0) {
    Refusal refusal;
    if (!c.upload->Append(c.in.data() + c.in_pos, take, &refusal)) {
      c.upload.reset();  // the unnamed file vanishes
      c.state = Connection::State::kReading;
      return ReplyError(c, refusal.code, refusal.message, true);
    }
    c.in_pos += take;
    if (c.in_pos == c.in.size()) {
      c.in.clear();
      c.in_pos = 0;
    }
  }
  if (c.upload->left() > 0) return;  // more to come
  // All bytes here: fsync, verify and rename on a loader thread.
  c.state = Connection::State::kWaiting;
  SetInterest(c, 0);
  std::shared_ptr<Upload> upload(std::move(c.upload));
  const uint64_t serial = c.serial;
  const bool verify = c.upload_verify;
  const uint64_t expected = c.upload_expected;
  const std::string name = c.name;
  ctx_.loaders->Post([this, upload, serial, verify, expected, name] {
    LoadResult r;
    Refusal refusal;
    if (upload->Commit(verify, expected, &refusal)) {
      ctx_.cache.Invalidate(name);
      r.kind = LoadResult::Kind::kUploaded;
      r.checksum = upload->checksum();
      r.how = "stored";
    } else {
      r.code = refusal.code;
      r.message = refusal.message;
    }
    PostLoaded(serial, std::move(r));
  });
}

}  // namespace fc::worker
