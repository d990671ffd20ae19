// HTTP for a browser: a directory's URL (index file, 301 to the slashed URL,
// listing), the precompressed variant of a file, and GET /.fc/cache. The file
// itself is served by the shared flow in serve.cc. docs/web.md.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_page.h"
#include "compressor.h"
#include "directory_listing.h"
#include "event_loop.h"

namespace fc::worker {

using protocol::Code;

namespace {

// Whether `name` (canonical) is a regular file reached by a confined open.
bool IsConfinedFile(const FileSource& files, const std::string& name) {
  const int fd = files.OpenBeneath(name, O_PATH | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  return regular;
}

bool WantsHtml(const http::Request& req) {
  if (req.query.find("format=json") != std::string::npos) return false;
  if (req.query.find("format=html") != std::string::npos) return true;
  return req.accept.find("text/html") != std::string::npos;
}

}  // namespace

void EventLoop::HandleHttpDirectory(Connection& c) {
  std::string dir;
  if (!c.name.empty()) {
    Refusal refusal = FileSource::CanonicalName(c.name, &dir);
    if (!refusal.ok()) return Refuse(c, refusal, false);
  }
  for (const std::string& index : ctx_.config.index_files) {
    std::string candidate = dir.empty() ? index : dir + "/" + index;
    if (IsConfinedFile(ctx_.files, candidate)) {
      c.name = std::move(candidate);
      return HandleGet(c);
    }
  }
  c.name = dir;
  if (ctx_.config.autoindex == Autoindex::kOff) {
    // Tell a missing directory from one that is only not listed.
    const int fd = ctx_.files.OpenBeneath(dir.empty() ? "." : dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Refuse(c, RefusalFromErrno(errno, "openat2", dir, false), false);
    ::close(fd);
    return HttpText(c, 403, "\"/" + Printable(dir) + "/\" has no index file and listings are off "
                            "(fc-master --autoindex html|json turns them on)", false);
  }
  ListingPage page;
  if (Refusal refusal = ListDirectory(ctx_.files, dir, ParseListingQuery(c.http->query), &page);
      !refusal.ok()) {
    return Refuse(c, refusal, false);
  }
  c.how = Outcome::kListing;
  if (ctx_.config.autoindex == Autoindex::kJson) {
    return HttpBody(c, 200, RenderListingJson(page), "application/json", "Cache-Control: no-cache\r\n",
                    false);
  }
  HttpBody(c, 200, RenderListingHtml(page), "text/html; charset=utf-8", "Cache-Control: no-cache\r\n",
           false);
}

bool EventLoop::RedirectDirectory(Connection& c) {
  const int fd = ctx_.files.OpenBeneath(c.name, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  std::string location = "/" + UrlEncode(c.name, /*keep_slash=*/true) + "/";
  if (!c.http->query.empty()) location += "?" + c.http->query;
  c.how = Outcome::kRedirect;
  HttpBody(c, 301, "moved to " + location + "\n", "text/plain; charset=utf-8",
           "Location: " + location + "\r\n", false);
  return true;
}

void EventLoop::HandleCachePage(Connection& c) {
  c.name = ".fc/cache";
  if (!ctx_.config.allow_list) {
    return HttpText(c, 403, "the cache list is turned off on this server (--list off)", false);
  }
  bool busy = false;
  shm_cache::CacheTotals totals;
  std::vector<shm_cache::CachedFile> files = ctx_.cache.List(&busy, &totals);
  if (busy) return HttpText(c, 503, "the cache is busy; retry", false);
  c.how = Outcome::kList;
  const std::string fields = "Cache-Control: no-store\r\nVary: Accept\r\n";
  if (WantsHtml(*c.http)) {
    return HttpBody(c, 200, RenderCacheHtml(std::move(files), totals), "text/html; charset=utf-8", fields,
                    false);
  }
  HttpBody(c, 200, RenderCacheJson(files, totals), "application/json", fields, false);
}

void EventLoop::ChooseVariant(Connection& c, shm_cache::FileIdentity* id) {
  const http::Request& req = *c.http;
  for (const http::Coding coding :
       http::AcceptableCodings(req.accept_encoding, req.has_accept_encoding, ctx_.config.precompressed)) {
    const std::string variant = c.name + http::CodingSuffix(coding);
    shm_cache::FileIdentity vid;
    if (CurrentIdentity(variant, &vid) && vid.mtime_ns >= id->mtime_ns) {
      c.name = variant;
      c.coding = coding;
      *id = vid;
      return;
    }
  }
}

std::string_view EventLoop::TypeName(const Connection& c) const {
  std::string_view name = c.name;
  if (c.coding && !c.copy) name.remove_suffix(std::string_view(http::CodingSuffix(*c.coding)).size());
  return name;
}

std::optional<http::Coding> EventLoop::CopyCoding(const Connection& c,
                                                  const shm_cache::FileIdentity& id) const {
  const WorkerConfig& config = ctx_.config;
  if (config.compress.empty() || c.proto != Connection::Proto::kHttp || !c.http->has_accept_encoding ||
      c.coding || id.size < config.compress_min_size || id.size > kMaxCompressSize ||
      !CompressibleType(ctx_.media_types.Lookup(c.name))) {
    return std::nullopt;
  }
  return http::Negotiate(c.http->accept_encoding, true, config.compress);
}

void EventLoop::UseCopy(Connection& c, http::Coding coding, const shm_cache::PinnedEntry& pin) {
  c.coding = coding;
  c.copy = true;
  c.identity.size = pin.size();
}

std::string_view EventLoop::EtagTag(const Connection& c) {
  return c.copy ? std::string_view(http::CodingToken(*c.coding)) : std::string_view();
}

}  // namespace fc::worker
