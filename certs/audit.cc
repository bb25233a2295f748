// Offline bundle audit. Four passes: trust the roster; open every checkpoint
// and its cosignatures (few, sequential); verify every alert's signature and
// inclusion proof (many, on options.threads threads, each writing only its
// own slots of a preallocated result vector); then, sequentially, order,
// chain, missing and the counts.
#include "certs/audit.h"


#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/audit_internal.h"
#include "certs/cosign.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/merkle.h"
#include "certs/note.h"
#include "certs/proto_check.h"
#include "certs/roster_rules.h"
#include "certs/status_macros.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::certs {
namespace {

using watchfloor::v1::AuditBundle;
using watchfloor::v1::BundledAlert;
using watchfloor::v1::Envelope;

// Alerts a worker claims at a time: large enough that the shared counter is
// not contended, small enough that both threads finish together.
constexpr size_t kChunk = 256;

std::string Short(absl::string_view hex) {
  return hex.size() <= 16 ? std::string(hex) : absl::StrCat(hex.substr(0, 16), "...");
}

// One signing key of a node and the feed sequences it signs.
struct KeySpan {
  PublicKey key;
  uint64_t first = 1;
  uint64_t last = std::numeric_limits<uint64_t>::max();  // max: still in force
};

// A roster node as the audit needs it: from the newest version of the chain
// that holds it (the bundle's roster, or for a removed node the last
// version before its removal).
struct NodeInfo {
  std::string origin;      // "<member>/<node>"
  std::string member;
  std::string log_origin;  // "watchfloor/<member>/<node>": key and witness name
  PublicKey key;           // the key in force in that version
  uint64_t removed_in = 0;  // the version that dropped it (0: in the newest)
  // That version's key history, newest first: a key with a stated range
  // signs only the sequences in it.
  std::vector<KeySpan> spans;
  // Keys it had in older versions of the chain that the history does not
  // list (replaced wholesale, from the same sequence): they sign any
  // sequence, as they did while they were in force.
  std::vector<PublicKey> unranged;
  // Every key the node had anywhere in the chain, newest first, with its
  // note key id: a cosignature made before a rotation still verifies.
  std::vector<std::pair<uint32_t, PublicKey>> all_keys = {};

  // The key that signs `sequence`, or nullptr if none does.
  const PublicKey* KeyFor(uint64_t sequence) const {
    for (const KeySpan& k : spans) {
      if (sequence >= k.first && sequence <= k.last) return &k.key;
    }
    return nullptr;
  }
};

// What the alert pass reads about an origin; immutable while it runs.
struct OriginState {
  const NodeInfo* node = nullptr;
  bool has_checkpoint = false;
  uint64_t size = 0;
  std::string root;
};

using Hash = std::array<unsigned char, kMerkleHashSize>;

absl::string_view View(const Hash& h) {
  return absl::string_view(reinterpret_cast<const char*>(h.data()), h.size());
}

// The outcome for one alert, written by exactly one worker.
struct AlertCheck {
  bool parsed = false;
  std::string origin;
  uint64_t sequence = 0;
  std::string previous;
  Hash leaf{};                    // raw id
  std::string signature_problem;  // empty: signed by the origin's roster key
  std::string inclusion_problem;  // empty: included (or not checked)
  bool uncovered = false;         // signed, but the origin has no valid checkpoint
  // Co-signatures (signatures other than the origin's keys'), checked
  // against the bundle roster: the valid ones' signers, and why the others
  // were refused.
  std::vector<Cosigner> cosigners;
  std::vector<std::string> cosignature_problems;
};

// SHA-256 through OpenSSL, which uses the CPU's SHA extensions where it has
// them: several times faster than libsodium's portable SHA-256, and the
// audit hashes every payload and a few tree nodes per alert. Falls back to
// libsodium if OpenSSL cannot set up a context (out of memory). One per
// thread.
class Sha256Hasher {
 public:
  Sha256Hasher() : ctx_(EVP_MD_CTX_new()) {}

  // SHA-256(prefix || a || b) into out.
  void Hash3(unsigned char prefix, absl::string_view a, absl::string_view b, Hash& out) {
    const EVP_MD* md = Md();
    unsigned int len = 0;
    if (ctx_ != nullptr && md != nullptr && EVP_DigestInit_ex2(ctx_.get(), md, nullptr) == 1 &&
        EVP_DigestUpdate(ctx_.get(), &prefix, 1) == 1 &&
        EVP_DigestUpdate(ctx_.get(), a.data(), a.size()) == 1 &&
        EVP_DigestUpdate(ctx_.get(), b.data(), b.size()) == 1 &&
        EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) == 1 && len == out.size()) {
      return;
    }
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init(&state);
    crypto_hash_sha256_update(&state, &prefix, 1);
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(a.data()), a.size());
    crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(b.data()), b.size());
    crypto_hash_sha256_final(&state, out.data());
  }

 private:
  struct CtxDeleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  static const EVP_MD* Md() {
    // Fetched once; lives as long as the process (OpenSSL's default library
    // context), shared read-only by every thread.
    static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
  }
  std::unique_ptr<EVP_MD_CTX, CtxDeleter> ctx_;
};

// Per-thread buffers reused across alerts, so the hot loop allocates little.
struct Scratch {
  watchfloor::v1::Alert alert;
  std::string pae;
  std::vector<std::string> proof;
  Sha256Hasher sha;
  // Inner nodes of `verified_for`'s tree already proven to lead to its root,
  // keyed by (level << 58 | index at that level). Neighbouring alerts share
  // most of their proof paths, so with the cache an inclusion check costs a
  // few hashes instead of log2(size): at 100,000 alerts the uncached
  // hashing alone was ~20% of the Ed25519 verify time.
  const void* verified_for = nullptr;
  std::unordered_map<uint64_t, Hash> verified;
};

// The cache stops growing here (~5 MiB a thread); it is only a shortcut.
constexpr size_t kMaxVerifiedNodes = 1 << 17;

