#include "node/watch_page.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "certs/note.h"
#include "google/protobuf/util/json_util.h"
#include "node/filter_parser.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {
namespace {

// Alerts taken from the store or the live queue per Next().
constexpr size_t kBatch = 256;

// Unix seconds of `t` with milliseconds, as JSON; null for InfinitePast
// (never).
std::string UnixSeconds(absl::Time t) {
  if (t == absl::InfinitePast()) return "null";
  return absl::StrFormat("%.3f", absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}

std::string SseEnd(absl::string_view reason) {
  return absl::StrCat("event: end\ndata: ", JsonString(reason), "\n\n");
}

}  // namespace

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '<': case '>': case '&': absl::StrAppendFormat(&out, "\\u%04x", c); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

// ------------------------------------------------------------------ stream

PageStream::PageStream(SubscriptionHub* hub, SubscriptionHub::Id id,
                       std::shared_ptr<const Matcher> matcher, uint64_t cursor)
    : hub_(hub), id_(id), matcher_(std::move(matcher)), scanned_(cursor) {}

void PageStream::Close() {
  hub_->Quit(id_);
  Unref();
}

void PageStream::OnLive() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
}

void PageStream::Append(const AlertRef& a, std::string* out) {
  watchfloor::v1::Alert alert;
  alert.ParseFromString(a->stored.envelope.payload());
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(alert, &json, options).ok()) json = "{}";
  // SSE fields are lines: the JSON printer escapes newlines in strings and
  // writes none of its own, so `data` is one line.
  absl::StrAppend(out, "id: ", a->stored.cursor, "\nevent: alert\ndata: {\"cursor\":",
                  a->stored.cursor, ",\"id\":", JsonString(a->stored.id), ",\"alert\":", json,
                  "}\n\n");
}

PageStream::Chunk PageStream::Next(absl::Duration wait) {
  Chunk chunk;
  const absl::Time deadline = absl::Now() + wait;
  while (!live_) {
    absl::StatusOr<std::vector<AlertRef>> history = hub_->ReadHistory(scanned_, kBatch);
    if (!history.ok()) {
      chunk.text = SseEnd(absl::StrCat("the store could not be read: ", history.status().message()));
      chunk.end = true;
      return chunk;
    }
    for (const AlertRef& a : *history) {
      scanned_ = a->stored.cursor;
      if (matcher_->Matches(a->facts)) Append(a, &chunk.text);
    }
    if (!history->empty()) {
      if (!chunk.text.empty()) return chunk;
      continue;
    }
    if (hub_->closed()) {
      chunk.text = SseEnd("the node is shutting down");
      chunk.end = true;
      return chunk;
    }
    live_ = hub_->GoLive(id_, this, matcher_, scanned_);
  }
  for (;;) {
    bool armed = false;
    SubscriptionHub::Take take = hub_->TakeLive(id_, kBatch, &armed);
    if (take.closed || take.gone) {
      chunk.text = SseEnd("the node is shutting down");
      chunk.end = true;
      return chunk;
    }
    if (take.overflowed) {
      // The EventSource reconnects with Last-Event-ID and resumes from the
      // store, so falling behind costs a reconnect, not alerts.
      chunk.text = absl::StrCat("retry: 100\n",
                                SseEnd("fell behind the live stream; reconnecting"));
      chunk.end = true;
      return chunk;
    }
    for (const AlertRef& a : take.alerts) {
      // A replay can read alerts the hub then queues for it live as well.
      if (a->stored.cursor <= scanned_) continue;
      scanned_ = a->stored.cursor;
      Append(a, &chunk.text);
    }
    if (!chunk.text.empty()) return chunk;
    if (!armed) continue;
    absl::MutexLock lock(&mu_);
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return woken_; };
    if (!mu_.AwaitWithDeadline(absl::Condition(&woken), deadline)) return chunk;
    woken_ = false;
  }
}

// -------------------------------------------------------------------- page

absl::StatusOr<std::string> WatchPage::CheckFilter(absl::string_view filter_text) {
  absl::StatusOr<watchfloor::v1::Filter> filter = ParseFilter(filter_text);
  if (!filter.ok()) return filter.status();
  return FormatFilter(*filter);
}

