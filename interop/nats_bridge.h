// The NATS bridge (docs/INTEROP.md "NATS bridge"): follows a node's
// subscription and publishes every matching alert, as its DSSE JSON envelope,
// into a JetStream stream on subject NatsSubject(origin, category).
//
// Exactly once, across crashes, by two mechanisms together:
//  - every message carries the header Nats-Msg-Id: <alert id>, and the
//    stream's duplicate window drops a re-publish of an id it already holds;
//  - the subscription cursor is persisted (fsync, CursorFile) only up to the
//    last alert whose JetStream ack (the stored-and-replicated answer)
//    arrived, in order.
// After a kill -9 the bridge resumes from the persisted cursor; what it
// re-publishes (at most the unpersisted tail: the in-flight window plus one
// sync interval) is inside the duplicate window and is dropped. Nothing is
// lost, because nothing is persisted before JetStream acknowledged it.
#ifndef WATCHFLOOR_INTEROP_NATS_BRIDGE_H_
#define WATCHFLOOR_INTEROP_NATS_BRIDGE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "interop/nats_client.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::interop {

struct NatsBridgeOptions {
  NatsUrl url;
  // JetStream stream; created (subjects "watchfloor.>", file storage) if it
  // does not exist.
  std::string stream = "WATCHFLOOR";
  // The duplicate window of a stream the bridge creates. A bridge that is
  // down longer than this and then restarts may publish its unpersisted tail
  // (at most max_in_flight alerts plus one sync interval) a second time.
  absl::Duration duplicate_window = absl::Hours(1);
  // The cursor file (required). Its directory must exist.
  std::string state_path;
  // Only alerts matching one of these (none = all).
  std::vector<watchfloor::v1::Filter> filters;
  // Alerts published but not yet acknowledged, at most.
  int max_in_flight = 512;
  // An ack slower than this is an error (the bridge exits; restart it).
  absl::Duration ack_timeout = absl::Seconds(10);
  // How often the acked cursor is persisted while alerts flow.
  absl::Duration sync_interval = absl::Milliseconds(50);
};

struct NatsBridgeStats {
  uint64_t published = 0;   // acks received for new messages
  uint64_t duplicates = 0;  // acks JetStream marked "duplicate"
  uint64_t cursor = 0;      // last persisted cursor
};

class NatsBridge {
 public:
  // `node` must outlive the bridge.
  NatsBridge(watchfloor::v1::Node::StubInterface* node, NatsBridgeOptions options);
  ~NatsBridge();

  // Connects to NATS, ensures the stream, and bridges until Stop() or an
  // error. OK after Stop() (the acked cursor is persisted first).
  // UNAVAILABLE if NATS or the node is unreachable or goes away;
  // FAILED_PRECONDITION if JetStream is off or refuses the stream or a
  // message; DEADLINE_EXCEEDED if an ack takes longer than ack_timeout;
  // DATA_LOSS if the cursor file is corrupt; INTERNAL on cursor file I/O.
  // Call once.
  absl::Status Run();

  // Makes Run() return soon. Any thread; async-signal-safe.
  void Stop();

  // Thread-safe snapshot.
  NatsBridgeStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_NATS_BRIDGE_H_
