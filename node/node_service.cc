#include "node/node_service.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "certs/ids.h"
#include "certs/proto_check.h"
#include "log/log.h"
#include "node/filter.h"
#include "node/grpc_status.h"
#include "node/happens_before.h"
#include "node/parsing_handlers.h"

namespace watchfloor::node {
namespace {

using watchfloor::v1::SubscribeResponse;

// Alerts fetched per read while replaying or tailing.
constexpr size_t kReadBatch = 256;
constexpr int kMaxFilters = 64;

// Puts the opened form of a sealed alert (or why it did not open) into a
// response for a subscriber `entitled` to it; clears both otherwise.
void SetOpened(const CommittedAlert& a, bool entitled, SubscribeResponse* out) {
  out->clear_opened();
  out->clear_open_error();
  if (!entitled || a.opened == nullptr) return;
  if (a.opened->status.ok()) {
    *out->mutable_opened() = a.opened->alert;
  } else {
    out->mutable_open_error()->set_code(static_cast<int>(a.opened->status.code()));
    out->mutable_open_error()->set_message(std::string(a.opened->status.message()));
  }
}

// One reactor per Subscribe stream. It replays history from the store,
// filtering as it reads, then goes live and drains its queue in the hub.
// Exactly one of these drives it at a time: Start, OnWriteDone (a write was in
// flight) or OnLive (it was waiting), so Pump() never runs twice at once.
// OnCancel can race with any of them; FinishOnce makes Finish happen once.
class SubscribeReactor final
    : public grpc::ServerWriteReactor<SubscribeResponse>,
      public LiveSubscriber {
 public:
  // `id` from SubscriptionHub::TryJoin.
  SubscribeReactor(grpc::CallbackServerContext* ctx, SubscriptionHub* hub,
                   SubscriptionHub::Id id, std::shared_ptr<const Matcher> matcher,
                   uint64_t cursor, bool replay_only, bool entitled)
      : ctx_(ctx),
        hub_(hub),
        id_(id),
        matcher_(std::move(matcher)),
        scanned_(cursor),
        last_sent_(cursor),
        replay_only_(replay_only),
        entitled_(entitled) {}

  void Start() { Pump(); }

  // Adds to each message the incident events of its alert (node/incidents.h
  // EventsAt). Call before Start; `incidents` must outlive the reactor.
  void WithIncidentEvents(const IncidentView* incidents) { incidents_ = incidents; }

  void OnWriteDone(bool ok) override {
    const ReactionScope reaction(this);
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "subscriber went away"));
      return;
    }
    Pump();
  }

  void OnLive() override { Pump(); }

  void OnCancel() override {
    cancelled_.store(true);
    // If it was waiting for alerts, nobody else will drive it: finish here.
    if (hub_->Leave(id_)) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
  }

  void OnDone() override {
    HappensAfter(this);
    hub_->Quit(id_);
    Unref();
  }

 private:
  void Pump() {
    for (;;) {
      if (cancelled_.load()) {
        FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        return;
      }
      while (next_ < batch_.size()) {
        const AlertRef& a = batch_[next_++];
        // The store holds a batch before the hub hears of it, so a replay
        // can read alerts that the hub then queues for it live as well.
        if (a->stored.cursor <= scanned_) continue;
        scanned_ = a->stored.cursor;
        // Live alerts were matched by the hub's index already.
        if (!live_ && !matcher_->Matches(a->FactsFor(entitled_))) continue;
        if (a->mark.has_value()) {
          // A co-signature or an expiry: a message of events only, if it
          // changed an incident (a mark of a reaction changes none).
          response_.clear_id();
          response_.clear_envelope();
          response_.clear_opened();
          response_.clear_open_error();
          response_.clear_events();
          for (auto& e : incidents_->EventsAt(a->stored)) *response_.add_events() = std::move(e);
          if (response_.events().empty()) continue;
          last_sent_ = a->stored.cursor;
          response_.set_cursor(a->stored.cursor);
          HappensBefore(this);
          StartWrite(&response_);
          return;
        }
        last_sent_ = a->stored.cursor;
        response_.set_cursor(a->stored.cursor);
        response_.set_id(a->stored.id);
        *response_.mutable_envelope() = a->stored.envelope;
        SetOpened(*a, entitled_, &response_);
        if (incidents_ != nullptr) {
          response_.clear_events();
          for (auto& e : incidents_->EventsAt(a->stored)) *response_.add_events() = std::move(e);
        }
        HappensBefore(this);
        StartWrite(&response_);
        return;
      }
      batch_.clear();
      next_ = 0;
      if (!live_) {
        absl::StatusOr<std::vector<AlertRef>> history =
            hub_->ReadHistory(scanned_, kReadBatch, /*marks=*/incidents_ != nullptr);
        if (!history.ok()) {
          FinishOnce(ToGrpcStatus(history.status()));
          return;
        }
        if (!history->empty()) {
          batch_ = std::move(*history);
          continue;
        }
        if (replay_only_) {
          FinishOnce(grpc::Status::OK);
          return;
        }
        if (hub_->closed()) {
          FinishClosed();
          return;
        }
        // Caught up: go live, unless something was committed meanwhile.
        if (hub_->GoLive(id_, this, matcher_, scanned_, entitled_,
                         /*marks=*/incidents_ != nullptr)) {
          live_ = true;
        }
        continue;
      }
      bool armed = false;
      SubscriptionHub::Take take = hub_->TakeLive(id_, kReadBatch, &armed);
      if (take.closed) {
        hub_->Leave(id_);
        FinishClosed();
        return;
      }
      if (take.gone) {
        FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        return;
      }
      if (take.overflowed) {
        hub_->Leave(id_);
        ctx_->AddTrailingMetadata("watchfloor-resume-cursor",
                                  absl::StrCat(last_sent_));
        FinishOnce(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("subscriber fell behind the live stream (more than ",
                         hub_->max_queue(), " alerts waiting); resume with cursor ",
                         last_sent_)));
        return;
      }
      if (armed) return;  // OnLive may already be running: touch nothing.
      batch_ = std::move(take.alerts);
    }
  }

  void FinishClosed() {
    ctx_->AddTrailingMetadata("watchfloor-resume-cursor", absl::StrCat(last_sent_));
    FinishOnce(grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("node is shutting down; resume with cursor ", last_sent_)));
  }

  void FinishOnce(grpc::Status status) {
    if (finished_.exchange(true)) return;
    HappensBefore(this);
    Finish(std::move(status));
  }

  grpc::CallbackServerContext* const ctx_;
  SubscriptionHub* const hub_;
  const SubscriptionHub::Id id_;
  const std::shared_ptr<const Matcher> matcher_;
  uint64_t scanned_;    // every alert up to here was considered
  uint64_t last_sent_;  // the cursor of the last alert written
  const bool replay_only_;
  const bool entitled_;  // may read this node's opened sealed alerts
  const IncidentView* incidents_ = nullptr;
  bool live_ = false;
  std::vector<AlertRef> batch_;
  size_t next_ = 0;
  SubscribeResponse response_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> finished_{false};
};

