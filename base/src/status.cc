// The one place where errno turns into text, and into a Status.
#include "fc/base/status.h"

#include <cerrno>
#include <cstring>

namespace fc {

std::string ErrnoText(int err) { return std::strerror(err); }

Status Status::FromErrno(int err, std::string_view call, std::string_view context) {
  std::string message(call);
  if (!context.empty()) {
    message += "(\"";
    message += context;
    message += "\")";
  }
  message += " failed: ";
  message += ErrnoText(err);
  Kind kind = Kind::kIo;
  if (err == ENOENT) kind = Kind::kNotFound;
  if (err == EAGAIN || err == EWOULDBLOCK || err == EBUSY) kind = Kind::kBusy;
  return Status(kind, err, std::move(message));
}

}  // namespace fc
