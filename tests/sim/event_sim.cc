#include "tests/sim/event_sim.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "federation/federation_handler.h"
#include "google/protobuf/unknown_field_set.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::testing {

namespace v1 = ::watchfloor::v1;
using federation::PeerChannel;
using Rpc = federation::PeerChannel::Rpc;

namespace {

// How often each engine's Tick runs: the timer thread's period.
constexpr absl::Duration kTick = absl::Milliseconds(10);

class SimCall : public PeerChannel::Call {
 public:
  void Cancel() override { cancelled = true; }
  bool cancelled = false;
};

uint64_t Fnv(uint64_t h, absl::string_view bytes) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Full envelopes a message carries.
int EnvelopesIn(Rpc rpc, const google::protobuf::Message& m, bool request) {
  if (request && rpc == Rpc::kPush) return static_cast<const v1::PushRequest&>(m).envelopes_size();
  if (!request && rpc == Rpc::kFetch) {
    return static_cast<const v1::FetchResponse&>(m).envelopes_size();
  }
  if (!request && rpc == Rpc::kPullRange) {
    return static_cast<const v1::PullRangeResponse&>(m).envelopes_size();
  }
  return 0;
}

// How many of the envelopes a message carries `store` already holds.
template <typename M>
int HeldIn(const M& m, MemoryFeedStore& store) {
  int held = 0;
  for (const v1::Envelope& env : m.envelopes()) {
    if (store.Has(certs::AlertId(env.payload()))) ++held;
  }
  return held;
}

}  // namespace

struct EventSim::Node {
  std::string origin;
  std::optional<certs::SigningKey> key;
  uint64_t sequence = 0;
  std::string previous;
  uint64_t incarnation = 0;
  bool up = false;
  std::unique_ptr<MemoryFeedStore> store;
  std::unique_ptr<federation::Gossip> gossip;
  bool misbehaving = false;
  Misbehaviour misbehaviour = Misbehaviour::kWithhold;  // if misbehaving
  // Whether it misbehaves in this kind.
  bool Is(Misbehaviour kind) const { return misbehaving && misbehaviour == kind; }
  // Alert id -> the peer whose copy this node is storing.
  std::map<std::string, int> delivered_by;
};

struct EventSim::PendingCall {
  int from = 0;
  int to = 0;
  Rpc rpc = Rpc::kPush;
  absl::Time deadline;
  SimCall* call = nullptr;
  google::protobuf::Message* response = nullptr;
  std::function<void(absl::Status)> done;
};

// The channel from one node to one peer: every call goes to the simulator.
class EventSim::Channel : public PeerChannel {
 public:
  Channel(EventSim* sim, int from, int to) : sim_(sim), from_(from), to_(to) {}

  std::unique_ptr<Call> NewCall(absl::Duration /*timeout*/) override {
    return std::make_unique<SimCall>();
  }
  void Start(Call* call, Rpc rpc, const google::protobuf::Message& request,
             google::protobuf::Message* response,
             std::function<void(absl::Status)> done) override {
    sim_->StartCall(from_, to_, call, rpc, request, response, std::move(done));
  }

  // Only Start: the simulated network has no blocking calls.
  absl::Status Push(Call*, const v1::PushRequest&, v1::PushResponse*) override {
    return Blocking();
  }
  absl::Status IHave(Call*, const v1::IHaveRequest&, v1::IHaveResponse*) override {
    return Blocking();
  }
  absl::Status Fetch(Call*, const v1::FetchRequest&, v1::FetchResponse*) override {
    return Blocking();
  }
  absl::Status ExchangeFrontier(Call*, const v1::FrontierMessage&,
                                v1::FrontierMessage*) override {
    return Blocking();
  }
  absl::Status PullRange(Call*, const v1::PullRangeRequest&, v1::PullRangeResponse*) override {
    return Blocking();
  }
  absl::Status PushEvidence(Call*, const v1::EvidenceMessage&,
                            v1::PushEvidenceResponse*) override {
    return Blocking();
  }
  absl::Status PushCheckpoints(Call*, const v1::PushCheckpointsRequest&,
                               v1::PushCheckpointsResponse*) override {
    return Blocking();
  }
  absl::Status PushCosignatures(Call*, const v1::PushCosignaturesRequest&,
                                v1::PushCosignaturesResponse*) override {
    return Blocking();
  }
  absl::Status PullCosignatures(Call*, const v1::PullCosignaturesRequest&,
                                v1::PullCosignaturesResponse*) override {
    return Blocking();
  }
  absl::Status GetRosterChain(Call*, const v1::GetRosterChainRequest&,
                              v1::GetRosterChainResponse*) override {
    return Blocking();
  }

