// FcSession: fc's binary requests (PROTOCOL.md) decoded and answered: GET
// with offset and length, PUT, LIST, and every refusal as a reply header
// with a code and a message.
#include "fc_session.h"

#include "event_loop.h"
#include "fc/base/log.h"

namespace fc::worker {

using protocol::Code;

namespace {

const char* DecodeErrorText(protocol::DecodeError e) {
  switch (e) {
    case protocol::DecodeError::kBadMagic: return "not an fc request";
    case protocol::DecodeError::kBadVersion: return "unsupported protocol version (this server speaks 1)";
    case protocol::DecodeError::kBadOp: return "unknown operation";
    case protocol::DecodeError::kNameTooLong: return "file name longer than 4096 bytes";
    case protocol::DecodeError::kEmptyName: return "empty file name";
    case protocol::DecodeError::kTokenTooLong: return "token longer than 256 bytes";
    case protocol::DecodeError::kReserved: return "reserved header bytes are not zero";
    case protocol::DecodeError::kNone: break;
  }
  return "bad request";
}

Code DecodeErrorCode(protocol::DecodeError e) {
  switch (e) {
    case protocol::DecodeError::kBadVersion: return Code::kBadVersion;
    case protocol::DecodeError::kNameTooLong:
    case protocol::DecodeError::kTokenTooLong: return Code::kTooLarge;
    default: return Code::kBadRequest;
  }
}

// Fields an operation does not use must be zero (PROTOCOL.md); a request that
// sets one is refused, so that a future meaning can never be misread.
const char* UnusedFieldSet(const protocol::RequestHeader& h) {
  switch (h.op) {
    case protocol::Op::kList:
      if (h.name_length || h.offset || h.length || h.checksum || h.token_length) {
        return "LIST takes no name, offset, length, checksum or token; those fields must be 0";
      }
      break;
    case protocol::Op::kGet:
      if (h.checksum || h.token_length) return "GET takes no checksum or token; those fields must be 0";
      break;
    case protocol::Op::kPut:
      if (h.offset) return "PUT takes no offset; that field must be 0";
      break;
  }
  return nullptr;
}
}  // namespace

FcSession::FcSession(EventLoop& loop) : loop_(loop), ctx_(loop.context()) {}

bool FcSession::OnInput(Connection& c) {
  const size_t avail = c.in.size() - c.in_pos;
  const auto* p = reinterpret_cast<const uint8_t*>(c.in.data() + c.in_pos);
  if (!protocol::LooksLikeFcRequest(p, avail)) {
    ReplyError(c, Code::kBadRequest, "not an fc request", /*close_after=*/true);
    return true;
  }
  if (avail < protocol::kRequestHeaderSize) return false;
  protocol::RequestHeader h;
  const protocol::DecodeError err = protocol::DecodeRequestHeader(p, &h);
  if (err != protocol::DecodeError::kNone) {
    ReplyError(c, DecodeErrorCode(err), DecodeErrorText(err), /*close_after=*/true);
    return true;
  }
  if (const char* unused = UnusedFieldSet(h)) {
    ReplyError(c, Code::kBadRequest, unused, /*close_after=*/true);
    return true;
  }
  const size_t total = protocol::kRequestHeaderSize + h.name_length + h.token_length;
  if (avail < total) return false;
  c.ex.name.assign(reinterpret_cast<const char*>(p) + protocol::kRequestHeaderSize, h.name_length);
  c.in_pos += total;
  switch (h.op) {
    case protocol::Op::kList:
      c.ex.verb = Verb::kList;
      HandleList(c);
      break;
    case protocol::Op::kGet:
      c.ex.verb = Verb::kGet;
      c.ex.offset = h.offset;
      c.ex.length = h.length;
      loop_.responder().Serve(c);
      break;
    case protocol::Op::kPut: {
      c.ex.verb = Verb::kPut;
      c.ex.is_upload = true;
      const std::string_view token(
          reinterpret_cast<const char*>(p) + protocol::kRequestHeaderSize + h.name_length,
          h.token_length);
      if (loop_.uploads().Admit(c, token, h.length)) loop_.uploads().Begin(c, h.length, true, h.checksum);
      break;
    }
  }
  return true;
}

void FcSession::HandleList(Connection& c) {
  if (!ctx_.config.allow_list) {
    return ReplyError(c, Code::kForbidden, "LIST is turned off on this server (--list off)", false);
  }
  const Result<shm_cache::CacheListing> listing = ctx_.cache.List();
  if (!listing.ok()) return ReplyError(c, Code::kBusy, "the cache is busy; retry the LIST", false);
  std::vector<protocol::ListItem> items;
  items.reserve(listing->files.size());
  for (const shm_cache::CachedFile& f : listing->files) items.push_back({f.name, f.size, f.readers, f.hits});
  std::string body = protocol::EncodeListBody(items);
  protocol::ReplyHeader h;
  h.body_length = body.size();
  c.ex.how = Outcome::kList;
  c.ex.code = Code::kOk;
  EncodeReply(h, &c.response);
  c.response.SetBytes(std::move(body));
  loop_.BeginReply(c);
}

void FcSession::ReplyError(Connection& c, Code code, const std::string& message, bool close_after) {
  std::string body = BeginRefusal(c, code, message, close_after);
  c.close_after = c.close_after || close_after;
  c.response.Clear(c.fd.get());  // whatever was planned before the refusal
  protocol::ReplyHeader h;
  h.code = code;
  h.body_length = body.size();
  // BAD_RANGE carries the file's current size, so that a client can resume.
  if (code == Code::kBadRange) h.file_size = c.ex.identity.size;
  EncodeReply(h, &c.response);
  c.response.SetBytes(std::move(body));
  loop_.BeginReply(c);
}

bool FcSession::PlanBody(Connection& c) {
  const uint64_t size = c.ex.identity.size;
  if (c.ex.offset > size) {
    ReplyError(c, Code::kBadRange,
               "offset " + std::to_string(c.ex.offset) + " is beyond the end of \"" + Printable(c.ex.name) +
                   "\" (" + std::to_string(size) + " bytes)",
               false);
    return false;
  }
  c.ex.length = c.ex.length == 0 ? size - c.ex.offset : std::min(c.ex.length, size - c.ex.offset);
  return true;
}

void FcSession::StartHead(Connection& c, uint64_t checksum, bool from_cache) {
  protocol::ReplyHeader h;
  h.flags = from_cache ? protocol::kFlagFromCache : 0;
  h.file_size = c.ex.identity.size;
  h.offset = c.ex.offset;
  h.body_length = c.ex.length;
  h.checksum = checksum;
  EncodeReply(h, &c.response);
  loop_.BeginReply(c);
}

void FcSession::ReplyStored(Connection& c, const LoadResult& result) {
  protocol::ReplyHeader h;
  h.file_size = result.length;
  h.checksum = result.checksum;
  EncodeReply(h, &c.response);
  loop_.BeginReply(c);
}

int FcSession::LogStatus(const Connection& c) const { return HttpStatusFor(c, c.ex.code); }

}  // namespace fc::worker
