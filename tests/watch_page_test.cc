// The watch-floor page (node/watch_page.h, node/ops_http_server.h) in a real
// browser: a two-member federation of real nodes over mutual TLS on
// loopback, node 0 serving the page on its HTTP listener, and Debian's
// Chromium, headless, driven over the DevTools protocol by
// tests/page/driver.mjs (puppeteer-core, pinned). Alerts are published over
// gRPC; the page must show them within a second, narrow them by the filter
// typed into its box, show the parser's error for a bad filter, render an
// alert's markup as text, and show a stopped peer as down. The page's API is
// also checked over plain HTTP (cpp-httplib's client).
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "node/filter_parser.h"
#include "tests/browser_driver.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

using ::testing::HasSubstr;

const std::string kDriverDir = WF_SOURCE_DIR "/tests/page";

watchfloor::v1::Alert Draft(const std::string& title, watchfloor::v1::Severity severity,
                            const std::string& domain,
                            watchfloor::v1::Tlp tlp = watchfloor::v1::TLP_GREEN) {
  watchfloor::v1::Alert a = SampleDraft(0);
  a.set_title(title);
  a.set_severity(severity);
  a.set_tlp(tlp);
  a.clear_domains();
  a.add_domains(domain);
  return a;
}

// The parser's message for `text`, as the page must show it.
std::string ParserError(const std::string& text) {
  absl::StatusOr<watchfloor::v1::Filter> f = node::ParseFilter(text);
  EXPECT_FALSE(f.ok()) << text;
  return std::string(f.status().message());
}

// The driver's reply to `command`, or "ERROR: <status>" so that a failed
// command shows in the assertion that compares the reply.
std::string Reply(BrowserDriver& browser, const std::string& command) {
  absl::StatusOr<std::string> r = browser.Command(command);
  return r.ok() ? *r : absl::StrCat("ERROR: ", r.status().ToString());
}

class WatchPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.members = 2;
    options.anti_entropy_interval_ms = 200;
    fed_ = std::make_unique<TestFederation>(options);
    ASSERT_TRUE(fed_->ok());
    fed_->config(0).mutable_http()->set_listen_address("127.0.0.1:0");
    ASSERT_EQ(fed_->StartAll(), absl::OkStatus());
    port_ = fed_->server(0)->http_port();
    ASSERT_NE(port_, 0);
    url_ = absl::StrCat("http://127.0.0.1:", port_, "/");
  }

  void Publish(int node, const watchfloor::v1::Alert& draft) {
    grpc::Status st = fed_->Publish(node, draft);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }

  httplib::Client Http() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10, 0);
    return c;
  }

  std::unique_ptr<TestFederation> fed_;
  int port_ = 0;
  std::string url_;
};

