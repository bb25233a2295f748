// The live watch-floor page's data (docs/OPERATIONS.md, "The watch-floor
// page"): what the operations HTTP listener serves under /, /api/stream,
// /api/filter, /api/federation and /api/feeds. HTTP stays in
// ops_http_server.cc; this file turns the node's state into the page's text.
//
// Entitlement: the page is a Subscribe by the node's own member. A viewer
// sees exactly the alerts that a Subscribe of the node's own member with the
// same filter would return: the filter goes through ParseFilter and
// Matcher::Compile as the CLI's does, and the stream is a subscriber of the
// same SubscriptionHub, counted against the same subscriber limit.
#ifndef WATCHFLOOR_NODE_WATCH_PAGE_H_
#define WATCHFLOOR_NODE_WATCH_PAGE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "federation/gossip.h"
#include "node/filter.h"
#include "node/ledger.h"
#include "node/roster_manager.h"
#include "node/subscription_hub.h"
#include "node/transparency.h"

namespace watchfloor::node {

// The page itself: HTML with its CSS and JavaScript inline, no external
// resources (watch_page_html.cc).
extern const char kWatchPageHtml[];

// One page's alert stream: a subscriber of the hub that first replays the
// matching alerts among the last `backlog` committed, then goes live. Its
// output is Server-Sent Events text. Used by one thread at a time.
class PageStream final : public LiveSubscriber {
 public:
  // Next() output, at most one batch of alerts per call.
  struct Chunk {
    std::string text;  // SSE events; empty if nothing came within the wait
    bool end = false;  // the stream is over (text holds the "end" event)
  };
  // Waits up to `wait` for alerts. Never blocks longer than `wait` plus one
  // store read.
  Chunk Next(absl::Duration wait);

  void OnLive() override;

 private:
  friend class WatchPage;
  PageStream(SubscriptionHub* hub, SubscriptionHub::Id id,
             std::shared_ptr<const Matcher> matcher, uint64_t cursor);
  // Leaves the hub and drops the creator's reference (WatchPage's deleter).
  void Close();
  void Append(const AlertRef& alert, std::string* out);

  SubscriptionHub* const hub_;
  const SubscriptionHub::Id id_;
  const std::shared_ptr<const Matcher> matcher_;
  uint64_t scanned_;  // every alert up to here was considered
  bool live_ = false;
  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
};

class WatchPage {
 public:
  struct Sources {
    SubscriptionHub* hub = nullptr;              // required
    const Ledger* ledger = nullptr;              // required
    const Transparency* transparency = nullptr;  // required
    size_t max_subscribers = 0;                  // the Subscribe limit
    // Outside a federation both are null: no peers to show.
    const federation::Gossip* gossip = nullptr;
    const RosterManager* roster = nullptr;
  };
  // Everything in `sources` must outlive the WatchPage and its streams.
  explicit WatchPage(Sources sources) : src_(sources) {}

  // The alerts a fresh stream replays before going live: the matching ones
  // among the last kBacklog committed.
  static constexpr uint64_t kBacklog = 500;

  // Parses `filter_text` with the CLI's filter syntax (docs/FILTERS.md) and
  // returns its canonical form. INVALID_ARGUMENT with ParseFilter's message.
  static absl::StatusOr<std::string> CheckFilter(absl::string_view filter_text);

  // A stream of the alerts matching `filter_text`, after `after_cursor` if
  // it is not 0 (an EventSource's Last-Event-ID when it reconnects), else
  // from the backlog. INVALID_ARGUMENT for a bad filter; RESOURCE_EXHAUSTED
  // at the subscriber limit. Thread-safe.
  absl::StatusOr<std::shared_ptr<PageStream>> OpenStream(absl::string_view filter_text,
                                                         uint64_t after_cursor);

  // JSON for the federation panel: this node, the roster version, and per
  // peer whether the last call to it worked, its last contact, refusals by
  // reason and lag (alerts of the peer's own feed its frontier showed that
  // this node has not committed). Thread-safe.
  std::string FederationJson() const;
  // JSON for the feeds panel: per origin the committed head, fork flag,
  // frontier lag and the latest accepted checkpoint (size, witnesses).
  std::string FeedsJson() const;

 private:
  const Sources src_;
};

// `s` as a JSON string literal (quotes included), escaping what RFC 8259
// requires plus '<', '>' and '&', so that the text is also inert in HTML.
std::string JsonString(absl::string_view s);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_WATCH_PAGE_H_
