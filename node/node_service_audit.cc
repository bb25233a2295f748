// The transparency rpcs of watchfloor.v1.Node: checkpoints, proofs, evidence
// and audit bundle export (docs/PROTOCOL.md "Audit bundle").
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/ids.h"
#include "certs/merkle.h"
#include "certs/note.h"
#include "node/alert_validator.h"
#include "node/filter.h"
#include "node/grpc_status.h"
#include "node/happens_before.h"
#include "node/node_service.h"

namespace watchfloor::node {
namespace {

using watchfloor::v1::AuditBundle;

constexpr char kBundleFormat[] = "watchfloor-bundle/v1";
// Alerts per streamed piece of a bundle, and rows read per piece at most.
constexpr size_t kExportPiece = 256;
constexpr size_t kExportScan = 16 * kExportPiece;
// A piece stops growing at this many bytes of alerts, so that it stays within
// the 1 MiB default max_message_bytes even with large alerts (one adds at
// most ~260 KiB).
constexpr size_t kExportPieceBytes = 512 << 10;
// Exports running at once per node: each holds its origins' trees (about 64
// bytes per alert) and a callback thread while it builds a piece.
constexpr int kMaxConcurrentExports = 2;

grpc::Status NoTransparency() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      "this node keeps no transparency logs; restart it");
}

// The origin a request names: its own when empty.
absl::StatusOr<std::string> RequestedOrigin(const std::string& requested,
                                            const Ledger& ledger) {
  if (requested.empty()) return ledger.origin();
  absl::Status st = ValidateOrigin(requested);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("origin: ", st.message()));
  }
  return requested;
}

absl::StatusOr<certs::Checkpoint> BodyOf(const std::string& note) {
  absl::StatusOr<certs::ParsedNote> parsed = certs::ParseNote(note);
  if (!parsed.ok()) return parsed.status();
  return certs::ParseCheckpoint(parsed->text);
}

// Streams a bundle: the header with every checkpoint, then the matching
// alerts of each origin with their inclusion proofs, kExportPiece per
// message. Pieces are built one at a time as the previous write completes.
class ExportReactor final : public grpc::ServerWriteReactor<AuditBundle> {
 public:
  struct OriginPlan {
    std::string origin;
    uint64_t size = 0;
  };

  // `running` counts exports in progress; this one is counted already.
  // `claims` lists every plan's origin in the same order, counts at 0: the
  // reactor counts the alerts it streams and sends the claims, signed by
  // `transparency`, as the last piece.
  ExportReactor(grpc::CallbackServerContext* ctx, AlertStore* store,
                const Transparency* transparency, std::shared_ptr<const Matcher> matcher,
                std::vector<OriginPlan> plans, watchfloor::v1::ExportClaims claims,
                AuditBundle header, std::atomic<int>* running)
      : ctx_(ctx),
        store_(store),
        transparency_(transparency),
        matcher_(std::move(matcher)),
        plans_(std::move(plans)),
        claims_(std::move(claims)),
        running_(running) {
    piece_ = std::move(header);
    HappensBefore(this);
    StartWrite(&piece_);
  }

