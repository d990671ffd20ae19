// The one place where errno turns into a Status.
#include "fc/base/status.h"

#include <cstring>

namespace fc {

Status Status::FromErrno(int err, std::string_view call, std::string_view context) {
  std::string message(call);
  if (!context.empty()) {
    message += "(\"";
    message += context;
    message += "\")";
  }
  message += " failed: ";
  message += std::strerror(err);
  return Status(err, std::move(message));
}

}  // namespace fc
