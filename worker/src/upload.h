// Internal header: Upload, a PUT in progress. The bytes go to an unnamed file
// (O_TMPFILE) in the target's directory, beneath the root; only Commit() gives
// it a name, by linking it under a temporary name and renaming that over the
// target, after fsync and the checksum check. A client or worker that dies
// mid-upload leaves nothing behind: an unnamed file vanishes with its last fd.
// Of concurrent uploads to one name the last Commit wins, never a mix.
// Not thread-safe; Begin/Append on the loop, Commit on a loader.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "fc/base/checksum.h"
#include "fc/base/unique_fd.h"
#include "file_source.h"

namespace fc::worker {

class Upload {
 public:
  // Opens an unnamed file next to `name` for `length` bytes, into *out.
  static Refusal Begin(const FileSource& files, const std::string& name, uint64_t length,
                       std::unique_ptr<Upload>* out);
  // Writes received bytes. ENOSPC / EDQUOT become kNoSpace.
  Refusal Append(const char* data, size_t size);
  uint64_t left() const { return left_; }
  uint64_t length() const { return length_; }
  uint64_t checksum() const { return hash_.Digest(); }
  // fsync, verify (when `verify`), then link and rename into place.
  Refusal Commit(bool verify, uint64_t expected);

 private:
  Upload() = default;
  UniqueFd dir_;
  UniqueFd file_;
  std::string name_;  // as requested, for messages
  std::string base_;  // last component, in dir_
  uint64_t length_ = 0;
  uint64_t left_ = 0;
  uint64_t written_ = 0;
  Checksum64 hash_;
};

}  // namespace fc::worker