  void OnWriteDone(bool ok) override {
    const ReactionScope reaction(this);
    if (!ok || ctx_->IsCancelled()) {
      HappensBefore(this);
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "exporter went away"));
      return;
    }
    absl::StatusOr<bool> more = NextPiece();
    if (!more.ok()) {
      HappensBefore(this);
      Finish(ToGrpcStatus(more.status()));
    } else if (*more) {
      HappensBefore(this);
      StartWrite(&piece_);
    } else {
      HappensBefore(this);
      Finish(grpc::Status::OK);
    }
  }

  void OnDone() override {
    HappensAfter(this);
    running_->fetch_sub(1);
    delete this;
  }

 private:
  // Fills piece_ with up to kExportPiece alerts (kExportPieceBytes), then
  // once with the signed claims; false when nothing is left. Reads at most
  // kExportScan rows per piece, so a filter that matches little still yields
  // the thread (and notices a cancel) regularly: the piece may then be empty,
  // which is a valid, empty AuditBundle.
  absl::StatusOr<bool> NextPiece() {
    piece_.Clear();
    size_t piece_bytes = 0;
    while (plan_ < plans_.size()) {
      const OriginPlan& p = plans_[plan_];
      if (tree_.size() != p.size) {
        // Every leaf up to the checkpoint, once per origin: proofs are then
        // O(log n) each without a store read per proof node.
        tree_ = certs::MerkleTree();
        absl::StatusOr<std::vector<std::string>> ids = store_->ReadIds(p.origin, 1, p.size);
        if (!ids.ok()) return ids.status();
        if (ids->size() != p.size) {
          return absl::DataLossError(absl::StrCat("feed ", p.origin, " has ", ids->size(),
                                                  " stored alerts below its checkpoint size ",
                                                  p.size));
        }
        for (const std::string& id : *ids) tree_.Append(absl::HexStringToBytes(id));
        next_ = 1;
      }
      size_t scanned = 0;
      while (next_ <= p.size && static_cast<size_t>(piece_.alerts_size()) < kExportPiece &&
             piece_bytes < kExportPieceBytes) {
        if (scanned >= kExportScan) return true;
        scanned += kExportPiece;
        absl::StatusOr<std::vector<StoredAlert>> rows =
            store_->ReadRange(p.origin, next_, p.size, kExportPiece);
        if (!rows.ok()) return rows.status();
        if (rows->empty()) break;
        for (StoredAlert& a : *rows) {
          next_ = a.sequence + 1;
          watchfloor::v1::Alert alert;
          if (!matcher_->matches_everything()) {
            if (!alert.ParseFromString(a.envelope.payload()) ||
                !matcher_->Matches(AlertFacts::From(alert))) {
              continue;
            }
          }
          absl::StatusOr<std::vector<std::string>> proof =
              tree_.InclusionProof(a.sequence - 1, p.size);
          if (!proof.ok()) return proof.status();
          watchfloor::v1::BundledAlert* b = piece_.add_alerts();
          claims_.mutable_origins(static_cast<int>(plan_))->set_alerts(
              claims_.origins(static_cast<int>(plan_)).alerts() + 1);
          *b->mutable_envelope() = std::move(a.envelope);
          b->set_tree_size(p.size);
          for (std::string& h : *proof) b->add_inclusion_proof(std::move(h));
          piece_bytes += b->ByteSizeLong();
          if (static_cast<size_t>(piece_.alerts_size()) >= kExportPiece ||
              piece_bytes >= kExportPieceBytes) {
            break;
          }
        }
      }
      if (piece_.alerts_size() > 0) return true;
      ++plan_;
      tree_ = certs::MerkleTree();
    }
    if (piece_.alerts_size() > 0) return true;
    if (claims_sent_) return false;
    *piece_.mutable_claims() = transparency_->SignExportClaims(claims_);
    claims_sent_ = true;
    return true;
  }

  grpc::CallbackServerContext* const ctx_;
  AlertStore* const store_;
  const Transparency* const transparency_;
  const std::shared_ptr<const Matcher> matcher_;
  const std::vector<OriginPlan> plans_;
  watchfloor::v1::ExportClaims claims_;  // origins(i) is plans_[i]'s
  bool claims_sent_ = false;
  std::atomic<int>* const running_;
  size_t plan_ = 0;
  uint64_t next_ = 1;
  certs::MerkleTree tree_;
  AuditBundle piece_;
};

// The older checkpoint sizes an ExportRequest names, by origin.
// INVALID_ARGUMENT for more than kMaxSince entries, a bad origin, a size of
// 0 or an origin named twice.
constexpr int kMaxSince = 1024;
absl::StatusOr<std::map<std::string, uint64_t>> SinceSizes(
    const watchfloor::v1::ExportRequest& request) {
  if (request.since_size() > kMaxSince) {
    return absl::InvalidArgumentError(absl::StrCat(
        "since: ", request.since_size(), " checkpoints, at most ", kMaxSince));
  }
  std::map<std::string, uint64_t> out;
  for (const watchfloor::v1::ExportSince& s : request.since()) {
    if (absl::Status st = ValidateOrigin(s.origin()); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("since: origin: ", st.message()));
    }
    if (s.tree_size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("since: tree size 0 for ", s.origin(), "; a checkpoint has size >= 1"));
    }
    if (!out.emplace(s.origin(), s.tree_size()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("since: origin ", s.origin(), " is named twice"));
    }
  }
  return out;
}