 private:
  static absl::Status Blocking() {
    return absl::UnimplementedError(
        "the simulated network has no blocking calls: use PeerChannel::Start");
  }

  EventSim* const sim_;
  const int from_;
  const int to_;
};

class EventSim::Transport : public federation::Transport {
 public:
  Transport(EventSim* sim, int self) : sim_(sim), self_(self) {}
  std::unique_ptr<PeerChannel> Connect(const federation::Peer& peer) override {
    return std::make_unique<Channel>(sim_, self_, sim_->index_.at(peer.origin));
  }

 private:
  EventSim* const sim_;
  const int self_;
};

EventSim::EventSim(Options options)
    : options_(std::move(options)),
      clock_(absl::FromUnixSeconds(1798761600)),
      now_(absl::FromUnixSeconds(1798761600)),
      rng_(options_.seed) {
  for (int i = 0; i < options_.nodes; ++i) {
    auto node = std::make_unique<Node>();
    node->origin = absl::StrCat("m", i / 4 + 1, ".sim/n", i % 4 + 1);
    std::string seed = absl::StrCat("event-sim-", options_.seed, "-", i);
    seed.resize(certs::kEd25519SeedSize, '.');
    node->key = *certs::SigningKey::FromSeed(seed);
    keys_.emplace(node->origin, node->key->public_key());
    index_[node->origin] = i;
    nodes_.push_back(std::move(node));
  }
  BuildGraph();
  for (int i = 0; i < nodes(); ++i) StartNode(i);
}

EventSim::~EventSim() {
  for (int i = 0; i < nodes(); ++i) StopNode(i);
  while (!queue_.empty()) queue_.pop();
}

const std::string& EventSim::origin(int node) const { return nodes_[node]->origin; }

absl::Duration EventSim::MeanLatency() const {
  if (latency_.empty()) return absl::ZeroDuration();
  absl::Duration sum;
  for (const auto& [link, d] : latency_) sum += d;
  return sum / static_cast<int64_t>(latency_.size());
}

void EventSim::BuildGraph() {
  const int n = options_.nodes;
  std::vector<std::set<int>> adj(n);
  auto link = [&](int a, int b) {
    adj[a].insert(b);
    adj[b].insert(a);
  };
  if (options_.degree <= 0 || options_.degree >= n - 1) {
    for (int a = 0; a < n; ++a) {
      for (int b = a + 1; b < n; ++b) link(a, b);
    }
  } else {
    for (int a = 0; a < n && n > 1; ++a) link(a, (a + 1) % n);
    const int want = options_.degree;
    for (int a = 0; a < n; ++a) {
      for (int tries = 0; static_cast<int>(adj[a].size()) < want && tries < 100 * n; ++tries) {
        const int b = static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng_));
        if (b == a || adj[a].count(b) != 0 || static_cast<int>(adj[b].size()) >= want + 2) {
          continue;
        }
        link(a, b);
      }
    }
  }
  graph_.assign(n, {});
  const int64_t lo = absl::ToInt64Microseconds(options_.min_latency);
  const int64_t hi = std::max(lo, absl::ToInt64Microseconds(options_.max_latency));
  for (int a = 0; a < n; ++a) {
    graph_[a].assign(adj[a].begin(), adj[a].end());
    for (int b : graph_[a]) {
      latency_[{a, b}] =
          absl::Microseconds(std::uniform_int_distribution<int64_t>(lo, hi)(rng_));
    }
  }
}

void EventSim::Schedule(absl::Time at, std::function<void()> run) {
  queue_.push(Event{std::max(at, now()), next_seq_++, std::move(run)});
}

bool EventSim::Step(absl::Time until) {
  if (queue_.empty() || queue_.top().at > until) return false;
  Event e = std::move(const_cast<Event&>(queue_.top()));
  queue_.pop();
  if (e.at > now_) {
    clock_.Advance(e.at - now_);
    now_ = e.at;
  }
  ++events_run_;
  e.run();
  return true;
}

void EventSim::RunFor(absl::Duration d) {
  const absl::Time until = now() + d;
  while (Step(until)) {
  }
  if (until > now_) {
    clock_.Advance(until - now_);
    now_ = until;
  }
}