absl::StatusOr<std::shared_ptr<PageStream>> WatchPage::OpenStream(absl::string_view filter_text,
                                                                  uint64_t after_cursor) {
  absl::StatusOr<watchfloor::v1::Filter> filter = ParseFilter(filter_text);
  if (!filter.ok()) return filter.status();
  google::protobuf::RepeatedPtrField<watchfloor::v1::Filter> filters;
  // The empty filter matches everything, as no filters do in a Subscribe.
  if (filter->conditions_size() > 0) *filters.Add() = std::move(*filter);
  absl::StatusOr<std::shared_ptr<const Matcher>> matcher = Matcher::Compile(filters);
  if (!matcher.ok()) return matcher.status();
  SubscriptionHub::Id id = src_.hub->TryJoin(src_.max_subscribers);
  if (id == 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "node serves at most ", src_.max_subscribers, " subscribers; retry later"));
  }
  uint64_t cursor = after_cursor;
  if (cursor == 0) {
    const uint64_t last = src_.hub->last_cursor();
    cursor = last > kBacklog ? last - kBacklog : 0;
  }
  return std::shared_ptr<PageStream>(new PageStream(src_.hub, id, std::move(*matcher), cursor),
                                     [](PageStream* s) { s->Close(); });
}

std::string WatchPage::FederationJson() const {
  std::string out = absl::StrCat("{\"node\":", JsonString(src_.ledger->origin()),
                                 ",\"roster_version\":",
                                 src_.roster == nullptr ? 0 : src_.roster->version(),
                                 ",\"now\":", UnixSeconds(absl::Now()), ",\"peers\":[");
  if (src_.gossip != nullptr) {
    const federation::Gossip::Stats stats = src_.gossip->stats();
    std::map<std::string, uint64_t> heads;
    for (const FeedHead& h : src_.ledger->Heads()) heads[h.origin] = h.sequence;
    bool first = true;
    for (const auto& [peer, p] : stats.peers) {
      auto seen = stats.peer_frontier.find(peer);
      const uint64_t shown = seen == stats.peer_frontier.end() ? 0 : seen->second;
      const uint64_t have = heads.count(peer) ? heads[peer] : 0;
      std::string reasons;
      for (const auto& [reason, n] : p.refused_by_reason) {
        absl::StrAppend(&reasons, reasons.empty() ? "" : ",", JsonString(reason), ":", n);
      }
      absl::StrAppend(&out, first ? "" : ",", "{\"peer\":", JsonString(peer),
                      ",\"up\":", p.reachable ? "true" : "false",
                      ",\"last_contact\":", UnixSeconds(p.last_contact),
                      ",\"lag\":", shown > have ? shown - have : 0,
                      ",\"refused\":", p.refused, ",\"refused_by_reason\":{", reasons, "}",
                      ",\"eager\":", p.eager ? "true" : "false",
                      ",\"queued_bytes\":", p.queued_bytes, ",\"dropped\":", p.dropped,
                      ",\"roster_version\":", p.roster_version, "}");
      first = false;
    }
  }
  out += "]}";
  return out;
}

std::string WatchPage::FeedsJson() const {
  std::map<std::string, uint64_t> frontier;
  if (src_.gossip != nullptr) frontier = src_.gossip->stats().peer_frontier;
  std::string out = "{\"feeds\":[";
  bool first = true;
  for (const FeedHead& h : src_.ledger->Heads()) {
    auto seen = frontier.find(h.origin);
    const uint64_t shown = seen == frontier.end() ? 0 : seen->second;
    std::string checkpoint = "null";
    if (absl::StatusOr<std::string> note = src_.transparency->Latest(h.origin); note.ok()) {
      absl::StatusOr<certs::ParsedNote> parsed = certs::ParseNote(*note);
      absl::StatusOr<certs::Checkpoint> c =
          parsed.ok() ? certs::ParseCheckpoint(parsed->text)
                      : absl::StatusOr<certs::Checkpoint>(parsed.status());
      if (c.ok()) {
        checkpoint = absl::StrCat("{\"size\":", c->size, ",\"witnesses\":",
                                  src_.transparency->Witnesses(h.origin, *note),
                                  ",\"quorum\":", src_.transparency->DefaultQuorum(), "}");
      }
    }
    absl::StrAppend(&out, first ? "" : ",", "{\"origin\":", JsonString(h.origin),
                    ",\"head\":", h.sequence, ",\"forked\":", h.forked ? "true" : "false",
                    ",\"lag\":", shown > h.sequence ? shown - h.sequence : 0,
                    ",\"checkpoint\":", checkpoint, "}");
    first = false;
  }
  out += "]}";
  return out;
}

}  // namespace watchfloor::node