class RefuseExport final : public grpc::ServerWriteReactor<AuditBundle> {
 public:
  explicit RefuseExport(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

// Finishes `reactor` and returns true unless the caller may read and the node
// keeps transparency logs.
static bool RefuseTransparencyCall(const Authorizer& authz, const Transparency* transparency,
                            const grpc::CallbackServerContext& ctx,
                            grpc::ServerUnaryReactor* reactor) {
  if (absl::Status st = authz.CheckReader(ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return true;
  }
  if (transparency == nullptr) {
    reactor->Finish(NoTransparency());
    return true;
  }
  return false;
}

grpc::ServerUnaryReactor* NodeService::GetCheckpoint(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::GetCheckpointRequest* request,
    watchfloor::v1::GetCheckpointResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseTransparencyCall(*authz_, transparency_, *ctx, reactor)) return reactor;
  absl::StatusOr<std::string> origin = RequestedOrigin(request->origin(), *ledger_);
  absl::StatusOr<std::string> note =
      origin.ok() ? transparency_->Latest(*origin) : origin.status();
  if (note.ok()) response->set_note(*note);
  reactor->Finish(ToGrpcStatus(note.status()));
  return reactor;
}

grpc::ServerUnaryReactor* NodeService::GetInclusionProof(
    grpc::CallbackServerContext* ctx,
    const watchfloor::v1::GetInclusionProofRequest* request,
    watchfloor::v1::GetInclusionProofResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto finish = [reactor](const absl::Status& st) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  };
  if (RefuseTransparencyCall(*authz_, transparency_, *ctx, reactor)) return reactor;
  if (!certs::IsHexId(request->id())) {
    return finish(absl::InvalidArgumentError(
        absl::StrCat("alert id \"", request->id().substr(0, 80),
                     "\" is not 64 lowercase hex characters")));
  }
  absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(request->id());
  if (!got.ok()) return finish(got.status());
  if (!got->has_value()) {
    return finish(absl::NotFoundError(absl::StrCat("no alert ", request->id(), " on this node")));
  }
  const StoredAlert& a = **got;
  uint64_t size = request->tree_size();
  if (size == 0) {
    absl::StatusOr<std::string> note = transparency_->Latest(a.origin);
    if (!note.ok()) return finish(note.status());
    absl::StatusOr<certs::Checkpoint> body = BodyOf(*note);
    if (!body.ok()) return finish(body.status());
    size = body->size;
    response->set_checkpoint_note(*note);
  }
  if (a.sequence > size) {
    return finish(absl::OutOfRangeError(absl::StrCat(
        "alert ", a.id, " is sequence ", a.sequence, " of ", a.origin,
        ", beyond the tree size ", size,
        "; ask again once a newer checkpoint covers it")));
  }
  absl::StatusOr<std::vector<std::string>> proof =
      transparency_->InclusionProof(a.origin, a.sequence - 1, size);
  if (!proof.ok()) return finish(proof.status());
  response->set_origin(a.origin);
  response->set_leaf_index(a.sequence - 1);
  response->set_tree_size(size);
  for (std::string& h : *proof) response->add_hashes(std::move(h));
  return finish(absl::OkStatus());
}

grpc::ServerUnaryReactor* NodeService::GetConsistencyProof(
    grpc::CallbackServerContext* ctx,
    const watchfloor::v1::GetConsistencyProofRequest* request,
    watchfloor::v1::GetConsistencyProofResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (RefuseTransparencyCall(*authz_, transparency_, *ctx, reactor)) return reactor;
  absl::StatusOr<std::string> origin = RequestedOrigin(request->origin(), *ledger_);
  absl::StatusOr<std::vector<std::string>> proof =
      origin.ok() ? transparency_->ConsistencyProof(*origin, request->first(),
                                                    request->second())
                  : absl::StatusOr<std::vector<std::string>>(origin.status());
  if (proof.ok()) {
    for (std::string& h : *proof) response->add_hashes(std::move(h));
  }
  reactor->Finish(ToGrpcStatus(proof.status()));
  return reactor;
}

grpc::ServerUnaryReactor* NodeService::ListEvidence(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::ListEvidenceRequest*,
    watchfloor::v1::ListEvidenceResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = authz_->CheckReader(*ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  absl::StatusOr<std::vector<Evidence>> all = store_->ListEvidence();
  if (!all.ok()) {
    reactor->Finish(ToGrpcStatus(all.status()));
    return reactor;
  }
  for (const Evidence& e : *all) {
    watchfloor::v1::EvidenceRecord* r = response->add_evidence();
    r->set_kind(e.kind);
    r->set_origin(e.origin);
    r->set_sequence(e.sequence);
    r->set_detected_at_ms(e.detected_at_ms);
    if (e.kind == "split-view") {
      r->set_first_note(e.stored_envelope);
      r->set_second_note(e.conflict_envelope);
    } else {
      r->mutable_first()->ParseFromString(e.stored_envelope);
      r->mutable_second()->ParseFromString(e.conflict_envelope);
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<AuditBundle>* NodeService::Export(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::ExportRequest* request) {
  if (absl::Status st = authz_->CheckReader(*ctx); !st.ok()) {
    return new RefuseExport(ToGrpcStatus(st));
  }
  if (transparency_ == nullptr) return new RefuseExport(NoTransparency());
  absl::StatusOr<std::shared_ptr<const Matcher>> matcher = Matcher::Compile(request->filters());
  if (!matcher.ok()) return new RefuseExport(ToGrpcStatus(matcher.status()));
  absl::StatusOr<std::map<std::string, uint64_t>> since = SinceSizes(*request);
  if (!since.ok()) return new RefuseExport(ToGrpcStatus(since.status()));
  if (exports_running_.fetch_add(1) >= kMaxConcurrentExports) {
    exports_running_.fetch_sub(1);
    return new RefuseExport(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("node runs at most ", kMaxConcurrentExports,
                     " exports at once; retry when one has finished")));
  }

  AuditBundle header;
  header.set_format(kBundleFormat);
  uint64_t roster_version = 0;
  if (roster_manager_ != nullptr) {
    // Every version this node holds, oldest first, the one in force last:
    // alerts and checkpoints of earlier versions verify with their keys, and
    // an auditor who trusts any of them can follow the chain to the newest.
    const std::vector<certs::Roster> chain = roster_manager_->Chain();
    for (size_t i = 0; i + 1 < chain.size(); ++i) {
      *header.add_roster_chain() = chain[i].envelope();
    }
    *header.mutable_roster() = chain.back().envelope();
    roster_version = chain.back().version();
  } else if (roster_ != nullptr) {
    *header.mutable_roster() = roster_->envelope();
    roster_version = roster_->version();
  }
  header.set_filter(request->filter_text());
  header.set_exported_at_ms(absl::ToUnixMillis(absl::Now()));
  watchfloor::v1::ExportClaims claims;
  claims.set_exporter(ledger_->origin());
  claims.set_roster_version(roster_version);
  claims.set_filter(header.filter());
  claims.set_exported_at_ms(header.exported_at_ms());
  std::vector<ExportReactor::OriginPlan> plans;
  const int quorum = transparency_->DefaultQuorum();
  std::vector<FeedHead> heads = ledger_->Heads();
  std::sort(heads.begin(), heads.end(),
            [](const FeedHead& x, const FeedHead& y) { return x.origin < y.origin; });
  for (const FeedHead& head : heads) {
    absl::StatusOr<StoredCheckpoint> cp = transparency_->ForExport(head.origin, quorum);
    if (!cp.ok()) continue;  // no checkpoint yet: nothing of it is provable
    absl::StatusOr<certs::Checkpoint> body = BodyOf(cp->note);
    if (!body.ok()) continue;  // not reached: stored notes were verified
    header.add_checkpoints()->set_note(cp->note);
    if ((*matcher)->matches_everything()) {
      header.add_complete_origins(head.origin);
      claims.add_complete_origins(head.origin);
    }
    watchfloor::v1::OriginCut* cut = claims.add_origins();
    cut->set_origin(head.origin);
    cut->set_tree_size(cp->size);
    cut->set_root_hash(body->root_hash);
    const auto from = since->find(head.origin);
    if (from != since->end() && from->second <= cp->size) {
      absl::StatusOr<std::vector<std::string>> proof =
          transparency_->ConsistencyProof(head.origin, from->second, cp->size);
      if (!proof.ok()) {
        exports_running_.fetch_sub(1);
        return new RefuseExport(ToGrpcStatus(proof.status()));
      }
      watchfloor::v1::SinceProof* p = header.add_since_proofs();
      p->set_origin(head.origin);
      p->set_from_size(from->second);
      p->set_to_size(cp->size);
      for (std::string& h : *proof) p->add_proof(std::move(h));
    }
    plans.push_back({head.origin, cp->size});
  }
  return new ExportReactor(ctx, store_, transparency_, std::move(*matcher), std::move(plans),
                           std::move(claims), std::move(header), &exports_running_);
}

}  // namespace watchfloor::node