bool EventSim::Delivered() const {
  for (const auto& node : nodes_) {
    if (node->up && !node->misbehaving && node->store->size() != alerts_.size()) return false;
  }
  return true;
}

bool EventSim::RunUntilDelivered(absl::Duration limit) {
  const absl::Time until = now() + limit;
  while (!Delivered()) {
    if (!Step(until)) break;
  }
  return Delivered();
}

void EventSim::StartNode(int i) {
  Node& node = *nodes_[i];
  ++node.incarnation;
  node.up = true;
  node.delivered_by.clear();
  MemoryFeedStore::Options so;
  so.keys = &keys_;
  so.verify = options_.verify;
  so.max_pending = options_.max_pending;
  so.defer = [this, i](std::function<void()> commit) {
    Schedule(now() + options_.commit_delay, [this, i, commit = std::move(commit)] {
      commit();
      if (nodes_[i]->up && !nodes_[i]->misbehaving) nodes_[i]->gossip->Pump(now());
    });
  };
  so.on_offer = [this, i](const std::string& id) {
    if (delivering_from_ >= 0) nodes_[i]->delivered_by.emplace(id, delivering_from_);
  };
  so.on_commit = [this, i](const std::string& id, const std::string& /*origin*/,
                           uint64_t /*sequence*/) {
    trace_hash_ = Fnv(trace_hash_, absl::StrCat(absl::ToUnixNanos(now()), "/", i, "/", id));
    Node& n = *nodes_[i];
    int from = -1;
    if (auto d = n.delivered_by.find(id); d != n.delivered_by.end()) {
      from = d->second;
      n.delivered_by.erase(d);
    }
    auto a = alert_index_.find(id);
    if (a == alert_index_.end()) return;
    AlertTrace& t = alerts_[a->second];
    if (t.stored_at[i] != absl::InfiniteFuture()) return;
    t.stored_at[i] = now();
    if (i == t.origin) {
      t.hops[i] = 0;
    } else if (from >= 0 && t.hops[from] >= 0) {
      t.hops[i] = t.hops[from] + 1;
    }
  };
  node.store = std::make_unique<MemoryFeedStore>(std::move(so));
  std::vector<federation::Peer> peers;
  for (int p : graph_[i]) peers.push_back({nodes_[p]->origin, nodes_[p]->origin, ""});
  federation::Gossip::Options o = options_.gossip;
  o.clock = &clock_;
  o.seed = options_.seed * 1000003 + static_cast<uint64_t>(i) * 7919 + node.incarnation;
  o.external_timer = true;
  o.external_pump = true;
  node.gossip = std::make_unique<federation::Gossip>(
      node.origin, node.store.get(), std::move(peers), std::make_unique<Transport>(this, i), o);
  node.gossip->Start();
  // Spread the nodes' ticks over the period, as unsynchronized timers are.
  const uint64_t incarnation = node.incarnation;
  Schedule(now() + kTick * i / std::max(1, nodes()),
           [this, i, incarnation] { TickNode(i, incarnation); });
}

void EventSim::StopNode(int i) {
  Node& node = *nodes_[i];
  if (!node.up) return;
  node.up = false;
  // Its calls in progress end now, as a stopping channel ends them; their
  // flows then find the node down and end too (StartCall).
  std::vector<uint64_t> mine;
  for (const auto& [id, call] : calls_) {
    if (call->from == i) mine.push_back(id);
  }
  for (uint64_t id : mine) Finish(id, absl::CancelledError("node stopped"), "");
  // The store's pending commits go unrun (their callbacks hold the engine);
  // then the engine may stop and go.
  node.store->DropPending();
  node.gossip->Stop();
  node.gossip.reset();
  node.store.reset();
}

void EventSim::Restart(int i) {
  StopNode(i);
  for (AlertTrace& t : alerts_) {
    t.stored_at[i] = absl::InfiniteFuture();
    t.hops[i] = -1;
  }
  Node& node = *nodes_[i];
  // Its own feed is gone with its store: it publishes on from where the
  // federation holds it, and pulls the rest back by anti-entropy.
  (void)node;
  StartNode(i);
}

void EventSim::TickNode(int i, uint64_t incarnation) {
  Node& node = *nodes_[i];
  if (!node.up || node.incarnation != incarnation) return;
  if (node.misbehaving) return;  // and no further ticks
  node.gossip->Tick(now());
  node.gossip->Pump(now());
  Schedule(now() + kTick, [this, i, incarnation] { TickNode(i, incarnation); });
}

