// The bytes HTTP may send for one file: a precompressed variant
// (--precompressed) or a compressed copy in the cache (--compress), chosen by
// Accept-Encoding, and what that changes in the reply (type, ETag). docs/web.md.
#include "compressor.h"
#include "event_loop.h"
#include "file_responder.h"

namespace fc::worker {

void FileResponder::ChooseVariant(Connection& c, shm_cache::FileIdentity* id, bool* fresh) {
  const http::Request& req = *c.ex.http;
  for (const http::Coding coding :
       http::AcceptableCodings(req.accept_encoding, req.has_accept_encoding, ctx_.config.precompressed)) {
    if (c.ex.failed_variants & (1u << static_cast<int>(coding))) continue;
    const std::string variant = c.ex.name + http::CodingSuffix(coding);
    shm_cache::FileIdentity vid;
    bool vfresh = false;
    if (CurrentIdentity(variant, &vid, &vfresh) && vid.mtime_ns >= id->mtime_ns) {
      c.ex.name = variant;
      c.ex.coding = coding;
      *id = vid;
      *fresh = vfresh;
      return;
    }
  }
}

std::string_view FileResponder::TypeName(const Connection& c) const {
  std::string_view name = c.ex.name;
  if (c.ex.coding && !c.ex.copy) name.remove_suffix(std::string_view(http::CodingSuffix(*c.ex.coding)).size());
  return name;
}

std::optional<http::Coding> FileResponder::CopyCoding(const Connection& c,
                                                  const shm_cache::FileIdentity& id) const {
  const WorkerConfig& config = ctx_.config;
  if (config.compress.empty() || c.proto != Connection::Proto::kHttp || !c.ex.http->has_accept_encoding ||
      c.ex.coding || id.size < config.compress_min_size || id.size > kMaxCompressSize ||
      !CompressibleType(ctx_.media_types.Lookup(c.ex.name))) {
    return std::nullopt;
  }
  return http::Negotiate(c.ex.http->accept_encoding, true, config.compress);
}

void FileResponder::UseCopy(Connection& c, http::Coding coding, const shm_cache::PinnedEntry& pin) {
  c.ex.coding = coding;
  c.ex.copy = true;
  c.ex.identity.size = pin.size();
}

std::string_view FileResponder::EtagTag(const Connection& c) {
  return c.ex.copy ? std::string_view(http::CodingToken(*c.ex.coding)) : std::string_view();
}

}  // namespace fc::worker
