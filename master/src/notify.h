// Internal header: readiness and status for a service manager, in systemd's
// notify protocol (sd_notify(3)): one datagram "KEY=VALUE\n..." to the
// AF_UNIX socket named by $NOTIFY_SOCKET. Without that variable it does
// nothing, so fc run by hand or by another supervisor is unaffected.
#pragma once

#include <string>

namespace fc::master {

// Sends `state` ("READY=1", "RELOADING=1\nMONOTONIC_USEC=...", "STOPPING=1",
// "MAINPID=123"). Returns false if there is a socket and sending failed.
bool Notify(const std::string& state);

// "RELOADING=1\nMONOTONIC_USEC=<now>": what Type=notify-reload expects, and
// harmless for Type=notify.
std::string ReloadingState();

}  // namespace fc::master