int EventSim::Publish(int i) {
  Node& node = *nodes_[i];
  v1::Alert alert;
  alert.set_origin(node.origin);
  alert.set_sequence(++node.sequence);
  alert.set_previous(node.previous);
  alert.set_title(absl::StrCat("simulated alert ", node.sequence, " of ", node.origin));
  alert.set_description(std::string(options_.alert_text, 'x'));
  alert.add_domains(absl::StrCat("n", i, ".example"));
  const std::string payload = alert.SerializeAsString();
  v1::Envelope env = certs::SignEnvelope(payload, certs::kAlertPayloadType, *node.key);
  const std::string id = certs::AlertId(payload);
  node.previous = id;
  AlertTrace t;
  t.id = id;
  t.origin = i;
  t.published = now();
  t.stored_at.assign(nodes(), absl::InfiniteFuture());
  t.hops.assign(nodes(), -1);
  const int index = static_cast<int>(alerts_.size());
  alerts_.push_back(std::move(t));
  alert_index_[id] = index;
  if (node.up) {
    absl::Status st = node.store->Publish(env);
    if (st.ok()) {
      node.gossip->Broadcast(env);
      node.gossip->Pump(now());
    }
  }
  return index;
}

bool EventSim::Cut(int a, int b) const {
  return cut_ && (cut_side_.count(a) != 0) != (cut_side_.count(b) != 0);
}

void EventSim::Partition(const std::set<int>& side) {
  cut_side_ = side;
  cut_ = true;
}

void EventSim::Heal() {
  cut_ = false;
  cut_side_.clear();
}

absl::Time EventSim::Transmit(int from, int to, size_t bytes) {
  ++traffic_.messages;
  traffic_.bytes += bytes;
  if (options_.loss > 0 &&
      std::uniform_real_distribution<double>(0, 1)(rng_) < options_.loss) {
    ++traffic_.lost;
    return absl::InfiniteFuture();
  }
  absl::Time depart = now();
  if (options_.bandwidth > 0) {
    absl::Time& busy = busy_until_[{from, to}];
    depart = std::max(depart, busy) + absl::Seconds(static_cast<double>(bytes) / options_.bandwidth);
    busy = depart;
  }
  absl::Duration jitter = absl::ZeroDuration();
  if (options_.jitter > absl::ZeroDuration()) {
    jitter = absl::Microseconds(std::uniform_int_distribution<int64_t>(
        0, absl::ToInt64Microseconds(options_.jitter))(rng_));
  }
  return depart + latency_.at({from, to}) + jitter;
}