const unsigned char* Bytes(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// True iff `proof` proves `leaf` is leaf `index` of the tree (size, root)
// identified by `tree` (RFC 9162 2.1.3.2 split as in transparency-dev/merkle:
// `inner` hashes below the node where the path to index and the path to
// size - 1 part, then the right border). Stops early at an inner node the
// cache already proved. False for anything malformed or any mismatch; the
// caller then asks VerifyInclusion for the precise error.
bool IncludedCached(Scratch& s, const void* tree, uint64_t index, uint64_t size,
                    const Hash& leaf, const std::string& root,
                    const google::protobuf::RepeatedPtrField<std::string>& proof) {
  if (index >= size || root.size() != kMerkleHashSize) {
    return false;
  }
  const uint64_t diff = index ^ (size - 1);
  int inner = 0;
  while (inner < 64 && (diff >> inner) != 0) ++inner;
  const int border = __builtin_popcountll(inner >= 64 ? 0 : index >> inner);
  if (proof.size() != inner + border) return false;
  for (const std::string& p : proof) {
    if (p.size() != kMerkleHashSize) return false;
  }
  if (s.verified_for != tree) {
    s.verified.clear();
    s.verified_for = tree;
  }
  Hash node = leaf;
  Hash path[64];
  int level = 0;
  for (; level < inner; ++level) {
    const Hash in = node;
    if ((index >> level) & 1) {
      s.sha.Hash3(0x01, proof[level], View(in), node);
    } else {
      s.sha.Hash3(0x01, View(in), proof[level], node);
    }
    path[level] = node;
    const uint64_t key = static_cast<uint64_t>(level + 1) << 58 | index >> (level + 1);
    const auto known = s.verified.find(key);
    if (known != s.verified.end()) return known->second == node;
  }
  for (int i = inner; i < proof.size(); ++i) {
    const Hash in = node;
    s.sha.Hash3(0x01, proof[i], View(in), node);
  }
  if (!std::equal(node.begin(), node.end(), Bytes(root))) return false;
  if (s.verified.size() < kMaxVerifiedNodes) {
    for (int l = 0; l < inner; ++l) {
      s.verified.emplace(static_cast<uint64_t>(l + 1) << 58 | index >> (l + 1), path[l]);
    }
  }
  return true;
}

void CheckAlert(const BundledAlert& bundled,
                const std::map<std::string, OriginState, std::less<>>& states,
                const Roster& roster, Scratch& s, AlertCheck& out) {
  const Envelope& env = bundled.envelope();
  s.alert.Clear();
  if (!s.alert.ParseFromString(env.payload())) return;
  out.parsed = true;
  out.origin = s.alert.origin();
  out.sequence = s.alert.sequence();
  out.previous = s.alert.previous();
  s.sha.Hash3(0x00, env.payload(), "", out.leaf);

  const auto it = states.find(out.origin);
  if (it == states.end()) {
    out.signature_problem = absl::StrCat("origin ", out.origin, " is not in the roster");
    return;
  }
  const OriginState& state = it->second;
  const PublicKey* const for_sequence = state.node->KeyFor(out.sequence);
  if (for_sequence == nullptr) {
    out.signature_problem = absl::StrCat("no roster key of ", out.origin, " signs sequence ",
                                         out.sequence);
    return;
  }
  const PublicKey& key = *for_sequence;
  if (env.payload_type() != kAlertPayloadType) {
    out.signature_problem =
        absl::StrCat("payloadType is \"", env.payload_type(), "\", want \"",
                     kAlertPayloadType, "\"");
    return;
  }
  bool found = false, valid = false;
  const KeySpan* other_span = nullptr;  // a signature by another of its keys
  for (const watchfloor::v1::Signature& sig : env.signatures()) {
    const PublicKey* signer = sig.keyid() == key.KeyId() ? &key : nullptr;
    for (const PublicKey& k : state.node->unranged) {
      if (signer == nullptr && sig.keyid() == k.KeyId()) signer = &k;
    }
    if (signer == nullptr) {
      for (const KeySpan& k : state.node->spans) {
        if (sig.keyid() == k.key.KeyId()) other_span = &k;
      }
      continue;
    }
    if (!found) {
      // PAE(type, payload), built once into the reused buffer.
      s.pae.clear();
      absl::StrAppend(&s.pae, "DSSEv1 ", env.payload_type().size(), " ",
                      env.payload_type(), " ", env.payload().size(), " ");
      s.pae.append(env.payload());
    }
    found = true;
    if (signer->Verify(s.pae, sig.sig())) {
      valid = true;
      break;
    }
  }
  if (!found && other_span != nullptr) {
    out.signature_problem = absl::StrCat(
        "signed by keyid ", Short(other_span->key.KeyId()), ", the key of ", out.origin,
        " for sequences ", other_span->first, "..",
        other_span->last == std::numeric_limits<uint64_t>::max()
            ? std::string("")
            : absl::StrCat(other_span->last),
        "; sequence ", out.sequence, " must be signed by keyid ", Short(key.KeyId()));
    return;
  }
  if (!found) {
    std::vector<std::string> keyids;
    for (const auto& sig : env.signatures()) keyids.push_back(Short(sig.keyid()));
    out.signature_problem = absl::StrCat(
        "no signature by the roster key of ", out.origin, " (keyid ", Short(key.KeyId()),
        "); signed by keyid ", keyids.empty() ? "(none)" : absl::StrJoin(keyids, ", "));
    return;
  }
  if (!valid) {
    out.signature_problem = absl::StrCat("signature by the roster key of ", out.origin,
                                         " (keyid ", Short(key.KeyId()), ") does not verify");
    return;
  }
  // Every other signature is a co-signature: judged by the same pure rule
  // the nodes apply (certs/cosign.h), against the bundle roster.
  for (const watchfloor::v1::Signature& sig : env.signatures()) {
    bool origin_key = sig.keyid() == key.KeyId();
    for (const PublicKey& k : state.node->unranged) origin_key |= sig.keyid() == k.KeyId();
    for (const KeySpan& k : state.node->spans) origin_key |= sig.keyid() == k.key.KeyId();
    if (origin_key) continue;
    absl::StatusOr<Cosigner> who =
        VerifyCosignature(roster, env.payload_type(), env.payload(), out.origin, sig);
    if (who.ok()) {
      out.cosigners.push_back(*std::move(who));
    } else {
      out.cosignature_problems.push_back(std::string(who.status().message()));
    }
  }

  // Only a validly signed alert is placed in the log: an altered one already
  // failed above, and its (different) id proves nothing about the log.
  if (!state.has_checkpoint) {
    out.uncovered = true;  // reported once per origin
    return;
  }
  if (out.sequence == 0 || out.sequence > state.size) {
    out.inclusion_problem = absl::StrCat("sequence ", out.sequence,
                                         " is not covered by any checkpoint (largest size ",
                                         state.size, ")");
    return;
  }
  if (bundled.tree_size() != state.size) {
    out.inclusion_problem =
        absl::StrCat("inclusion proof is for tree size ", bundled.tree_size(),
                     ", but the largest checkpoint has tree size ", state.size);
    return;
  }
  if (IncludedCached(s, &state, out.sequence - 1, state.size, out.leaf, state.root,
                     bundled.inclusion_proof())) {
    return;
  }
  s.proof.assign(bundled.inclusion_proof().begin(), bundled.inclusion_proof().end());
  const absl::Status included =
      VerifyInclusion(out.sequence - 1, state.size, View(out.leaf), s.proof, state.root);
  if (!included.ok()) out.inclusion_problem = std::string(included.message());
}

// A checkpoint whose origin signature verified.
struct OpenedCheckpoint {
  int index;  // in bundle.checkpoints
  std::string origin;
  Checkpoint body;
  ParsedNote note;
};

std::string CheckpointLabel(int index, uint64_t size) {
  return absl::StrCat("checkpoint ", index, " (size ", size, ")");
}

class Auditor {
 public:
  Auditor(const AuditBundle& bundle, const AuditOptions& options, std::vector<Roster> chain)
      : bundle_(bundle), options_(options), chain_(std::move(chain)), roster_(chain_.back()) {}

  AuditReport Run();

 private:
  OriginAudit& Origin(const std::string& origin) {
    OriginAudit& oa = origins_[origin];
    if (oa.origin.empty()) {
      oa.origin = origin;
      const auto state = states_.find(origin);
      oa.in_roster = state != states_.end();
      if (oa.in_roster) oa.removed_in = state->second.node->removed_in;
      oa.quorum = quorum_;
    }
    return oa;
  }
  static void Add(OriginAudit& oa, absl::string_view token, std::string message) {
    oa.problems.push_back({std::string(token), oa.origin, std::move(message)});
  }

  void IndexRoster();
  void OpenClaims();
  void OpenCheckpoints();
  void CheckOrigin(OriginAudit& oa, const std::vector<const OpenedCheckpoint*>& cps);
  void CheckAlerts();
  void Aggregate();
  void CheckCompleteness(const std::map<std::string, std::vector<std::pair<uint64_t, size_t>>>&
                             seqs);
  void CheckClaims();
  void CheckSince();

  const AuditBundle& bundle_;
  const AuditOptions& options_;
  const std::vector<Roster> chain_;  // oldest first, verified
  const Roster& roster_;              // chain_.back(): signed the checkpoints
  AuditReport report_;
  std::optional<watchfloor::v1::ExportClaims> claims_;  // valid claims only
  std::string filter_;  // the signed filter when claims_ is set
  std::vector<NodeInfo> nodes_;
  std::map<std::string, const NodeInfo*, std::less<>> by_log_origin_;
  std::map<std::string, OriginState, std::less<>> states_;
  std::map<std::string, OriginAudit> origins_;
  std::vector<AlertCheck> checks_;
  int quorum_ = 0;
};

void Auditor::IndexRoster() {
  // Newest version first: a node is indexed from the newest version that
  // holds it, so a removed member's node keeps the keys it had before it
  // was removed, and its alerts and checkpoints from then verify.
  std::set<std::string> seen;
  for (size_t v = chain_.size(); v-- > 0;) {
    const Roster& roster = chain_[v];
    for (const auto& member : roster.proto().members()) {
      for (const auto& node : member.nodes()) {
        if (!seen.insert(node.origin()).second) continue;
        std::optional<PublicKey> key = roster.NodeKey(node.origin());
        if (!key) continue;  // not reached: a verified roster's keys parse
        NodeInfo info{node.origin(), member.name(), LogOrigin(node.origin()), *key,
                      /*removed_in=*/0, /*spans=*/{}, /*all_keys=*/{}};
        if (v + 1 < chain_.size()) info.removed_in = chain_[v + 1].version();
        info.spans.push_back(KeySpan{*key, KeyFromSequence(node)});
        for (const auto& p : node.previous_keys()) {
          absl::StatusOr<PublicKey> older = PublicKey::FromPem(p.signing_key_pem());
          if (older.ok()) {
            info.spans.push_back(KeySpan{*std::move(older), p.first_sequence(), p.last_sequence()});
          }
        }
        std::sort(info.spans.begin() + 1, info.spans.end(),
                  [](const KeySpan& a, const KeySpan& b) { return a.first > b.first; });
        auto add_key = [&info](const PublicKey& k) {
          for (const auto& [id, known] : info.all_keys) {
            if (known.KeyId() == k.KeyId()) return;
          }
          info.all_keys.emplace_back(NoteKeyId(info.log_origin, kNoteTypeCosignatureV1, k), k);
        };
        for (const KeySpan& span : info.spans) add_key(span.key);
        for (size_t older = v; older-- > 0;) {
          std::optional<PublicKey> k = chain_[older].NodeKey(node.origin());
          if (!k) continue;
          bool ranged = false;
          for (const KeySpan& span : info.spans) ranged = ranged || span.key.KeyId() == k->KeyId();
          if (!ranged) {
            bool known = false;
            for (const PublicKey& u : info.unranged) known = known || u.KeyId() == k->KeyId();
            if (!known) info.unranged.push_back(*k);
          }
          add_key(*k);
        }
        nodes_.push_back(std::move(info));
      }
    }
  }
  // nodes_ no longer grows: pointers into it stay valid.
  for (const NodeInfo& n : nodes_) {
    by_log_origin_[n.log_origin] = &n;
    states_[n.origin].node = &n;
  }
}

void Auditor::OpenCheckpoints() {
  std::vector<OpenedCheckpoint> opened;
  for (int i = 0; i < bundle_.checkpoints_size(); ++i) {
    const std::string& note = bundle_.checkpoints(i).note();
    absl::StatusOr<ParsedNote> parsed = ParseNote(note);
    absl::StatusOr<Checkpoint> body =
        parsed.ok() ? ParseCheckpoint(parsed->text) : absl::StatusOr<Checkpoint>(parsed.status());
    absl::StatusOr<std::string> origin =
        body.ok() ? FeedOriginFromLogOrigin(body->origin) : body.status();
    if (!origin.ok()) {
      report_.problems.push_back({std::string(kCheckpointInvalid), "",
                                  absl::StrCat("checkpoint ", i, ": ", origin.status().message())});
      continue;
    }
    OriginAudit& oa = Origin(*origin);
    ++oa.checkpoints;
    const auto state = states_.find(*origin);
    if (state == states_.end()) {
      ++oa.invalid_checkpoints;
      Add(oa, kCheckpointInvalid,
          absl::StrCat(CheckpointLabel(i, body->size), ": origin ", *origin,
                       " is not in the roster"));
      continue;
    }
    // Signed by the key of the checkpoint's last entry or by a later one:
    // never by a key the roster retired before that entry.
    const NodeInfo& node = *state->second.node;
    absl::StatusOr<Checkpoint> open = OpenCheckpoint(note, node.log_origin, node.key);
    for (size_t k = 1; !open.ok() && k < node.spans.size(); ++k) {
      if (node.spans[k].last < body->size) break;  // spans are newest first
      absl::StatusOr<Checkpoint> older = OpenCheckpoint(note, node.log_origin, node.spans[k].key);
      if (older.ok()) open = std::move(older);
    }
    if (!open.ok()) {
      ++oa.invalid_checkpoints;
      Add(oa, kCheckpointInvalid,
          absl::StrCat(CheckpointLabel(i, body->size), ": ", open.status().message()));
      continue;
    }
    opened.push_back(OpenedCheckpoint{i, *origin, *std::move(open), *std::move(parsed)});
  }
  std::map<std::string, std::vector<const OpenedCheckpoint*>> per_origin;
  for (const OpenedCheckpoint& cp : opened) per_origin[cp.origin].push_back(&cp);
  for (auto& [origin, cps] : per_origin) CheckOrigin(Origin(origin), cps);
}

// Consistency and witnesses of one origin's valid checkpoints (in bundle order).
void Auditor::CheckOrigin(OriginAudit& oa, const std::vector<const OpenedCheckpoint*>& cps) {
  const OpenedCheckpoint* largest = cps[0];
  for (const OpenedCheckpoint* cp : cps) {
    if (cp->body.size > largest->body.size) largest = cp;
  }
  const uint64_t size = largest->body.size;
  const std::string& root = largest->body.root_hash;
  oa.checkpoint_size = size;
  oa.checkpoint_root = root;
  OriginState& state = states_[oa.origin];
  state.has_checkpoint = true;
  state.size = size;
  state.root = root;

  for (const OpenedCheckpoint* cp : cps) {
    if (cp == largest) continue;
    const std::string label = CheckpointLabel(cp->index, cp->body.size);
    if (cp->body.size == size) {
      if (cp->body.root_hash != root) {
        oa.consistent = false;
        Add(oa, kSplitView,
            absl::StrCat(label, " and checkpoint ", largest->index,
                         " have the same tree size but different roots (",
                         Short(HexEncode(cp->body.root_hash)), " vs ", Short(HexEncode(root)),
                         "): the origin signed two histories"));
      }
      continue;
    }
    const auto& p = bundle_.checkpoints(cp->index).consistency_proof();
    const absl::Status st = VerifyConsistency(cp->body.size, size,
                                              std::vector<std::string>(p.begin(), p.end()),
                                              cp->body.root_hash, root);
    if (st.ok()) continue;
    oa.consistent = false;
    if (st.code() == absl::StatusCode::kDataLoss) {
      Add(oa, kSplitView,
          absl::StrCat(label, " is not consistent with checkpoint ", largest->index, " (size ",
                       size, "): ", st.message(), "; the origin signed two histories"));
    } else {
      Add(oa, kInconsistent,
          absl::StrCat(label, ": consistency proof to size ", size, " is malformed: ",
                       st.message()));
    }
  }

  // Cosignatures: each line checked alone, so one forged line neither hides
  // nor spoils a valid one. Lines under names or key ids that are not the
  // chain's are someone else's witnesses: ignored. A witness counts toward
  // the quorum while its member is in the newest roster, under any key its
  // node had in the chain.
  std::set<std::string> witnesses;
  const std::string& own_member = states_[oa.origin].node->member;
  for (const OpenedCheckpoint* cp : cps) {
    const bool counts = cp->body.size == size && cp->body.root_hash == root;
    for (const NoteSignature& sig : cp->note.signatures) {
      const auto w = by_log_origin_.find(sig.name);
      if (w == by_log_origin_.end()) continue;
      const PublicKey* witness_key = nullptr;
      for (const auto& [id, k] : w->second->all_keys) {
        if (id == sig.key_id) witness_key = &k;
      }
      if (witness_key == nullptr) continue;
      ParsedNote one{cp->note.text, {sig}};
      const absl::StatusOr<uint64_t> time = VerifyCosignature(one, sig.name, *witness_key);
      if (!time.ok()) {
        Add(oa, kForgedCosignature,
            absl::StrCat(CheckpointLabel(cp->index, cp->body.size), ": ",
                         time.status().message()));
        continue;
      }
      if (counts && w->second->member != own_member && w->second->removed_in == 0) {
        witnesses.insert(w->second->member);
      }
    }
  }
  oa.witnesses.assign(witnesses.begin(), witnesses.end());
  oa.quorum_met = static_cast<int>(oa.witnesses.size()) >= oa.quorum;
  if (!oa.quorum_met) {
    Add(oa, kQuorumNotMet,
        absl::StrCat("checkpoint ", largest->index, " (size ", size, ") has ",
                     oa.witnesses.size(), " witness member(s)",
                     oa.witnesses.empty() ? "" : absl::StrCat(" (", absl::StrJoin(oa.witnesses, ", "), ")"),
                     ", quorum is ", oa.quorum));
  }
}

void Auditor::CheckAlerts() {
  const size_t n = static_cast<size_t>(bundle_.alerts_size());
  checks_.resize(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    Scratch scratch;
    for (;;) {
      const size_t begin = next.fetch_add(kChunk);
      if (begin >= n) return;
      const size_t end = std::min(n, begin + kChunk);
      for (size_t i = begin; i < end; ++i) {
        CheckAlert(bundle_.alerts(static_cast<int>(i)), states_, roster_, scratch, checks_[i]);
      }
    }
  };
  const size_t wanted = static_cast<size_t>(std::max(1, options_.threads));
  const size_t threads = std::min(wanted, std::max<size_t>(1, (n + kChunk - 1) / kChunk));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

// True iff `hex` is the lowercase hex of `raw`.
bool IsHexOf(const std::string& hex, const Hash& raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  if (hex.size() != 2 * raw.size()) return false;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (hex[2 * i] != kDigits[raw[i] >> 4] || hex[2 * i + 1] != kDigits[raw[i] & 0xf]) {
      return false;
    }
  }
  return true;
}

std::string AlertLabel(const AlertCheck& c) {
  return absl::StrCat("alert #", c.sequence, " (id ", Short(HexEncode(View(c.leaf))), ")");
}

void Auditor::Aggregate() {
  // Per origin: (sequence, index into checks_) of every attributed alert.
  // Alerts of one origin usually come together: the last lookup is reused.
  std::map<std::string, std::vector<std::pair<uint64_t, size_t>>> seqs;
  std::map<std::string, uint64_t> last;
  const std::string* current = nullptr;
  OriginAudit* oa = nullptr;
  std::vector<std::pair<uint64_t, size_t>>* list = nullptr;
  uint64_t* last_seq = nullptr;
  bool first = true;
  std::map<std::string, uint64_t> uncovered;
  for (size_t i = 0; i < checks_.size(); ++i) {
    const AlertCheck& c = checks_[i];
    if (!c.parsed) {
      report_.problems.push_back(
          {std::string(kMalformedAlert), "",
           absl::StrCat("alert ", i, " of the bundle: payload is not a watchfloor.v1.Alert")});
      continue;
    }
    if (current == nullptr || *current != c.origin) {
      current = &c.origin;
      oa = &Origin(c.origin);
      list = &seqs[c.origin];
      auto [it, inserted] = last.emplace(c.origin, 0);
      last_seq = &it->second;
      first = inserted;
    }
    ++oa->alerts_checked;
    if (!first && c.sequence <= *last_seq) {
      ++oa->out_of_order;
      Add(*oa, kOutOfOrder,
          absl::StrCat(AlertLabel(c), " comes after #", *last_seq,
                       " in the bundle; an origin's alerts must be in strictly ascending sequence"));
    } else {
      *last_seq = c.sequence;
    }
    first = false;
    if (!c.signature_problem.empty()) {
      ++oa->signature_failures;
      Add(*oa, kSignatureFailure, absl::StrCat(AlertLabel(c), ": ", c.signature_problem));
    } else if (!c.inclusion_problem.empty()) {
      ++oa->inclusion_failures;
      Add(*oa, kInclusionFailure, absl::StrCat(AlertLabel(c), ": ", c.inclusion_problem));
    } else if (c.uncovered) {
      ++uncovered[c.origin];
    }
    if (c.signature_problem.empty()) {
      for (const std::string& why : c.cosignature_problems) {
        ++oa->forged_cosignatures;
        Add(*oa, kForgedAlertCosignature, absl::StrCat(AlertLabel(c), ": ", why));
      }
      if (!c.cosigners.empty()) {
        AlertCorroboration ac;
        ac.sequence = c.sequence;
        ac.id = HexEncode(View(c.leaf));
        for (const Cosigner& w : c.cosigners) {
          ac.members.push_back(w.member);
          ac.nodes.push_back(w.node);
        }
        for (auto* v : {&ac.members, &ac.nodes}) {
          std::sort(v->begin(), v->end());
          v->erase(std::unique(v->begin(), v->end()), v->end());
        }
        oa->corroborated.push_back(std::move(ac));
      }
    }
    list->emplace_back(c.sequence, i);
  }
  // One finding per origin, not one per alert: the cause is the checkpoint.
  for (const auto& [origin, n] : uncovered) {
    OriginAudit& o = Origin(origin);
    Add(o, kNoCheckpoint,
        absl::StrCat(n, " validly signed alert(s) of ", origin,
                     " cannot be placed in its log: the bundle has no valid checkpoint of ",
                     origin, o.checkpoints > 0 ? absl::StrCat(" (", o.checkpoints, " invalid)") : "",
                     "; nothing about its log is proven"));
  }

  for (auto& [origin, sorted] : seqs) {
    OriginAudit& o = Origin(origin);
    if (!std::is_sorted(sorted.begin(), sorted.end())) std::sort(sorted.begin(), sorted.end());
    for (size_t k = 0; k < sorted.size(); ++k) {
      const AlertCheck& c = checks_[sorted[k].second];
      if (!c.signature_problem.empty()) continue;  // unsigned data says nothing
      if (c.sequence == 1 && !c.previous.empty()) {
        ++o.chain_breaks;
        Add(o, kChainBreak, absl::StrCat("alert #1 has previous ", Short(c.previous),
                                         ", want none for the first alert"));
      }
      if (k == 0 || sorted[k - 1].first + 1 != c.sequence) continue;
      const AlertCheck& prev = checks_[sorted[k - 1].second];
      if (!prev.signature_problem.empty() || IsHexOf(c.previous, prev.leaf)) continue;
      ++o.chain_breaks;
      Add(o, kChainBreak,
          absl::StrCat("alert #", c.sequence, " has previous ", Short(c.previous),
                       ", but alert #", prev.sequence, " has id ",
                       Short(HexEncode(View(prev.leaf)))));
    }
  }

  CheckCompleteness(seqs);
}

void Auditor::CheckCompleteness(
    const std::map<std::string, std::vector<std::pair<uint64_t, size_t>>>& seqs) {
  static const std::vector<std::pair<uint64_t, size_t>> kNone;
  for (auto& entry : origins_) {
    // Not a structured binding: `gap` captures oa, which C++17 (and clang)
    // does not allow for a binding.
    const std::string& origin = entry.first;
    OriginAudit& oa = entry.second;
    if (oa.checkpoint_root.empty()) continue;
    oa.complete = filter_.empty() || options_.require_complete;
    const auto found = seqs.find(origin);
    const auto& present = found == seqs.end() ? kNone : found->second;
    std::vector<std::string> ranges;
    uint64_t expect = 1;
    auto gap = [&](uint64_t from, uint64_t to) {  // [from, to] not shown
      oa.not_shown += to - from + 1;
      if (ranges.size() < 10) {
        ranges.push_back(from == to ? absl::StrCat(from) : absl::StrCat(from, "-", to));
      }
    };
    for (const auto& [seq, index] : present) {
      if (seq > oa.checkpoint_size) break;
      if (seq > expect) gap(expect, seq - 1);
      expect = std::max(expect, seq + 1);
    }
    if (expect <= oa.checkpoint_size) gap(expect, oa.checkpoint_size);
    if (!oa.complete || oa.not_shown == 0) continue;
    oa.missing = oa.not_shown;
    Add(oa, kMissing,
        absl::StrCat(oa.missing, " of sequences 1..", oa.checkpoint_size,
                     " missing from a complete origin (",
                     filter_.empty() ? "the bundle has no filter"
                                     : "--require-complete, though the bundle is filtered",
                     "): sequence ", absl::StrJoin(ranges, ", "),
                     ranges.size() == 10 ? ", ..." : ""));
  }
}

void Auditor::OpenClaims() {
  filter_ = bundle_.filter();
  if (!bundle_.has_claims()) return;  // CheckClaims reports it
  absl::StatusOr<watchfloor::v1::ExportClaims> claims =
      audit_internal::OpenClaims(bundle_.claims(), roster_);
  if (!claims.ok()) {
    report_.problems.push_back(
        {std::string(kClaimsInvalid), "",
         absl::StrCat("export claims: ", claims.status().message(),
                      "; the claims are ignored, so the filter, cuts and counts are "
                      "unauthenticated")});
    return;
  }
  claims_ = *std::move(claims);
  filter_ = claims_->filter();
  report_.exporter = claims_->exporter();
  report_.claims_valid = true;
}

void Auditor::CheckClaims() {
  if (!bundle_.has_claims()) {
    report_.problems.push_back(
        {std::string(kClaimsUnsigned), "",
         "the bundle carries no signed export claims: its filter, complete origins, export "
         "time and where each log is cut are unauthenticated, so alerts may have been left "
         "out unseen (a bundle exported before claims were signed, or one they were "
         "stripped from); export it again"});
    return;
  }
  if (!claims_) return;
  const watchfloor::v1::ExportClaims& c = *claims_;
  auto mismatch = [this](std::string what) {
    report_.problems.push_back({std::string(kClaimsMismatch), "", std::move(what)});
  };
  if (c.filter() != bundle_.filter()) {
    mismatch(absl::StrCat("filter: the bundle says \"", bundle_.filter(),
                          "\", the signed claims \"", c.filter(), "\""));
  }
  if (c.exported_at_ms() != bundle_.exported_at_ms()) {
    mismatch(absl::StrCat("exported_at_ms: the bundle says ", bundle_.exported_at_ms(),
                          ", the signed claims ", c.exported_at_ms()));
  }
  if (c.roster_version() != roster_.version()) {
    mismatch(absl::StrCat("the bundle's roster is v", roster_.version(),
                          ", the signed claims name v", c.roster_version()));
  }
  const std::set<std::string> said(bundle_.complete_origins().begin(),
                                   bundle_.complete_origins().end());
  const std::set<std::string> signed_(c.complete_origins().begin(), c.complete_origins().end());
  if (said != signed_) {
    auto list = [](const std::set<std::string>& v) {
      return v.empty() ? std::string("(none)") : absl::StrJoin(v, ", ");
    };
    mismatch(absl::StrCat("complete_origins: the bundle says ", list(said),
                          ", the signed claims ", list(signed_)));
  }
  std::set<std::string> cut_origins;
  for (const watchfloor::v1::OriginCut& cut : c.origins()) {
    if (!cut_origins.insert(cut.origin()).second) continue;
    OriginAudit& oa = Origin(cut.origin());
    if (oa.checkpoint_root.empty()) {
      const bool said_once = std::any_of(oa.problems.begin(), oa.problems.end(),
                                         [](const AuditFinding& f) { return f.token == kNoCheckpoint; });
      if (said_once) continue;
      Add(oa, kNoCheckpoint,
          absl::StrCat("the signed claims cut ", cut.origin(), " at size ", cut.tree_size(),
                       ", but the bundle has no valid checkpoint of it"));
      continue;
    }
    if (oa.checkpoint_size != cut.tree_size() || oa.checkpoint_root != cut.root_hash()) {
      Add(oa, kClaimsMismatch,
          absl::StrCat("the signed claims cut the log at size ", cut.tree_size(), " (root ",
                       Short(HexEncode(cut.root_hash())),
                       "), but the bundle's largest valid checkpoint has size ",
                       oa.checkpoint_size, " (root ", Short(HexEncode(oa.checkpoint_root)), ")"));
    } else if (!oa.complete && oa.alerts_checked != cut.alerts()) {
      // A complete origin's gaps are `missing` already.
      Add(oa, kClaimsMismatch,
          absl::StrCat("the signed claims count ", cut.alerts(), " alert(s) of ", cut.origin(),
                       " in the bundle, but it holds ", oa.alerts_checked));
    }
  }
  for (auto& [origin, oa] : origins_) {
    if (oa.checkpoint_root.empty() || cut_origins.count(origin) != 0) continue;
    Add(oa, kClaimsMismatch,
        absl::StrCat("the bundle has a checkpoint of ", origin, " (size ", oa.checkpoint_size,
                     ") that the signed claims do not list"));
  }
}

void Auditor::CheckSince() {
  if (options_.since == nullptr) return;
  report_.since = true;
  // The older bundle's largest checkpoint per origin, under any key the
  // origin had in the chain (it may predate a rotation).
  std::map<std::string, Checkpoint> old;
  for (const watchfloor::v1::BundledCheckpoint& cp : options_.since->checkpoints()) {
    absl::StatusOr<Checkpoint> body = [&]() -> absl::StatusOr<Checkpoint> {
      WF_ASSIGN_OR_RETURN(ParsedNote parsed, ParseNote(cp.note()));
      return ParseCheckpoint(parsed.text);
    }();
    if (!body.ok()) continue;
    absl::StatusOr<std::string> origin = FeedOriginFromLogOrigin(body->origin);
    if (!origin.ok()) continue;
    const auto state = states_.find(*origin);
    if (state == states_.end()) continue;
    const NodeInfo& node = *state->second.node;
    for (const auto& [id, key] : node.all_keys) {
      absl::StatusOr<Checkpoint> open = OpenCheckpoint(cp.note(), node.log_origin, key);
      if (!open.ok()) continue;
      auto [it, inserted] = old.emplace(*origin, *open);
      if (!inserted && open->size > it->second.size) it->second = *open;
      break;
    }
  }
  std::map<std::tuple<std::string, uint64_t, uint64_t>, const watchfloor::v1::SinceProof*> proofs;
  for (const watchfloor::v1::SinceProof& p : bundle_.since_proofs()) {
    proofs.emplace(std::make_tuple(p.origin(), p.from_size(), p.to_size()), &p);
  }
  for (const auto& [origin, cp] : old) {
    OriginAudit& oa = Origin(origin);
    oa.since_size = cp.size;
    const std::string then = absl::StrCat("the --since bundle's checkpoint (size ", cp.size, ")");
    auto fail = [&oa](absl::string_view token, std::string message) {
      oa.consistent = false;
      Add(oa, token, std::move(message));
    };
    if (oa.checkpoint_root.empty()) {
      fail(kInconsistent, absl::StrCat("this bundle has no valid checkpoint to check ", then,
                                       " against: consistency is unproven"));
      continue;
    }
    const uint64_t size = oa.checkpoint_size;
    if (cp.size > size) {
      fail(kInconsistent,
           absl::StrCat("this bundle is cut at size ", size, ", before ", then,
                        ": consistency is unproven; export again once the node has caught up"));
      continue;
    }
    if (cp.size == size) {
      if (cp.root_hash == oa.checkpoint_root) {
        oa.since_consistent = true;
      } else {
        fail(kSplitView, absl::StrCat(then, " has the same size as this bundle's but a "
                                      "different root: the origin signed two histories"));
      }
      continue;
    }
    const auto p = proofs.find(std::make_tuple(origin, cp.size, size));
    if (p == proofs.end()) {
      fail(kInconsistent,
           absl::StrCat("no consistency proof from ", then, " to this bundle's size ", size,
                        ": consistency is unproven; export with --since-checkpoint and the "
                        "older bundle"));
      continue;
    }
    const auto& hashes = p->second->proof();
    const absl::Status st =
        VerifyConsistency(cp.size, size, std::vector<std::string>(hashes.begin(), hashes.end()),
                          cp.root_hash, oa.checkpoint_root);
    if (st.ok()) {
      oa.since_consistent = true;
    } else if (st.code() == absl::StatusCode::kDataLoss) {
      fail(kSplitView, absl::StrCat(then, " is not a prefix of this bundle's (size ", size,
                                    "): ", st.message(), "; the origin showed two histories"));
    } else {
      fail(kInconsistent, absl::StrCat("consistency proof from ", then, " to size ", size,
                                       " is malformed: ", st.message()));
    }
  }
}

AuditReport Auditor::Run() {
  report_.federation = roster_.federation();
  report_.roster_version = roster_.version();
  report_.roster_fingerprint = HexEncode(Sha256(roster_.envelope().payload()));
  report_.anchored = options_.anchor != nullptr;
  for (const Roster& r : chain_) report_.chain_versions.push_back(r.version());
  report_.trust_fingerprint = HexEncode(Sha256(
      (options_.anchor != nullptr ? *options_.anchor : chain_.front()).envelope().payload()));
  report_.require_complete = options_.require_complete;
  report_.exported_at_ms = bundle_.exported_at_ms();
  report_.alerts = static_cast<uint64_t>(bundle_.alerts_size());
  IndexRoster();

  const int others = roster_.proto().members_size() - 1;
  quorum_ = options_.quorum >= 0 ? options_.quorum : (others <= 0 ? 0 : others / 2 + 1);
  OpenClaims();
  report_.filter = filter_;
  OpenCheckpoints();
  CheckAlerts();
  Aggregate();
  CheckClaims();
  CheckSince();
  for (auto& [origin, oa] : origins_) report_.origins.push_back(std::move(oa));
  return std::move(report_);
}

}  // namespace

