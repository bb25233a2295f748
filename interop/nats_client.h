// A minimal NATS client speaking the NATS text protocol over one TCP
// connection: CONNECT (headers and no-responders on), SUB, PUB/HPUB,
// MSG/HMSG, PING/PONG. Enough for the bridge to publish into JetStream with
// a Nats-Msg-Id header and read the JetStream acks from an inbox; no TLS, no
// auth, no reconnect (the bridge restarts from its persisted cursor instead).
//
// Thread-compatible: one thread uses a connection at a time.
#ifndef WATCHFLOOR_INTEROP_NATS_CLIENT_H_
#define WATCHFLOOR_INTEROP_NATS_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace watchfloor::interop {

struct NatsUrl {
  std::string host;
  int port = 4222;
};

// "nats://host:port" (or "host:port"; port defaults to 4222). INVALID_ARGUMENT
// naming the URL otherwise (tls:// and credentials are not supported).
absl::StatusOr<NatsUrl> ParseNatsUrl(absl::string_view url);

struct NatsMessage {
  std::string subject;
  std::string sid;
  std::string reply;
  std::string headers;  // raw header block ("NATS/1.0 ...\r\n...\r\n\r\n"), if HMSG
  std::string payload;
  int status = 0;  // the status code of a header-only status message (e.g. 503), else 0
};

// Appends to `*frame` the PUB frame of a message, or HPUB with a
// Nats-Msg-Id header when `msg_id` is not empty: exactly what
// NatsConnection::Publish queues. For building frames on another thread than
// the connection's (the bridge's reader does); queue them with Write().
void AppendPublishFrame(absl::string_view subject, absl::string_view reply,
                        absl::string_view msg_id, absl::string_view payload, std::string* frame);

class NatsConnection {
 public:
  // Connects, reads INFO, sends CONNECT and waits for the PONG to a PING.
  // UNAVAILABLE naming the address if it cannot connect; FAILED_PRECONDITION
  // if the server lacks header support (NATS < 2.2) or answers -ERR.
  static absl::StatusOr<std::unique_ptr<NatsConnection>> Connect(const NatsUrl& url,
                                                                 absl::Duration timeout);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  // Queues SUB (sent with the next Flush).
  void Subscribe(absl::string_view subject, absl::string_view sid);
  // Queues PUB, or HPUB with a Nats-Msg-Id header when `msg_id` is not empty.
  void Publish(absl::string_view subject, absl::string_view reply, absl::string_view msg_id,
               absl::string_view payload);
  // Queues bytes already in protocol form (frames from AppendPublishFrame).
  void Write(absl::string_view frames) { out_.append(frames.data(), frames.size()); }
  // Writes everything queued. UNAVAILABLE if the connection broke.
  absl::Status Flush();

  // The next MSG/HMSG already read, if any (answers PINGs on the way).
  // `*msg`'s strings are assigned, not replaced, so a caller that reuses one
  // NatsMessage across calls does not allocate per message.
  // FAILED_PRECONDITION with the server's text on -ERR.
  absl::StatusOr<bool> Pop(NatsMessage* msg);
  // Waits up to `timeout` for bytes and reads what is there. OK on timeout;
  // UNAVAILABLE if the server closed the connection.
  absl::Status Receive(absl::Duration timeout);
  // Pop, receiving for up to `timeout`. DEADLINE_EXCEEDED if none arrived.
  absl::StatusOr<NatsMessage> Next(absl::Duration timeout);
  // Synchronous request-reply on a private inbox. DEADLINE_EXCEEDED on timeout.
  absl::StatusOr<NatsMessage> Request(absl::string_view subject, absl::string_view payload,
                                      absl::Duration timeout);

  // The socket, for poll() next to other descriptors.
  int fd() const { return fd_; }
  // "_INBOX.<random>": this connection's private reply subjects start so.
  const std::string& inbox_prefix() const { return inbox_prefix_; }

 private:
  explicit NatsConnection(int fd) : fd_(fd) {}
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);  // during the handshake

  int fd_;
  std::string in_;   // bytes read; those before in_pos_ are parsed
  size_t in_pos_ = 0;
  std::string out_;  // bytes queued, not yet written
  std::string address_;
  std::string inbox_prefix_;
  int request_seq_ = 0;
  bool request_sub_ = false;
};

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_NATS_CLIENT_H_