void EventSim::StartCall(int from, int to, PeerChannel::Call* call, Rpc rpc,
                         const google::protobuf::Message& request,
                         google::protobuf::Message* response,
                         std::function<void(absl::Status)> done) {
  if (!nodes_[from]->up) {
    done(absl::UnavailableError("node stopped"));
    return;
  }
  ++traffic_.calls;
  ++traffic_.calls_by_rpc[std::string(PeerChannel::RpcName(rpc))];
  const uint64_t id = next_call_++;
  auto pending = std::make_unique<PendingCall>();
  pending->from = from;
  pending->to = to;
  pending->rpc = rpc;
  pending->deadline = now() + options_.gossip.rpc_timeout;
  pending->call = static_cast<SimCall*>(call);
  pending->response = response;
  pending->done = std::move(done);
  calls_[id] = std::move(pending);
  // An answer later than the deadline is DEADLINE_EXCEEDED at the deadline.
  auto finish_at = [this, id](absl::Time at, absl::Status st, std::string answer) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    if (at > it->second->deadline) {
      at = it->second->deadline;
      st = absl::DeadlineExceededError("deadline exceeded");
      answer.clear();
    }
    Schedule(at, [this, id, st = std::move(st), answer = std::move(answer)] {
      Finish(id, st, answer);
    });
  };
  if (static_cast<SimCall*>(call)->cancelled) {
    finish_at(now(), absl::CancelledError("cancelled"), "");
    return;
  }
  const absl::Duration one_way = latency_.at({from, to});
  if (Cut(from, to) || !nodes_[to]->up) {
    ++traffic_.unreachable;
    finish_at(now() + 2 * one_way, absl::UnavailableError("peer unreachable"), "");
    return;
  }
  std::string bytes = request.SerializeAsString();
  const int carried = EnvelopesIn(rpc, request, /*request=*/true);
  const absl::Time arrive = Transmit(from, to, bytes.size());
  if (arrive == absl::InfiniteFuture()) {
    finish_at(now() + one_way, absl::UnavailableError("request lost"), "");
    return;
  }
  Schedule(arrive, [this, id, from, to, rpc, carried, finish_at, bytes = std::move(bytes)] {
    if (calls_.count(id) == 0) return;  // the caller stopped
    if (Cut(from, to) || !nodes_[to]->up) {
      ++traffic_.unreachable;
      finish_at(now(), absl::UnavailableError("peer unreachable"), "");
      return;
    }
    if (nodes_[to]->Is(Misbehaviour::kStallPulls) && rpc == Rpc::kPullRange) {
      ++bad_pull_answers_;
      finish_at(absl::InfiniteFuture(), absl::OkStatus(), "");  // at the deadline
      return;
    }
    traffic_.envelopes += static_cast<uint64_t>(carried);
    if (carried > 0) {
      traffic_.envelopes_by_rpc["Push"] += static_cast<uint64_t>(carried);
      v1::PushRequest push;
      if (push.ParseFromString(bytes)) {
        traffic_.duplicates_by_rpc["Push"] +=
            static_cast<uint64_t>(HeldIn(push, *nodes_[to]->store));
      }
    }
    delivering_from_ = from;
    absl::StatusOr<std::string> answer = federation::HandleFederationRequest(
        *nodes_[to]->gossip, nodes_[from]->origin, PeerChannel::RpcName(rpc), bytes);
    delivering_from_ = -1;
    if (!nodes_[to]->misbehaving) nodes_[to]->gossip->Pump(now());
    if (nodes_[to]->Is(Misbehaviour::kTricklePulls) && rpc == Rpc::kPullRange && answer.ok()) {
      v1::PullRangeResponse some;
      if (some.ParseFromString(*answer) && some.envelopes_size() > 1) {
        some.mutable_envelopes()->DeleteSubrange(1, some.envelopes_size() - 1);
        some.GetReflection()->MutableUnknownFields(&some)->AddLengthDelimited(
            1000, std::string(900 << 10, 'p'));
        *answer = some.SerializeAsString();
        ++bad_pull_answers_;
      }
    }
    if (nodes_[to]->Is(Misbehaviour::kStallPulls) && rpc == Rpc::kExchangeFrontier &&
        answer.ok()) {
      v1::FrontierMessage lie;
      if (lie.ParseFromString(*answer)) {
        for (v1::FrontierEntry& e : *lie.mutable_entries()) {
          e.set_sequence(e.sequence() + kStalledLead);
        }
        *answer = lie.SerializeAsString();
      }
    }
    const size_t size = answer.ok() ? answer->size() : answer.status().message().size();
    absl::Time back = Transmit(to, from, size);
    if (nodes_[to]->Is(Misbehaviour::kSlowPulls) && rpc == Rpc::kPullRange &&
        back != absl::InfiniteFuture()) {
      back += kSlowPull;
      ++bad_pull_answers_;
    }
    if (back == absl::InfiniteFuture()) {
      finish_at(now() + latency_.at({to, from}), absl::UnavailableError("answer lost"), "");
      return;
    }
    if (!answer.ok()) {
      finish_at(back, answer.status(), "");
    } else {
      finish_at(back, absl::OkStatus(), std::move(*answer));
    }
  });
}

void EventSim::Finish(uint64_t id, absl::Status status, const std::string& answer) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  std::unique_ptr<PendingCall> p = std::move(it->second);
  calls_.erase(it);
  if (p->call->cancelled && status.ok()) status = absl::CancelledError("cancelled");
  if (status.ok()) {
    if (!p->response->ParseFromString(answer)) {
      status = absl::InternalError("answer could not be parsed");
    } else {
      const int carried = EnvelopesIn(p->rpc, *p->response, false);
      traffic_.envelopes += static_cast<uint64_t>(carried);
      if (carried > 0) {
        const std::string name(PeerChannel::RpcName(p->rpc));
        traffic_.envelopes_by_rpc[name] += static_cast<uint64_t>(carried);
        MemoryFeedStore& store = *nodes_[p->from]->store;
        const int held = p->rpc == Rpc::kFetch
                             ? HeldIn(static_cast<const v1::FetchResponse&>(*p->response), store)
                             : HeldIn(static_cast<const v1::PullRangeResponse&>(*p->response),
                                      store);
        traffic_.duplicates_by_rpc[name] += static_cast<uint64_t>(held);
      }
    }
  }
  const int from = p->from;
  delivering_from_ = p->to;
  p->done(std::move(status));
  delivering_from_ = -1;
  if (nodes_[from]->up && !nodes_[from]->misbehaving) nodes_[from]->gossip->Pump(now());
}

