#include "interop/nats_bridge.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <deque>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "certs/dsse.h"
#include "grpcpp/client_context.h"
#include "interop/cursor_file.h"
#include "interop/json_text.h"
#include "interop/names.h"

namespace watchfloor::interop {
namespace {

constexpr size_t kQueueCapacity = 4096;
// While alerts are in flight the publisher wakes for their acks anyway; the
// reader then signals the eventfd only when this many items have piled up.
constexpr size_t kWakeBatch = 64;
constexpr absl::Duration kRequestTimeout = absl::Seconds(5);

// One alert, ready to send: the reader thread builds the whole HPUB frame
// (subject, ack inbox "<ack_prefix><seq>", Nats-Msg-Id, DSSE JSON), so the
// publishing thread only copies bytes into the socket buffer.
struct Item {
  uint64_t cursor;
  uint64_t seq;       // consecutive from 1, in cursor order
  std::string frame;
};

struct InFlight {
  uint64_t seq;
  uint64_t cursor;
  absl::Time sent;
  bool acked = false;
};

absl::Status FromGrpc(const grpc::Status& st) {
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
}

// The JetStream API's error description in a reply, or "" if it is not one.
std::string ApiError(const std::string& payload) {
  size_t at = payload.find("\"error\"");
  if (at == std::string::npos) return "";
  size_t d = payload.find("\"description\":\"", at);
  if (d == std::string::npos) return payload;
  d += 15;
  return payload.substr(d, payload.find('"', d) - d);
}

// True iff a JetStream publish ack says "duplicate": true (nats-server
// writes it with a space after the colon; accept either).
bool IsDuplicateAck(const std::string& payload) {
  size_t at = payload.find("\"duplicate\"");
  if (at == std::string::npos) return false;
  at = payload.find_first_not_of(" :", at + 11);
  return at != std::string::npos && payload.compare(at, 4, "true") == 0;
}

}  // namespace

struct NatsBridge::Impl {
  Impl(watchfloor::v1::Node::StubInterface* n, NatsBridgeOptions o)
      : node(n), options(std::move(o)) {}

  watchfloor::v1::Node::StubInterface* node;
  NatsBridgeOptions options;
  // "<inbox>.ack.": an alert's JetStream ack comes to this plus its seq. Set
  // before the threads start, constant after.
  std::string ack_prefix;
  int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::atomic<bool> stop{false};

  mutable absl::Mutex mu;
  std::deque<Item> queue ABSL_GUARDED_BY(mu);
  bool reader_done ABSL_GUARDED_BY(mu) = false;
  absl::Status reader_status ABSL_GUARDED_BY(mu);
  NatsBridgeStats stats ABSL_GUARDED_BY(mu);
  grpc::ClientContext* reader_ctx ABSL_GUARDED_BY(mu) = nullptr;
  // Set by the publisher before it sleeps with nothing in flight (no ack will
  // wake it): then the reader's first item must signal the eventfd. With
  // alerts in flight it does not, so a fast publisher is not woken once per
  // alert (an eventfd write and a poll return per alert, the ping-pong that
  // cost the most of the handoff on two cores).
  bool publisher_idle ABSL_GUARDED_BY(mu) = true;

  // The persister thread's inputs and result (under mu): the highest cursor
  // JetStream acknowledged in order, and the first cursor-file error.
  uint64_t acked ABSL_GUARDED_BY(mu) = 0;
  bool persister_stop ABSL_GUARDED_BY(mu) = false;
  absl::Status persist_status ABSL_GUARDED_BY(mu);

  void Wake() {
    uint64_t one = 1;
    (void)!write(wake_fd, &one, sizeof(one));
  }

