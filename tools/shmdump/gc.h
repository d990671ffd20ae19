// Internal header: fc-shmdump --gc, finding (and with --remove deleting) the
// segments and lock directories of masters that are gone.
#pragma once

#include <string>

namespace fc::shmdump {

// Lists this user's fc segments in /dev/shm (as root: every user's, each
// looked at as its owner) whose master (pid + start time) no longer runs;
// with `remove`, deletes them and their lock directories.
// Returns the exit status: 0 on success, 1 if something could not be removed.
// `only`: if not empty, just the segment of that name.
int CollectGarbage(bool remove, const std::string& only = "");

}  // namespace fc::shmdump