TEST_F(WatchPageTest, ChromiumShowsAlertsLiveFiltersThemAndShowsAStoppedPeerAsDown) {
  absl::StatusOr<std::unique_ptr<BrowserDriver>> started =
      BrowserDriver::Start(kDriverDir, fed_->dir().Join("browser.log"));
  ASSERT_TRUE(started.ok()) << started.status();
  BrowserDriver& browser = **started;

  // History first: the page replays what the node already holds.
  ASSERT_NO_FATAL_FAILURE(Publish(0, Draft("before the page opened", watchfloor::v1::SEVERITY_LOW,
                                           "early.example.cz", watchfloor::v1::TLP_CLEAR)));
  ASSERT_EQ(Reply(browser, "open " + url_), "") << ReadFileOrDie(fed_->dir().Join("browser.log"));
  EXPECT_TRUE(browser.Command("wait-alert 2000 before the page opened").ok());

  // Live: published here and at the peer (gossiped in), each on the page
  // within a second of the publish returning.
  ASSERT_NO_FATAL_FAILURE(
      Publish(0, Draft("critical at home", watchfloor::v1::SEVERITY_CRITICAL, "home.example.cz",
                       watchfloor::v1::TLP_AMBER)));
  absl::StatusOr<std::string> seen = browser.Command("wait-alert 1000 critical at home");
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_NO_FATAL_FAILURE(
      Publish(1, Draft("high from the peer", watchfloor::v1::SEVERITY_HIGH, "peer.example.sk")));
  seen = browser.Command("wait-alert 1000 high from the peer");
  ASSERT_TRUE(seen.ok()) << seen.status();

  // Markup in an alert is text on the page: nothing runs, no element appears.
  const std::string markup =
      "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> & done";
  ASSERT_NO_FATAL_FAILURE(Publish(0, Draft(markup, watchfloor::v1::SEVERITY_MEDIUM, "x.example.cz")));
  seen = browser.Command("wait-alert 1000 " + markup);
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(Reply(browser, 
                "eval [window.__pwned === undefined, "
                "document.querySelectorAll('#alerts script, #alerts img').length]"),
            "[true,0]");

  // Newest first, with origin, severity (and its colour), TLP and domains.
  absl::StatusOr<std::string> rows = browser.Command("rows");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_THAT(*rows, HasSubstr(absl::StrCat("\"title\":\"high from the peer\",\"origin\":\"",
                                            fed_->origin(1),
                                            "\",\"category\":\"dns.hijack\",\"severity\":\"HIGH\","
                                            "\"severity_color\":\"rgb(217, 72, 15)\","
                                            "\"tlp\":\"TLP:GREEN\",\"domains\":\"peer.example.sk\"}")));
  EXPECT_THAT(*rows, HasSubstr(absl::StrCat("\"title\":\"critical at home\",\"origin\":\"",
                                            fed_->origin(0), "\",\"category\":\"dns.hijack\","
                                            "\"severity\":\"CRITICAL\",\"severity_color\":"
                                            "\"rgb(139, 0, 0)\",\"tlp\":\"TLP:AMBER\"")));
  EXPECT_LT(rows->find("high from the peer"), rows->find("critical at home"));
  EXPECT_EQ(Reply(browser, "eval document.querySelectorAll('#alerts tr').length"), "4");

  // A filter typed into the box narrows the list, history and live alike.
  EXPECT_EQ(Reply(browser, "filter severity>=high domain:cz"), "valid");
  seen = browser.Command("wait-alert 2000 critical at home");
  ASSERT_TRUE(seen.ok()) << seen.status();
  ASSERT_NO_FATAL_FAILURE(Publish(0, Draft("low, filtered out", watchfloor::v1::SEVERITY_LOW,
                                           "filtered.example.cz")));
  ASSERT_NO_FATAL_FAILURE(
      Publish(0, Draft("high, shown", watchfloor::v1::SEVERITY_HIGH, "shown.example.cz")));
  seen = browser.Command("wait-alert 1000 high, shown");
  ASSERT_TRUE(seen.ok()) << seen.status();
  // Alerts arrive in commit order, so the low one was considered first.
  EXPECT_EQ(Reply(browser, "eval Array.from(document.querySelectorAll('#alerts td.title'))"
                             ".map((td) => td.textContent)"),
            "[\"high, shown\",\"critical at home\"]");

  // A bad filter shows the parser's own error and no alerts at all.
  const std::string bad = "severity>=high sevrity:low";
  EXPECT_EQ(Reply(browser, "filter " + bad),
            absl::StrCat("invalid ", ParserError(bad)));
  EXPECT_EQ(Reply(browser, "eval document.querySelectorAll('#alerts tr').length"), "0");
  EXPECT_EQ(Reply(browser, "eval document.getElementById('conn').textContent"),
            "\"not streaming: invalid filter\"");

  // Clearing the box shows everything again.
  EXPECT_EQ(Reply(browser, "filter "), "valid");
  seen = browser.Command("wait-alert 2000 low, filtered out");
  ASSERT_TRUE(seen.ok()) << seen.status();

  // The federation panel: the peer is up, then down once it stops.
  EXPECT_EQ(browser.Command(absl::StrCat("peer 5000 ", fed_->origin(1), " up")).status(),
            absl::OkStatus());
  const char* shot = std::getenv("WF_PAGE_SCREENSHOT");
  if (shot != nullptr) {
    absl::SleepFor(absl::Milliseconds(1500));  // the panels poll every second
    EXPECT_EQ(Reply(browser, absl::StrCat("screenshot ", shot)), "");
  }
  fed_->StopNode(1);
  EXPECT_EQ(browser.Command(absl::StrCat("peer 10000 ", fed_->origin(1), " down")).status(),
            absl::OkStatus());

  const std::string png = fed_->dir().Join("page.png");
  EXPECT_EQ(Reply(browser, "screenshot " + png), "");
  EXPECT_EQ(ReadFileOrDie(png).substr(0, 8), "\x89PNG\r\n\x1a\n");
}