absl::StatusOr<AuditReport> Audit(const AuditBundle& bundle, const AuditOptions& options) {
  if (bundle.format() != kBundleFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle format is \"", bundle.format(), "\", want \"", kBundleFormat,
                     "\"", bundle.format().empty() ? " (is this an audit bundle?)" : ""));
  }
  // Fields a newer exporter added would otherwise go unaudited.
  if (absl::Status st = CheckNoUnknownFields(bundle, "bundle"); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        st.message(), "; this auditor does not know that field: upgrade watchfloor"));
  }
  if (options.since != nullptr && options.since->format() != kBundleFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("--since bundle format is \"", options.since->format(), "\", want \"",
                     kBundleFormat, "\""));
  }
  WF_ASSIGN_OR_RETURN(std::vector<Roster> chain,
                      audit_internal::TrustChain(bundle, options.anchor));
  Auditor auditor(bundle, options, std::move(chain));
  return auditor.Run();
}

// ------------------------------------------------------------------ report

namespace {

// A JSON string literal: quotes, backslash and control characters escaped;
// other bytes as they are (messages quote UTF-8 input at most).
std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += "\"";
  return out;
}

std::string JsonFindings(const std::vector<AuditFinding>& findings) {
  std::vector<std::string> items;
  for (const AuditFinding& f : findings) {
    items.push_back(absl::StrCat("{\"token\":", JsonString(f.token), ",\"origin\":",
                                 JsonString(f.origin), ",\"message\":", JsonString(f.message),
                                 "}"));
  }
  return absl::StrCat("[", absl::StrJoin(items, ","), "]");
}