  // The reader thread: the node's subscription into `queue`. Resubscribes
  // from the last cursor after a slow-consumer disconnect.
  void ReadNode(uint64_t cursor) {
    absl::Status status;
    uint64_t next_seq = 1;
    std::string json, reply = ack_prefix;  // reused per alert
    while (!stop.load()) {
      grpc::ClientContext ctx;
      {
        absl::MutexLock l(&mu);
        reader_ctx = &ctx;
      }
      watchfloor::v1::SubscribeRequest req;
      req.set_cursor(cursor);
      for (const auto& f : options.filters) *req.add_filters() = f;
      auto reader = node->Subscribe(&ctx, req);
      watchfloor::v1::SubscribeResponse msg;
      while (reader->Read(&msg)) {
        // Only the subject's two fields are read from the alert, not the
        // whole message; the envelope is printed into a reused buffer.
        absl::StatusOr<std::string> subject = NatsSubjectOfPayload(msg.envelope().payload());
        if (!subject.ok()) {
          status = absl::DataLossError(absl::StrCat("alert ", msg.id(), " has an unreadable payload: ",
                                                    subject.status().message()));
          ctx.TryCancel();
          break;
        }
        json.clear();
        AppendFastEnvelopeJson(msg.envelope(), &json);
        reply.resize(ack_prefix.size());
        absl::StrAppend(&reply, next_seq);
        Item item{msg.cursor(), next_seq++, std::string()};
        item.frame.reserve(json.size() + subject->size() + reply.size() + msg.id().size() + 64);
        AppendPublishFrame(*subject, reply, msg.id(), json, &item.frame);
        cursor = msg.cursor();
        absl::MutexLock l(&mu);
        auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          return queue.size() < kQueueCapacity || stop.load();
        };
        mu.Await(absl::Condition(&room));
        queue.push_back(std::move(item));
        // Only the first item of a burst needs to wake an idle publisher; it
        // drains everything queued when it runs. A busy one is woken by its
        // acks, or by a pile-up.
        if ((queue.size() == 1 && publisher_idle) || queue.size() == kWakeBatch) {
          publisher_idle = false;
          Wake();
        }
      }
      grpc::Status st = reader->Finish();
      {
        absl::MutexLock l(&mu);
        reader_ctx = nullptr;
      }
      if (!status.ok() || stop.load()) break;
      if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) continue;  // resubscribe
      status = st.ok() ? absl::UnavailableError("the node ended the subscription")
                       : FromGrpc(st);
      if (status.code() == absl::StatusCode::kUnavailable) {
        status = absl::UnavailableError(
            absl::StrCat("lost the node's subscription: ", status.message()));
      }
      break;
    }
    absl::MutexLock l(&mu);
    reader_done = true;
    reader_status = status;
    Wake();
  }

  absl::Status EnsureStream(NatsConnection* nats) {
    const std::string& name = options.stream;
    absl::StatusOr<NatsMessage> info =
        nats->Request(absl::StrCat("$JS.API.STREAM.INFO.", name), "", kRequestTimeout);
    if (!info.ok()) return info.status();
    if (info->status == 503) {
      return absl::FailedPreconditionError(
          "JetStream is not enabled on the NATS server; start nats-server with -js");
    }
    if (ApiError(info->payload).empty()) return absl::OkStatus();
    if (!absl::StrContains(info->payload, "10059")) {  // stream not found
      return absl::FailedPreconditionError(
          absl::StrCat("JetStream stream ", name, ": ", ApiError(info->payload)));
    }
    const std::string config = absl::StrCat(
        "{\"name\":\"", name,
        "\",\"subjects\":[\"watchfloor.>\"],\"retention\":\"limits\",\"storage\":\"file\","
        "\"num_replicas\":1,\"duplicate_window\":",
        absl::ToInt64Nanoseconds(options.duplicate_window), "}");
    absl::StatusOr<NatsMessage> created =
        nats->Request(absl::StrCat("$JS.API.STREAM.CREATE.", name), config, kRequestTimeout);
    if (!created.ok()) return created.status();
    if (std::string err = ApiError(created->payload); !err.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("JetStream refused to create stream ", name, ": ", err));
    }
    return absl::OkStatus();
  }

  // The persister thread: writes `acked` to the cursor file at most once per
  // sync_interval, off the publishing thread, so that a slow fsync never
  // stalls publishing (the in-flight window would fill while it waits).
  void PersistLoop(uint64_t persisted) {
    absl::MutexLock l(&mu);
    while (true) {
      auto work = [this, &persisted]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return acked != persisted || persister_stop;
      };
      mu.Await(absl::Condition(&work));
      if (acked != persisted) {
        const uint64_t cursor = acked;
        mu.Unlock();
        absl::Status st = StoreCursor(options.state_path, cursor);
        mu.Lock();
        if (!st.ok()) {
          if (persist_status.ok()) persist_status = st;
          Wake();
          return;
        }
        persisted = cursor;
        stats.cursor = cursor;
        if (persister_stop) continue;  // write the last value before leaving
        mu.AwaitWithTimeout(absl::Condition(&persister_stop), options.sync_interval);
        continue;
      }
      if (persister_stop) return;
    }
  }

  absl::Status Bridge(NatsConnection* nats, uint64_t start_cursor) {
    nats->Subscribe(absl::StrCat(ack_prefix, "*"), "acks");
    std::deque<InFlight> inflight;
    std::vector<Item> batch;
    NatsMessage msg;  // reused: Pop assigns into its strings
    uint64_t acked_cursor = start_cursor;
    while (true) {
      bool done;
      absl::Status reader_st;
      batch.clear();
      {
        absl::MutexLock l(&mu);
        while (!queue.empty() && inflight.size() + batch.size() <
                                     static_cast<size_t>(options.max_in_flight)) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        done = reader_done && queue.empty();
        reader_st = reader_status;
      }
      const absl::Time now = absl::Now();
      for (const Item& item : batch) {
        nats->Write(item.frame);
        inflight.push_back(InFlight{item.seq, item.cursor, now});
      }
      // All frames of the batch leave in one write.
      if (absl::Status st = nats->Flush(); !st.ok()) return st;
      if (stop.load() || (done && inflight.empty())) {
        return stop.load() ? absl::OkStatus() : reader_st;
      }

      bool more;  // queued items that fit the window: do not sleep
      {
        absl::MutexLock l(&mu);
        publisher_idle = inflight.empty();
        more = !queue.empty() && inflight.size() < static_cast<size_t>(options.max_in_flight);
      }
      pollfd fds[2] = {{nats->fd(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
      poll(fds, 2, more ? 0 : 50);
      if (fds[1].revents & POLLIN) {
        uint64_t v;
        (void)!read(wake_fd, &v, sizeof(v));
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (absl::Status st = nats->Receive(absl::ZeroDuration()); !st.ok()) return st;
      }
      // Every ack read so far, settled under one lock below rather than one
      // per ack.
      uint64_t published = 0, duplicates = 0;
      while (true) {
        absl::StatusOr<bool> got = nats->Pop(&msg);
        if (!got.ok()) return got.status();
        if (!*got) break;
        uint64_t seq;
        if (!absl::StartsWith(msg.subject, ack_prefix) ||
            !absl::SimpleAtoi(absl::string_view(msg.subject).substr(ack_prefix.size()), &seq) ||
            inflight.empty() || seq < inflight.front().seq ||
            seq - inflight.front().seq >= inflight.size()) {
          continue;  // a late ack of something already settled, or not ours
        }
        if (msg.status == 503) {
          return absl::FailedPreconditionError(absl::StrCat(
              "no JetStream stream captures the alert subjects; check that stream ",
              options.stream, " has the subjects \"watchfloor.>\""));
        }
        if (std::string err = ApiError(msg.payload); !err.empty()) {
          return absl::FailedPreconditionError(absl::StrCat("JetStream refused an alert: ", err));
        }
        inflight[seq - inflight.front().seq].acked = true;
        if (IsDuplicateAck(msg.payload)) {
          ++duplicates;
        } else {
          ++published;
        }
      }
      while (!inflight.empty() && inflight.front().acked) {
        acked_cursor = inflight.front().cursor;
        inflight.pop_front();
      }
      {
        absl::MutexLock l(&mu);
        stats.published += published;
        stats.duplicates += duplicates;
        acked = acked_cursor;
        if (!persist_status.ok()) return persist_status;
      }
      if (!inflight.empty() && absl::Now() - inflight.front().sent > options.ack_timeout) {
        return absl::DeadlineExceededError(absl::StrCat(
            "JetStream did not acknowledge an alert within ", absl::FormatDuration(options.ack_timeout),
            "; restart the bridge (it resumes from its cursor file)"));
      }
    }
  }
};

NatsBridge::NatsBridge(watchfloor::v1::Node::StubInterface* node, NatsBridgeOptions options)
    : impl_(std::make_unique<Impl>(node, std::move(options))) {}

NatsBridge::~NatsBridge() { close(impl_->wake_fd); }

void NatsBridge::Stop() {
  impl_->stop.store(true);
  impl_->Wake();
}

NatsBridgeStats NatsBridge::stats() const {
  absl::MutexLock l(&impl_->mu);
  return impl_->stats;
}

absl::Status NatsBridge::Run() {
  Impl& impl = *impl_;
  if (impl.options.state_path.empty()) {
    return absl::InvalidArgumentError("the bridge needs a cursor file (--state)");
  }
  absl::StatusOr<uint64_t> cursor = LoadCursor(impl.options.state_path);
  if (!cursor.ok()) return cursor.status();
  {
    absl::MutexLock l(&impl.mu);
    impl.stats.cursor = *cursor;
  }
  absl::StatusOr<std::unique_ptr<NatsConnection>> nats =
      NatsConnection::Connect(impl.options.url, kRequestTimeout);
  if (!nats.ok()) return nats.status();
  if (absl::Status st = impl.EnsureStream(nats->get()); !st.ok()) return st;
  impl.ack_prefix = absl::StrCat((*nats)->inbox_prefix(), ".ack.");
  {
    absl::MutexLock l(&impl.mu);
    impl.acked = *cursor;
  }
  std::thread persister([&impl, c = *cursor] { impl.PersistLoop(c); });
  std::thread reader([&impl, c = *cursor] { impl.ReadNode(c); });
  absl::Status st = impl.Bridge(nats->get(), *cursor);
  impl.stop.store(true);
  {
    absl::MutexLock l(&impl.mu);
    if (impl.reader_ctx != nullptr) impl.reader_ctx->TryCancel();
    impl.persister_stop = true;  // writes the last acked cursor, then exits
  }
  reader.join();
  persister.join();
  absl::MutexLock l(&impl.mu);
  if (st.ok() && !impl.persist_status.ok()) st = impl.persist_status;
  return st;
}

}  // namespace watchfloor::interop
