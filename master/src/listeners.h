// Internal header: the listening sockets. One SO_REUSEPORT socket per worker
// position, so the kernel spreads new connections over the workers; bound at
// start, or inherited (systemd socket activation and fc's own binary upgrade
// both pass them as LISTEN_FDS), and steered when a reload retires some.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fc/base/status.h"
#include "fc/base/unique_fd.h"

namespace fc::master {

// Binds `count` listening sockets to one address with SO_REUSEPORT (nonblocking,
// SO_REUSEADDR, TCP_DEFER_ACCEPT). Port 0 picks a free port for the first and
// the rest join it; *bound_port gets the real port.
Result<std::vector<UniqueFd>> BindListeners(const std::string& host, uint16_t port, int count,
                                            uint16_t* bound_port);

// Binds one more socket to the group `existing` belongs to (a reload that adds
// workers). Fails without privilege for a port below 1024 once root is gone.
Result<UniqueFd> JoinListeners(int existing);

// The sockets passed by the process that started this one (sd_listen_fds(3):
// LISTEN_PID is this process, LISTEN_FDS sockets from fd 3). Empty if none.
// Each must be a listening TCP socket; they are made nonblocking and
// close-on-exec, and the LISTEN_* variables are removed from the environment.
Result<std::vector<UniqueFd>> InheritListeners();

// "HOST:PORT" of a listening socket, and its port.
std::string LocalAddress(int fd, uint16_t* port);

// Steers new connections to the first `active` sockets of the group (in the
// order they started listening), at random, so that the ones after them can
// be retired without resetting a queued connection. active >= count: all.
Status SteerListeners(int any_member, uint32_t active, uint32_t count);

}  // namespace fc::master
