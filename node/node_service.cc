#include "node/node_service.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/ids.h"
#include "node/grpc_status.h"

namespace watchfloor::node {
namespace {

using watchfloor::v1::SubscribeResponse;

// Alerts fetched per read while replaying or tailing.
constexpr size_t kReadBatch = 256;

// One reactor per Subscribe stream. Exactly one of these drives it at a time:
// Start, OnWriteDone (a write was in flight) or OnNewData (it was parked), so
// Pump() never runs twice at once. OnCancel can race with any of them; the
// finished_ flag makes Finish happen once.
class SubscribeReactor final
    : public grpc::ServerWriteReactor<SubscribeResponse>,
      public Waiter {
 public:
  SubscribeReactor(SubscriptionHub* hub, uint64_t cursor, bool replay_only)
      : hub_(hub), cursor_(cursor), replay_only_(replay_only) {
    hub_->subscribers().fetch_add(1);
  }

  void Start() { Pump(); }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED,
                              "subscriber went away"));
      return;
    }
    Pump();
  }

  void OnNewData() override { Pump(); }

  void OnCancel() override {
    cancelled_.store(true);
    // If parked, nobody else will wake this stream: finish it here.
    if (hub_->Unpark(this)) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }

  void OnDone() override {
    hub_->Unpark(this);
    hub_->subscribers().fetch_sub(1);
    Unref();
  }

 private:
  void Pump() {
    for (;;) {
      if (cancelled_.load()) {
        FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        return;
      }
      if (next_ < batch_.size()) {
        const AlertRef& a = batch_[next_++];
        cursor_ = a->cursor;
        response_.set_cursor(a->cursor);
        response_.set_id(a->id);
        *response_.mutable_envelope() = a->envelope;
        StartWrite(&response_);
        return;
      }
      absl::StatusOr<std::vector<AlertRef>> next = hub_->ReadAfter(cursor_, kReadBatch);
      if (!next.ok()) {
        FinishOnce(ToGrpcStatus(next.status()));
        return;
      }
      if (!next->empty()) {
        batch_ = std::move(*next);
        next_ = 0;
        continue;
      }
      if (replay_only_) {
        FinishOnce(grpc::Status::OK);
        return;
      }
      if (hub_->Park(this, cursor_)) {
        // OnNewData may already be running on the writer thread: touch
        // nothing more, unless a cancel slipped in before we parked.
        if (cancelled_.load() && hub_->Unpark(this)) {
          FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        }
        return;
      }
      // Something was committed between the read and the park: read again.
    }
  }

  void FinishOnce(grpc::Status status) {
    if (finished_.exchange(true)) return;
    Finish(std::move(status));
  }

  SubscriptionHub* const hub_;
  uint64_t cursor_;
  const bool replay_only_;
  std::vector<AlertRef> batch_;
  size_t next_ = 0;
  SubscribeResponse response_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> finished_{false};
};

}  // namespace

NodeService::NodeService(Ledger* ledger, SubscriptionHub* hub,
                         AlertStore* store, const certs::PublicKey* public_key,
                         size_t max_subscribers)
    : ledger_(ledger),
      hub_(hub),
      store_(store),
      public_key_(public_key),
      max_subscribers_(max_subscribers) {}

grpc::ServerUnaryReactor* NodeService::Publish(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::PublishRequest* request,
    watchfloor::v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  ledger_->Publish(request->alert(), [reactor, response](
                                         absl::StatusOr<PublishResult> r) {
    if (r.ok()) {
      response->set_id(r->id);
      response->set_sequence(r->sequence);
      response->set_cursor(r->cursor);
      *response->mutable_envelope() = std::move(r->envelope);
    }
    reactor->Finish(ToGrpcStatus(r.status()));
  });
  return reactor;
}

grpc::ServerWriteReactor<SubscribeResponse>* NodeService::Subscribe(
    grpc::CallbackServerContext* ctx,
    const watchfloor::v1::SubscribeRequest* request) {
  if (hub_->subscriber_count() >= max_subscribers_) {
    class Refuse final : public grpc::ServerWriteReactor<SubscribeResponse> {
     public:
      explicit Refuse(size_t max) {
        Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            absl::StrCat("node serves at most ", max,
                                         " subscribers; retry later")));
      }
      void OnDone() override { delete this; }
    };
    return new Refuse(max_subscribers_);
  }
  auto* reactor =
      new SubscribeReactor(hub_, request->cursor(), request->replay_only());
  reactor->Start();
  return reactor;
}

grpc::ServerUnaryReactor* NodeService::GetAlert(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::GetAlertRequest* request,
    watchfloor::v1::GetAlertResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (!certs::IsHexId(request->id())) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("alert id \"", request->id().substr(0, 80),
                     "\" is not 64 lowercase hex characters")));
    return reactor;
  }
  absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(request->id());
  if (!got.ok()) {
    reactor->Finish(ToGrpcStatus(got.status()));
  } else if (!got->has_value()) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("no alert ", request->id(), " on this node")));
  } else {
    response->set_cursor((*got)->cursor);
    *response->mutable_envelope() = std::move((*got)->envelope);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

grpc::ServerUnaryReactor* NodeService::GetIdentity(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::GetIdentityRequest*,
    watchfloor::v1::Identity* response) {
  response->set_origin(ledger_->origin());
  response->set_public_key_pem(public_key_->ToPem());
  response->set_keyid(public_key_->KeyId());
  response->set_head_sequence(ledger_->OwnHead().sequence);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* NodeService::Ingest(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::IngestRequest* request,
    watchfloor::v1::IngestResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  ledger_->Ingest(request->envelope(),
                  [reactor, response](absl::StatusOr<IngestResult> r) {
                    if (r.ok()) {
                      response->set_id(r->id);
                      response->set_cursor(r->cursor);
                    }
                    reactor->Finish(ToGrpcStatus(r.status()));
                  });
  return reactor;
}

}  // namespace watchfloor::node