const char* Bool(bool b) { return b ? "true" : "false"; }

std::string JsonStrings(const std::vector<std::string>& v) {
  std::vector<std::string> items;
  for (const std::string& s : v) items.push_back(JsonString(s));
  return absl::StrCat("[", absl::StrJoin(items, ","), "]");
}

}  // namespace

bool AuditReport::ok() const {
  if (!problems.empty()) return false;
  for (const OriginAudit& o : origins) {
    if (!o.ok()) return false;
  }
  return true;
}

std::set<std::string> AuditReport::Tokens() const {
  std::set<std::string> out;
  for (const AuditFinding& f : Findings()) out.insert(f.token);
  return out;
}

std::vector<AuditFinding> AuditReport::Findings() const {
  std::vector<AuditFinding> out = problems;
  for (const OriginAudit& o : origins) out.insert(out.end(), o.problems.begin(), o.problems.end());
  return out;
}

std::vector<std::string> AuditReport::Proven() const {
  std::vector<std::string> out;
  std::vector<std::string> good, complete, since_ok;
  for (const OriginAudit& o : origins) {
    if (!o.ok() || o.checkpoint_root.empty()) continue;
    good.push_back(o.origin);
    if (o.complete) complete.push_back(o.origin);
    if (o.since_consistent) since_ok.push_back(o.origin);
  }
  if (!good.empty()) {
    out.push_back(absl::StrCat(
        absl::StrJoin(good, ", "),
        ": every alert shown is signed by its origin and sits in its log at the checkpoint "
        "shown, which the witnesses cosigned"));
  }
  if (!complete.empty()) {
    out.push_back(absl::StrCat(absl::StrJoin(complete, ", "),
                               ": no entry up to the checkpoint is left out"));
  }
  if (!since_ok.empty()) {
    out.push_back(absl::StrCat(absl::StrJoin(since_ok, ", "),
                               ": the log only grew since the --since bundle"));
  }
  if (claims_valid) {
    out.push_back(absl::StrCat("the filter, cuts and counts are as ", exporter, " signed them"));
  }
  return out;
}