TEST_F(WatchPageTest, FilterEndpointAnswersTheCanonicalFormOrTheParsersError) {
  httplib::Client c = Http();
  auto ok = c.Get("/api/filter?q=severity%3E%3Dhigh%20domain%3ACZ");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "severity>=high domain:cz");
  const std::string bad = "domain:cz sevrity>=high";
  auto refused = c.Get("/api/filter?q=domain%3Acz%20sevrity%3E%3Dhigh");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400);
  EXPECT_EQ(refused->body, ParserError(bad));
  // The stream refuses it the same way, and no subscriber is left counted.
  auto stream = c.Get("/api/stream?filter=domain%3Acz%20sevrity%3E%3Dhigh");
  ASSERT_TRUE(stream);
  EXPECT_EQ(stream->status, 400);
  EXPECT_EQ(stream->body, ParserError(bad) + "\n");
  EXPECT_EQ(fed_->server(0)->hub()->subscriber_count(), 0u);
}

TEST_F(WatchPageTest, PageIsReadOnlyAndLoadsNothingFromElsewhere) {
  httplib::Client c = Http();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_THAT(page->get_header_value("Content-Security-Policy"), HasSubstr("default-src 'none'"));
  EXPECT_THAT(page->get_header_value("Content-Security-Policy"), HasSubstr("connect-src 'self'"));
  EXPECT_THAT(page->body, HasSubstr("<title>watchfloor</title>"));
  EXPECT_FALSE(absl::StrContains(page->body, "innerHTML"));
  EXPECT_FALSE(absl::StrContains(page->body, "http://"));
  EXPECT_FALSE(absl::StrContains(page->body, "https://"));
  const int64_t before = fed_->StoredAlertCount(0);
  for (const char* path : {"/", "/api/stream", "/api/filter", "/api/federation", "/api/feeds"}) {
    auto post = c.Post(path, "{}", "application/json");
    ASSERT_TRUE(post) << path;
    EXPECT_EQ(post->status, 405) << path;
    EXPECT_EQ(post->get_header_value("Allow"), "GET, HEAD");
    auto del = c.Delete(path);
    ASSERT_TRUE(del) << path;
    EXPECT_EQ(del->status, 405) << path;
  }
  EXPECT_EQ(fed_->StoredAlertCount(0), before);
}

TEST_F(WatchPageTest, FederationAndFeedsJsonNameEveryPeerAndFeed) {
  ASSERT_NO_FATAL_FAILURE(Publish(1, SampleDraft(1)));
  ASSERT_TRUE(fed_->WaitForIds(fed_->StoredIds(1), absl::Seconds(10), {0}));
  httplib::Client c = Http();
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto f = c.Get("/api/federation");
        return f && absl::StrContains(f->body, absl::StrCat("{\"peer\":\"", fed_->origin(1),
                                                            "\",\"up\":true,\"last_contact\":1"));
      },
      absl::Seconds(10)));
  auto f = c.Get("/api/federation");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->get_header_value("Content-Type"), "application/json");
  EXPECT_THAT(f->body, HasSubstr(absl::StrCat("{\"node\":\"", fed_->origin(0),
                                              "\",\"roster_version\":1,")));
  EXPECT_THAT(f->body, HasSubstr("\"lag\":0,\"refused\":0,\"refused_by_reason\":{}"));
  auto feeds = c.Get("/api/feeds");
  ASSERT_TRUE(feeds);
  EXPECT_THAT(feeds->body, HasSubstr(absl::StrCat("{\"origin\":\"", fed_->origin(1),
                                                  "\",\"head\":1,\"forked\":false,\"lag\":0,")));
}

TEST_F(WatchPageTest, StreamResumesAfterLastEventId) {
  for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(Publish(0, SampleDraft(i)));
  // An EventSource reconnecting sends the cursor of the last event it got.
  httplib::Client c = Http();
  std::string body;
  httplib::Headers headers = {{"Last-Event-ID", "2"}};
  auto r = c.Get("/api/stream", headers, [&](const char* data, size_t n) {
    body.append(data, n);
    return !absl::StrContains(body, "\n\n");  // one event is enough
  });
  // Stopped by the receiver: the result is a cancel, the event is in body.
  EXPECT_THAT(body, HasSubstr("id: 3\nevent: alert\ndata: {\"cursor\":3,"));
  EXPECT_THAT(body, HasSubstr("\"title\":\"NS records of example.cz changed #2\""));
  EXPECT_FALSE(absl::StrContains(body, "id: 2\n"));
}