// Finishes a stream at once with an error.
class RefuseReactor final : public grpc::ServerWriteReactor<SubscribeResponse> {
 public:
  explicit RefuseReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

NodeService::NodeService(Ledger* ledger, SubscriptionHub* hub,
                         AlertStore* store, const certs::PublicKey* public_key,
                         size_t max_subscribers, const Authorizer* authz,
                         AcceptedHook on_accepted)
    : ledger_(ledger),
      hub_(hub),
      store_(store),
      public_key_(public_key),
      max_subscribers_(max_subscribers),
      authz_(authz),
      on_accepted_(std::move(on_accepted)) {
  certs::InstallProtobufLogFilter();
  ServeParsed("Publish", &NodeService::Publish, /*publisher=*/true);
  ServeParsed("Subscribe", &NodeService::Subscribe, false);
  ServeParsed("GetAlert", &NodeService::GetAlert, false);
  ServeParsed("GetIdentity", &NodeService::GetIdentity, false);
  ServeParsed("Ingest", &NodeService::Ingest, /*publisher=*/true);
  ServeParsed("GetCheckpoint", &NodeService::GetCheckpoint, false);
  ServeParsed("GetInclusionProof", &NodeService::GetInclusionProof, false);
  ServeParsed("GetConsistencyProof", &NodeService::GetConsistencyProof, false);
  ServeParsed("ListEvidence", &NodeService::ListEvidence, false);
  ServeParsed("Export", &NodeService::Export, false);
  ServeParsed("SubmitRoster", &NodeService::SubmitRoster, false);
  ServeParsed("GetRosterStatus", &NodeService::GetRosterStatus, false);
  ServeParsed("ListIncidents", &NodeService::ListIncidents, false);
  ServeParsed("Corroborate", &NodeService::Corroborate, /*publisher=*/true);
}

namespace {

// The index gRPC's generated service gives `method` (the order of the proto).
int MethodIndex(const char* method) {
  const google::protobuf::ServiceDescriptor* service =
      watchfloor::v1::PublishRequest::descriptor()->file()->FindServiceByName("Node");
  return service->FindMethodByName(method)->index();
}

}  // namespace

template <class Request, class Response>
void NodeService::ServeParsed(const char* method,
                              grpc::ServerUnaryReactor* (NodeService::*typed)(
                                  grpc::CallbackServerContext*, const Request*, Response*),
                              bool publisher) {
  MarkMethodCallback(
      MethodIndex(method),
      new ParsingUnaryHandler<Request, Response>(
          [this, typed](grpc::CallbackServerContext* ctx, const Request* request,
                        Response* response) { return (this->*typed)(ctx, request, response); },
          [this, method, publisher](grpc::CallbackServerContext* ctx,
                                    const google::protobuf::Descriptor& type,
                                    absl::string_view bytes) {
            return RefuseUnparsable(*ctx, method, publisher, type, bytes);
          }));
}

template <class Request, class Response>
void NodeService::ServeParsed(const char* method,
                              grpc::ServerWriteReactor<Response>* (NodeService::*typed)(
                                  grpc::CallbackServerContext*, const Request*),
                              bool publisher) {
  MarkMethodCallback(
      MethodIndex(method),
      new ParsingServerStreamingHandler<Request, Response>(
          [this, typed](grpc::CallbackServerContext* ctx, const Request* request) {
            return (this->*typed)(ctx, request);
          },
          [this, method, publisher](grpc::CallbackServerContext* ctx,
                                    const google::protobuf::Descriptor& type,
                                    absl::string_view bytes) {
            return RefuseUnparsable(*ctx, method, publisher, type, bytes);
          }));
}

grpc::Status NodeService::RefuseUnparsable(const grpc::CallbackServerContext& ctx,
                                           absl::string_view method, bool publisher,
                                           const google::protobuf::Descriptor& type,
                                           absl::string_view bytes) {
  absl::Status allowed = publisher ? authz_->CheckPublisher(ctx) : authz_->CheckReader(ctx);
  if (!allowed.ok()) return ToGrpcStatus(allowed);
  unparsable_requests_.fetch_add(1);
  absl::Status refused = certs::ParseFailure(type, bytes, "request");
  // One line per refusal; the reason names fields, never the bytes sent.
  log::Warn("node", "request_refused",
            {{"rpc", absl::StrCat("watchfloor.v1.Node/", method)},
             {"peer", ctx.peer()},
             {"code", "INVALID_ARGUMENT"},
             {"reason", refused.message()}});
  return ToGrpcStatus(refused);
}

grpc::ServerUnaryReactor* NodeService::Publish(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::PublishRequest* request,
    watchfloor::v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = authz_->CheckPublisher(*ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  ledger_->Publish(request->alert(), [this, reactor, response](
                                         absl::StatusOr<PublishResult> r) {
    if (r.ok()) {
      if (on_accepted_) on_accepted_(r->envelope);
      // Names and numbers only: never the alert's content.
      log::Debug("node", "alert_published",
                 {{"id", r->id}, {"sequence", r->sequence}, {"cursor", r->cursor}});
      response->set_id(r->id);
      response->set_sequence(r->sequence);
      response->set_cursor(r->cursor);
      *response->mutable_envelope() = std::move(r->envelope);
    } else {
      // The code only: a validation message may quote the draft.
      log::Debug("node", "publish_refused", {{"code", absl::StatusCodeToString(r.status().code())}});
    }
    reactor->Finish(ToGrpcStatus(r.status()));
  });
  return reactor;
}

grpc::ServerWriteReactor<SubscribeResponse>* NodeService::Subscribe(
    grpc::CallbackServerContext* ctx,
    const watchfloor::v1::SubscribeRequest* request) {
  if (absl::Status st = authz_->CheckReader(*ctx); !st.ok()) {
    return new RefuseReactor(ToGrpcStatus(st));
  }
  if (request->filters_size() > kMaxFilters) {
    return new RefuseReactor(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("subscription has ", request->filters_size(),
                     " filters; the limit is ", kMaxFilters)));
  }
  absl::StatusOr<std::shared_ptr<const Matcher>> matcher =
      Matcher::Compile(request->filters());
  if (!matcher.ok()) return new RefuseReactor(ToGrpcStatus(matcher.status()));
  uint64_t cursor = request->cursor();
  if (cursor == 0 && request->has_since()) {
    // absl::Time saturates where seconds * 1000 would overflow (a client may
    // send any int64).
    const int64_t ms = absl::ToUnixMillis(absl::FromUnixSeconds(request->since().seconds()) +
                                          absl::Nanoseconds(request->since().nanos()));
    absl::StatusOr<uint64_t> start = hub_->CursorBefore(ms);
    if (!start.ok()) return new RefuseReactor(ToGrpcStatus(start.status()));
    cursor = *start;
  }
  if (request->incident_events() && incidents_ == nullptr) {
    return new RefuseReactor(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                          "this node keeps no incident view"));
  }
  SubscriptionHub::Id id = hub_->TryJoin(max_subscribers_);
  if (id == 0) {
    return new RefuseReactor(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("node serves at most ", max_subscribers_,
                     " subscribers; retry later")));
  }
  auto* reactor = new SubscribeReactor(ctx, hub_, id, std::move(*matcher), cursor,
                                       request->replay_only(), MayReadOpened(*ctx));
  if (request->incident_events()) reactor->WithIncidentEvents(incidents_);
  reactor->Start();
  return reactor;
}