std::vector<std::string> AuditReport::NotProven() const {
  std::vector<std::string> out;
  for (const OriginAudit& o : origins) {
    if (!o.ok()) {
      out.push_back(absl::StrCat(o.origin, ": anything, beyond the findings listed (FAILED)"));
    } else if (!o.complete && o.not_shown > 0) {
      out.push_back(absl::StrCat(o.origin, ": ", o.not_shown, " of its ", o.checkpoint_size,
                                 " entries are not in the bundle; that the filter excludes "
                                 "them is not proven (--require-complete fails on them)"));
    }
  }
  if (!claims_valid) {
    out.push_back("the filter, complete origins, cuts and counts: no valid signed claims");
  }
  if (!anchored) {
    out.push_back(absl::StrCat("that roster v", chain_versions.empty() ? roster_version
                                                                        : chain_versions.front(),
                               " is your federation's: compare its fingerprint ",
                               trust_fingerprint, " out of band, or pass --roster"));
  }
  out.push_back("alerts after each origin's checkpoint (the next export has them)");
  return out;
}

std::string AuditReport::Summary() const {
  std::string out = absl::StrCat(
      "roster ", federation, " v", roster_version, ", fingerprint ", roster_fingerprint, " (",
      anchored ? "anchored by --roster" : "self-signed: compare the fingerprint out of band",
      ")\n");
  if (chain_versions.size() > 1) {
    std::vector<std::string> vs;
    for (uint64_t v : chain_versions) vs.push_back(absl::StrCat("v", v));
    absl::StrAppend(&out, "roster chain ", absl::StrJoin(vs, " -> "), ", trust rests on ",
                    anchored ? "--roster" : vs.front(), " (fingerprint ", trust_fingerprint,
                    ")\n");
  }
  absl::StrAppend(&out, "bundle: ", alerts, " alerts, filter ",
                  filter.empty() ? "(none)" : absl::StrCat("\"", filter, "\""),
                  claims_valid ? absl::StrCat(", claims signed by ", exporter)
                               : ", claims NOT signed",
                  "\n");
  for (const AuditFinding& f : problems) {
    absl::StrAppend(&out, "  ", f.token, ": ", f.message, "\n");
  }
  for (const OriginAudit& o : origins) {
    absl::StrAppend(&out, "\norigin ", o.origin, ": ", o.ok() ? "OK" : "FAILED",
                    !o.in_roster     ? " (not in the roster)"
                    : o.removed_in   ? absl::StrCat(" (removed in roster v", o.removed_in,
                                                    "; checked with the keys it had before)")
                                     : "",
                    "\n");
    absl::StrAppend(&out, "  alerts checked      ", o.alerts_checked, "\n");
    absl::StrAppend(&out, "  signature failures  ", o.signature_failures, "\n");
    absl::StrAppend(&out, "  chain breaks        ", o.chain_breaks, "\n");
    absl::StrAppend(&out, "  inclusion failures  ", o.inclusion_failures, "\n");
    absl::StrAppend(&out, "  out of order        ", o.out_of_order, "\n");
    if (o.checkpoint_root.empty()) {
      absl::StrAppend(&out, "  missing             - (no checkpoint: nothing is proven)\n");
    } else if (o.complete) {
      absl::StrAppend(&out, "  missing             ", o.missing, " of ", o.checkpoint_size,
                      " (complete", filter.empty() ? ": no filter" : ": --require-complete",
                      ")\n");
    } else {
      absl::StrAppend(&out, "  missing             - (filtered: ", o.not_shown, " of ",
                      o.checkpoint_size, " not shown, not proven to be filtered out)\n");
    }
    if (o.checkpoint_root.empty()) {
      absl::StrAppend(&out, "  checkpoint          none valid (", o.checkpoints, " in bundle)\n");
    } else {
      absl::StrAppend(&out, "  checkpoint          size ", o.checkpoint_size, ", root ",
                      Short(HexEncode(o.checkpoint_root)), "; ", o.checkpoints, " in bundle, ",
                      o.invalid_checkpoints, " invalid; ",
                      o.consistent ? "consistent" : "INCONSISTENT", "\n");
    }
    if (since) {
      absl::StrAppend(&out, "  since               ",
                      o.since_size == 0
                          ? std::string("- (not in the --since bundle)")
                          : absl::StrCat("size ", o.since_size, ": ",
                                         o.since_consistent ? "consistent" : "NOT proven"),
                      "\n");
    }
    absl::StrAppend(&out, "  witnesses           ", o.witnesses.size(), " of quorum ", o.quorum,
                    o.quorum_met ? ": met" : ": NOT met",
                    o.witnesses.empty() ? "" : absl::StrCat(" (", absl::StrJoin(o.witnesses, ", "), ")"),
                    "\n");
    absl::StrAppend(&out, "  corroborated        ", o.corroborated.size(), " alert(s)",
                    o.forged_cosignatures == 0
                        ? std::string()
                        : absl::StrCat(", ", o.forged_cosignatures, " forged co-signature(s)"),
                    "\n");
    for (const AlertCorroboration& ac : o.corroborated) {
      absl::StrAppend(&out, "    alert #", ac.sequence, " (id ", Short(ac.id), ") by ",
                      ac.members.size(), " member(s): ", absl::StrJoin(ac.nodes, ", "), "\n");
    }
    for (const AuditFinding& f : o.problems) {
      absl::StrAppend(&out, "  ", f.token, ": ", f.message, "\n");
    }
  }
  absl::StrAppend(&out, "\nproven:\n");
  const std::vector<std::string> proven = Proven();
  if (proven.empty()) absl::StrAppend(&out, "  nothing\n");
  for (const std::string& line : proven) absl::StrAppend(&out, "  ", line, "\n");
  absl::StrAppend(&out, "not proven:\n");
  for (const std::string& line : NotProven()) absl::StrAppend(&out, "  ", line, "\n");
  const size_t findings = Findings().size();
  absl::StrAppend(&out, "\n", ok() ? "audit OK" : "audit FAILED", ": ", alerts, " alerts, ",
                  origins.size(), " origins, ", findings, " problems\n");
  return out;
}

