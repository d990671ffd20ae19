// HTTP for a browser: a directory's URL (index file, 301 to the slashed URL,
// listing) and GET /.fc/cache. The file itself is served by the
// FileResponder. docs/web.md.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "cache_page.h"
#include "directory_listing.h"
#include "event_loop.h"
#include "http_session.h"

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

// ?format= decides; else the Accept field's q-values (RFC 9110 §12.5.1),
// JSON on a tie (curl's "*/*", or no Accept at all).
bool WantsHtml(const http::Request& req) {
  if (req.query.find("format=json") != std::string::npos) return false;
  if (req.query.find("format=html") != std::string::npos) return true;
  return http::MediaQuality(req.accept, "text/html") > http::MediaQuality(req.accept, "application/json");
}

// A cached name the page may show: never one with a dot-segment (a dotfile,
// a file under a hidden directory that works as an unguessable link), as a
// listing never shows one; a compressed copy (".fc/CODING/NAME") by its NAME.
bool ShownOnCachePage(const std::string& name) {
  std::string_view file = name;
  if (file.compare(0, 4, ".fc/") == 0) {
    const size_t slash = file.find('/', 4);
    file = slash == std::string_view::npos ? std::string_view() : file.substr(slash + 1);
  }
  return !file.empty() && !FileSource::HasDotSegment(file);
}

// "ADDR:PORT" -> "ADDR".
std::string PeerHost(const std::string& peer) { return peer.substr(0, peer.rfind(':')); }

}  // namespace

void HttpSession::HandleDirectory(Connection& c) {
  std::string dir;
  if (!c.ex.name.empty()) {
    Refusal refusal = FileSource::CanonicalName(c.ex.name, &dir, /*root_ok=*/true);
    if (!refusal.ok()) return Refuse(c, refusal, false);
  }
  if (ctx_.config.deny_dotfiles && FileSource::IsDeniedDotName(dir)) {
    return Text(c, 404, "\"/" + Printable(dir) + "/\": not found", false);
  }
  for (const std::string& index : ctx_.config.index_files) {
    std::string candidate = dir.empty() ? index : dir + "/" + index;
    if (IsConfinedFile(ctx_.files, candidate)) {
      c.ex.name = std::move(candidate);
      return loop_.responder().Serve(c);
    }
  }
  c.ex.name = dir;
  // A directory under a dot-segment (.git/, .well-known/) is never listed:
  // what it holds is not meant to be browsed (docs/security.md).
  if (FileSource::HasDotSegment(dir)) {
    return Text(c, 404, "\"/" + Printable(dir) + "/\": not found (directories whose names begin with "
                        "'.' are never listed)", false);
  }
  if (ctx_.config.autoindex == Autoindex::kOff) {
    // Tell a missing directory from one that is only not listed.
    const int fd = ctx_.files.OpenBeneath(dir.empty() ? "." : dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Refuse(c, RefusalFromErrno(errno, "openat2", dir, false), false);
    ::close(fd);
    return Text(c, 403, "\"/" + Printable(dir) + "/\" has no index file and listings are off "
                            "(fc-master --autoindex html|json turns them on)", false);
  }
  // The scan runs on the worker's Lister thread: the loop goes on serving.
  c.ex.how = Outcome::kListing;
  EventLoop* loop = &loop_;
  const uint64_t serial = c.serial;
  ListingJob job{dir, ParseListingQuery(c.ex.http->query), ctx_.config.autoindex == Autoindex::kJson,
                 [loop, serial](LoadResult result) { loop->PostLoaded(serial, std::move(result)); }};
  if (!ctx_.lister->Submit(std::move(job))) {
    return Body(c, 503, "too many directory listings in progress; retry\n", "text/plain; charset=utf-8",
                "Retry-After: 1\r\n", false);
  }
  loop_.AwaitLoader(c);
}

void HttpSession::OnListed(Connection& c, LoadResult result) {
  if (result.kind != LoadResult::Kind::kListed) return Refuse(c, result.refusal, false);
  const bool json = ctx_.config.autoindex == Autoindex::kJson;
  Body(c, 200, std::move(result.body), json ? "application/json" : "text/html; charset=utf-8",
       "Cache-Control: no-cache\r\n", false);
}

bool HttpSession::RedirectDirectory(Connection& c) {
  const int fd = ctx_.files.OpenBeneath(c.ex.name, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  std::string location = "/" + UrlEncode(c.ex.name, /*keep_slash=*/true) + "/";
  if (!c.ex.http->query.empty()) location += "?" + c.ex.http->query;
  c.ex.how = Outcome::kRedirect;
  Body(c, 301, "moved to " + location + "\n", "text/plain; charset=utf-8",
           "Location: " + location + "\r\n", false);
  return true;
}

void HttpSession::HandleCachePage(Connection& c) {
  c.ex.name = ".fc/cache";
  if (!ctx_.config.allow_list) {
    return Text(c, 403, "the cache list is turned off on this server (--list off)", false);
  }
  if (!net::InAddressRanges(ctx_.config.list_from, PeerHost(c.peer))) {
    return Text(c, 403, "the cache page answers only the addresses of fc-master --list-from", false);
  }
  Result<shm_cache::CacheListing> listing = ctx_.cache.List();
  if (!listing.ok()) return Text(c, 503, "the cache is busy; retry", false);
  std::vector<shm_cache::CachedFile>& files = listing->files;
  const size_t cached = files.size();
  files.erase(std::remove_if(files.begin(), files.end(),
                             [](const shm_cache::CachedFile& f) { return !ShownOnCachePage(f.name); }),
              files.end());
  const size_t hidden = cached - files.size();
  const shm_cache::CacheTotals& totals = listing->totals;
  c.ex.how = Outcome::kList;
  const std::string fields = "Cache-Control: no-store\r\nVary: Accept\r\n";
  if (WantsHtml(*c.ex.http)) {
    return Body(c, 200, RenderCacheHtml(std::move(files), hidden, totals), "text/html; charset=utf-8", fields,
                    false);
  }
  Body(c, 200, RenderCacheJson(files, hidden, totals), "application/json", fields, false);
}

}  // namespace fc::worker