grpc::ServerUnaryReactor* NodeService::GetAlert(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::GetAlertRequest* request,
    watchfloor::v1::GetAlertResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = authz_->CheckReader(*ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
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
    watchfloor::v1::Alert alert;
    if (reader_ != nullptr && alert.ParseFromString((*got)->envelope.payload()) &&
        reader_->ShouldOpen(alert) && MayReadOpened(*ctx)) {
      absl::StatusOr<watchfloor::v1::Alert> opened = reader_->Open(alert);
      if (!opened.ok()) {
        // An entitled reader is told why, rather than handed a header it
        // might take for the whole alert.
        reactor->Finish(ToGrpcStatus(opened.status()));
        return reactor;
      }
      *response->mutable_opened() = *std::move(opened);
    }
    *response->mutable_envelope() = std::move((*got)->envelope);
    reactor->Finish(grpc::Status::OK);
  }
  return reactor;
}

bool NodeService::MayReadOpened(const grpc::CallbackServerContext& ctx) const {
  if (reader_ == nullptr) return false;
  absl::StatusOr<certs::PeerIdentity> who = authz_->Identify(ctx);
  return who.ok() && who->is_client && who->member == reader_->member();
}

grpc::ServerUnaryReactor* NodeService::GetIdentity(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::GetIdentityRequest*,
    watchfloor::v1::Identity* response) {
  if (absl::Status st = authz_->CheckReader(*ctx); !st.ok()) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  response->set_origin(ledger_->origin());
  const certs::SigningKey* now = signing_keys_ != nullptr ? signing_keys_->Current() : nullptr;
  const certs::PublicKey& key = now != nullptr ? now->public_key() : *public_key_;
  response->set_public_key_pem(key.ToPem());
  response->set_keyid(key.KeyId());
  response->set_head_sequence(ledger_->OwnHead().sequence);
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* NodeService::Ingest(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::IngestRequest* request,
    watchfloor::v1::IngestResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = authz_->CheckPublisher(*ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  ledger_->Ingest(request->envelope(),
                  [this, reactor, response,
                   envelope = request->envelope()](absl::StatusOr<IngestResult> r) {
                    if (r.ok()) {
                      if (on_accepted_) on_accepted_(envelope);
                      response->set_id(r->id);
                      response->set_cursor(r->cursor);
                    }
                    reactor->Finish(ToGrpcStatus(r.status()));
                  });
  return reactor;
}

}  // namespace watchfloor::node