// Off loopback the listener is HTTPS, and every request needs a client
// certificate the roster vouches for (the reader rule of Subscribe).
class WatchPageTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FederationOptions options;
    options.members = 2;
    fed_ = std::make_unique<TestFederation>(options);
    ASSERT_TRUE(fed_->ok());
    // Not a loopback address, so HTTPS; reached through 127.0.0.1 all the same.
    fed_->config(0).mutable_http()->set_listen_address("0.0.0.0:0");
    ASSERT_EQ(fed_->StartAll(), absl::OkStatus());
    port_ = fed_->server(0)->http_port();
    ASSERT_NE(port_, 0);
  }

  // An HTTPS client presenting `cert`/`key` (none if empty). The node's
  // certificate names the node, not 127.0.0.1: this tests the client side.
  std::unique_ptr<httplib::SSLClient> Client(const std::string& cert, const std::string& key) {
    auto c = cert.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", port_)
                          : std::make_unique<httplib::SSLClient>("127.0.0.1", port_, cert, key);
    c->enable_server_certificate_verification(false);
    c->set_read_timeout(10, 0);
    return c;
  }

  std::unique_ptr<TestFederation> fed_;
  int port_ = 0;
};

TEST_F(WatchPageTlsTest, MembersClientCertificatesReadEveryoneElseIsRefused) {
  ASSERT_TRUE(fed_->Publish(0, SampleDraft(1)).ok());
  // The node's own member and another member of the roster may read.
  for (int m : {0, 1}) {
    SCOPED_TRACE(m);
    auto c = Client(fed_->member(m).client_cert_file, fed_->member(m).client_key_file);
    auto page = c->Get("/");
    ASSERT_TRUE(page) << httplib::to_string(page.error());
    EXPECT_EQ(page->status, 200);
    EXPECT_THAT(page->body, HasSubstr("<title>watchfloor</title>"));
    auto feeds = c->Get("/api/feeds");
    ASSERT_TRUE(feeds);
    EXPECT_THAT(feeds->body, HasSubstr(absl::StrCat("{\"origin\":\"", fed_->origin(0),
                                                    "\",\"head\":1,")));
    std::string body;
    c->Get("/api/stream?filter=severity%3E%3Dhigh", [&](const char* data, size_t n) {
      body.append(data, n);
      return !absl::StrContains(body, "\n\n");
    });
    EXPECT_THAT(body, HasSubstr("id: 1\nevent: alert\n"));
  }
  // No client certificate: the handshake fails, nothing is served.
  auto anonymous = Client("", "");
  auto refused = anonymous->Get("/api/feeds");
  EXPECT_FALSE(refused);
  // The streams the clients closed are noticed (at the next keepalive write
  // at the latest) and leave the hub.
  EXPECT_TRUE(WaitUntil([&] { return fed_->server(0)->hub()->subscriber_count() == 0; },
                        absl::Seconds(10)));
  // A certificate of a CA the roster does not list: 403, with the reason.
  TestFederation stranger(FederationOptions{.members = 1});
  ASSERT_TRUE(stranger.ok());
  auto other = Client(stranger.member(0).client_cert_file, stranger.member(0).client_key_file);
  for (const char* path : {"/", "/api/stream", "/api/feeds", "/metrics"}) {
    auto r = other->Get(path);
    ASSERT_TRUE(r) << path << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 403) << path;
    EXPECT_THAT(r->body, HasSubstr("forbidden: "));
    EXPECT_FALSE(absl::StrContains(r->body, "<title>"));
  }
  EXPECT_EQ(fed_->server(0)->hub()->subscriber_count(), 0u);
  // Plain HTTP on the same port gets nothing either.
  httplib::Client plain("127.0.0.1", port_);
  plain.set_read_timeout(5, 0);
  auto p = plain.Get("/api/feeds");
  EXPECT_TRUE(!p || p->status != 200);
}

}  // namespace
}  // namespace watchfloor::testing