std::string AuditReport::Json() const {
  std::vector<std::string> items;
  for (const OriginAudit& o : origins) {
    std::vector<std::string> witness_items;
    for (const std::string& w : o.witnesses) witness_items.push_back(JsonString(w));
    std::vector<std::string> corroborated;
    for (const AlertCorroboration& ac : o.corroborated) {
      corroborated.push_back(absl::StrCat("{\"sequence\":", ac.sequence, ",\"id\":",
                                          JsonString(ac.id), ",\"members\":",
                                          JsonStrings(ac.members), ",\"nodes\":",
                                          JsonStrings(ac.nodes), "}"));
    }
    items.push_back(absl::StrCat(
        "{\"origin\":", JsonString(o.origin), ",\"ok\":", Bool(o.ok()),
        ",\"in_roster\":", Bool(o.in_roster), ",\"removed_in\":", o.removed_in, ",\"complete\":", Bool(o.complete),
        ",\"alerts_checked\":", o.alerts_checked, ",\"signature_failures\":", o.signature_failures,
        ",\"chain_breaks\":", o.chain_breaks, ",\"inclusion_failures\":", o.inclusion_failures,
        ",\"out_of_order\":", o.out_of_order, ",\"missing\":", o.missing,
        ",\"not_shown\":", o.not_shown, ",\"since_size\":", o.since_size,
        ",\"since_consistent\":", Bool(o.since_consistent),
        ",\"checkpoints\":", o.checkpoints, ",\"invalid_checkpoints\":", o.invalid_checkpoints,
        ",\"checkpoint_valid\":", Bool(o.checkpoint_valid()),
        ",\"checkpoint_size\":", o.checkpoint_size,
        ",\"checkpoint_root\":", JsonString(HexEncode(o.checkpoint_root)),
        ",\"consistent\":", Bool(o.consistent), ",\"witnesses\":[",
        absl::StrJoin(witness_items, ","), "],\"quorum\":", o.quorum,
        ",\"quorum_met\":", Bool(o.quorum_met), ",\"corroborated\":[",
        absl::StrJoin(corroborated, ","), "],\"forged_cosignatures\":", o.forged_cosignatures,
        ",\"problems\":", JsonFindings(o.problems), "}"));
  }
  return absl::StrCat(
      "{\"ok\":", Bool(ok()), ",\"federation\":", JsonString(federation),
      ",\"roster_version\":", roster_version,
      ",\"roster_fingerprint\":", JsonString(roster_fingerprint),
      ",\"anchored\":", Bool(anchored), ",\"chain_versions\":[",
      absl::StrJoin(chain_versions, ","), "],\"trust_fingerprint\":",
      JsonString(trust_fingerprint), ",\"exporter\":", JsonString(exporter),
      ",\"claims_valid\":", Bool(claims_valid), ",\"require_complete\":",
      Bool(require_complete), ",\"since\":", Bool(since), ",\"filter\":", JsonString(filter),
      ",\"exported_at_ms\":", exported_at_ms, ",\"alerts\":", alerts,
      ",\"problems\":", JsonFindings(problems), ",\"origins\":[", absl::StrJoin(items, ","),
      "],\"proven\":", JsonStrings(Proven()), ",\"not_proven\":", JsonStrings(NotProven()),
      "}\n");
}

}  // namespace watchfloor::certs
