// Internal header: fc-shmdump --gc, finding (and with --remove deleting) the
// segments and lock directories of masters that are gone.
#pragma once

namespace fc::shmdump {

// Lists this user's fc segments in /dev/shm (as root: every user's, each
// looked at as its owner) whose master (pid + start time) no longer runs;
// with `remove`, deletes them and their lock directories.
// Returns the exit status: 0 on success, 1 if something could not be removed.
int CollectGarbage(bool remove);

}  // namespace fc::shmdump
