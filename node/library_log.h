// Routes what gRPC and libprotobuf log through watchfloor's structured log
// (log/log.h), so that every line the node writes to stderr is one event.
#ifndef WATCHFLOOR_NODE_LIBRARY_LOG_H_
#define WATCHFLOOR_NODE_LIBRARY_LOG_H_

namespace watchfloor::node {

// Installs, once per process, a gpr log function (component "grpc", event
// "grpc_log") and a libprotobuf log handler (component "protobuf", event
// "protobuf_log"). Severities map to levels: gRPC DEBUG/INFO/ERROR to
// debug/info/warn (gRPC's ERROR lines are mostly about one connection, e.g.
// a peer that hung up, not about the node); libprotobuf INFO/WARNING/ERROR/
// FATAL to info/warn/error/error. libprotobuf's "invalid UTF-8 data when
// parsing" lines go to debug: a refused request already has its own
// request_refused line, and a stranger could otherwise fill the log.
// gRPC still drops lines below GRPC_VERBOSITY (default ERROR) before they
// reach the log. Call before starting gRPC servers or channels; safe to call
// again (no effect). Not for libraries: the process owns these hooks.
void RouteLibraryLogs();

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_LIBRARY_LOG_H_