void EventSim::Misbehave(int i, Misbehaviour kind, double rate) {
  Node& node = *nodes_[i];
  node.misbehaving = true;
  node.misbehaviour = kind;
  if (kind == Misbehaviour::kWithhold || kind == Misbehaviour::kStallPulls ||
      kind == Misbehaviour::kTricklePulls || kind == Misbehaviour::kSlowPulls || rate <= 0) {
    return;
  }
  const absl::Duration period = absl::Seconds(1.0 / rate);
  const uint64_t incarnation = node.incarnation;
  Schedule(now() + period,
           [this, i, kind, period, incarnation] { SendBad(i, kind, period, incarnation); });
}

void EventSim::SendBad(int i, Misbehaviour kind, absl::Duration period, uint64_t incarnation) {
  Node& node = *nodes_[i];
  if (!node.up || node.incarnation != incarnation) return;
  ++bad_counter_;
  std::string method;
  std::string request;
  if (kind == Misbehaviour::kInvalidFlood) {
    v1::Alert alert;
    alert.set_origin(node.origin);
    alert.set_sequence(node.sequence + 1);
    alert.set_title(absl::StrCat("forged ", bad_counter_));
    alert.set_description(std::string(options_.alert_text, 'f'));
    v1::Envelope env =
        certs::SignEnvelope(alert.SerializeAsString(), certs::kAlertPayloadType, *node.key);
    env.mutable_signatures(0)->mutable_sig()->back() ^= 1;
    v1::PushRequest push;
    *push.add_envelopes() = std::move(env);
    method = "Push";
    request = push.SerializeAsString();
  } else if (kind == Misbehaviour::kReplay) {
    // The stored alert of another origin at a rotating position.
    std::vector<federation::FrontierEntry> frontier = node.store->Frontier();
    if (!frontier.empty()) {
      const federation::FrontierEntry& e = frontier[bad_counter_ % frontier.size()];
      absl::StatusOr<std::vector<v1::Envelope>> got = node.store->ReadRange(
          e.origin, 1 + bad_counter_ % e.sequence, e.sequence, 1);
      if (got.ok() && !got->empty()) {
        v1::PushRequest push;
        *push.add_envelopes() = std::move(got->front());
        method = "Push";
        request = push.SerializeAsString();
      }
    }
  } else if (kind == Misbehaviour::kPhantomIHave) {
    v1::IHaveRequest ihave;
    v1::AlertRef* ref = ihave.add_refs();
    ref->set_id(certs::AlertId(absl::StrCat("phantom ", i, " ", bad_counter_)));
    ref->set_origin(node.origin);
    ref->set_sequence(node.sequence + bad_counter_);
    method = "IHave";
    request = ihave.SerializeAsString();
  }
  if (!method.empty()) {
    for (int p : graph_[i]) SendRaw(i, p, method, request);
  }
  Schedule(now() + period,
           [this, i, kind, period, incarnation] { SendBad(i, kind, period, incarnation); });
}

void EventSim::SendRaw(int from, int to, absl::string_view method, std::string request) {
  if (Cut(from, to) || !nodes_[to]->up) return;
  misbehaving_bytes_ += request.size();
  const absl::Time arrive = Transmit(from, to, request.size());
  if (arrive == absl::InfiniteFuture()) return;
  Schedule(arrive, [this, from, to, method = std::string(method),
                    request = std::move(request)] {
    if (Cut(from, to) || !nodes_[to]->up) return;
    absl::StatusOr<std::string> answer = federation::HandleFederationRequest(
        *nodes_[to]->gossip, nodes_[from]->origin, method, request);
    if (!nodes_[to]->misbehaving) nodes_[to]->gossip->Pump(now());
    const size_t size = answer.ok() ? answer->size() : answer.status().message().size();
    misbehaving_bytes_ += size;
    (void)Transmit(to, from, size);
  });
}

std::vector<federation::FrontierEntry> EventSim::Frontier(int node) const {
  return nodes_[node]->store->Frontier();
}

federation::Gossip::Stats EventSim::stats(int node) const {
  return nodes_[node]->gossip->stats();
}

}  // namespace watchfloor::testing
