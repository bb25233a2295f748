// The operations HTTP listener (node/ops_http_server.h) and the metrics it
// serves (node/node_metrics.h, metrics/registry.h), on real nodes over real
// HTTP on loopback. Every scrape is parsed line by line by the reference
// parser of python3-prometheus-client (tests/metrics_parse.py), run as a
// child process; the C++ side only reads what that parser printed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "metrics/registry.h"
#include "node/sqlite_alert_store.h"
#include "sqlite3.h"
#include "tests/federation_util.h"
#include "tests/interop_test_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;
using Samples = std::map<std::string, double>;

const std::string kParser = WF_SOURCE_DIR "/tests/metrics_parse.py";

// Debian's python3, which has python3-prometheus-client (a pyenv python3
// first on PATH would not); WF_PYTHON overrides.
std::string Python() {
  const char* p = std::getenv("WF_PYTHON");
  return p != nullptr ? p : "/usr/bin/python3";
}

// Runs the reference parser on `source` (a URL or a file) and returns every
// sample it read, keyed "name{label=\"value\",...}" (labels sorted).
Samples Parse(const std::string& source) {
  ProcResult r = RunProcess({Python(), kParser, source});
  EXPECT_EQ(r.exit_code, 0) << r;
  Samples out;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    size_t space = line.rfind(' ');
    double v = 0;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(space + 1), &v)) << line;
    out[std::string(line.substr(0, space))] = v;
  }
  return out;
}

Samples Scrape(int port) {
  return Parse(absl::StrCat("http://127.0.0.1:", port, "/metrics"));
}

// The sample named `key`, or -1 (and a failure) if the scrape lacks it.
double Get(const Samples& s, const std::string& key) {
  auto it = s.find(key);
  if (it == s.end()) {
    ADD_FAILURE() << "no sample " << key;
    return -1;
  }
  return it->second;
}

std::string Peer(const std::string& name, const std::string& origin) {
  return absl::StrCat(name, "{peer=\"", origin, "\"}");
}

// ---------------------------------------------------------------- registry

TEST(MetricsRegistryTest, LabelEscapingAndHistogramsReadBackThroughTheReferenceParser) {
  metrics::Registry registry;
  const std::string nasty = "back\\slash \"quoted\"\nsecond line";
  ASSERT_EQ(registry.Add("wf_test_events_total", "Help with a \\ and a\nnewline.",
                         metrics::Type::kCounter,
                         [&](metrics::FamilySink& s) {
                           s.Add({{"kind", nasty}}, 3);
                           s.Add({{"kind", "plain"}}, 12345678901);
                         }),
            absl::OkStatus());
  metrics::Histogram h({0.005, 0.5, 2});
  for (double v : {0.001, 0.005, 0.3, 1.5, 99.0}) h.Observe(v);
  ASSERT_EQ(registry.Add("wf_test_seconds", "A histogram.", metrics::Type::kHistogram,
                         [&](metrics::FamilySink& s) {
                           s.AddHistogram({{"op", "a"}}, h.snapshot());
                           s.AddHistogram({{"op", "b"}}, metrics::Histogram({1}).snapshot());
                         }),
            absl::OkStatus());
  ASSERT_EQ(registry.Add("wf_test_empty", "No samples at all.", metrics::Type::kGauge,
                         [](metrics::FamilySink&) {}),
            absl::OkStatus());
  ASSERT_EQ(registry.Add("wf_test_gauge", "Fractions.", metrics::Type::kGauge,
                         [](metrics::FamilySink& s) { s.Add({}, 0.1); }),
            absl::OkStatus());

  const std::string text = registry.Render();
  EXPECT_TRUE(absl::StrContains(text, "# HELP wf_test_events_total Help with a \\\\ and a\\nnewline.\n"))
      << text;
  EXPECT_TRUE(absl::StrContains(
      text, "wf_test_events_total{kind=\"back\\\\slash \\\"quoted\\\"\\nsecond line\"} 3\n"))
      << text;
  TempDir dir;
  WriteFile(dir.Join("scrape.prom"), text);
  const Samples s = Parse(dir.Join("scrape.prom"));
  const Samples want = {
      {"wf_test_events_total{kind=\"back\\\\slash \\\"quoted\\\"\\nsecond line\"}", 3},
      {"wf_test_events_total{kind=\"plain\"}", 12345678901},
      {"wf_test_seconds_bucket{le=\"0.005\",op=\"a\"}", 2},
      {"wf_test_seconds_bucket{le=\"0.5\",op=\"a\"}", 3},
      {"wf_test_seconds_bucket{le=\"2\",op=\"a\"}", 4},
      {"wf_test_seconds_bucket{le=\"+Inf\",op=\"a\"}", 5},
      {"wf_test_seconds_sum{op=\"a\"}", 0.001 + 0.005 + 0.3 + 1.5 + 99.0},
      {"wf_test_seconds_count{op=\"a\"}", 5},
      {"wf_test_seconds_bucket{le=\"1\",op=\"b\"}", 0},
      {"wf_test_seconds_bucket{le=\"+Inf\",op=\"b\"}", 0},
      {"wf_test_seconds_sum{op=\"b\"}", 0},
      {"wf_test_seconds_count{op=\"b\"}", 0},
      {"wf_test_gauge", 0.1},
  };
  EXPECT_EQ(s, want);
}

TEST(MetricsRegistryTest, BadAndRepeatedNamesAreRefused) {
  metrics::Registry registry;
  auto none = [](metrics::FamilySink&) {};
  for (const char* bad : {"", "1abc", "has-dash", "has space", "ünicode"}) {
    absl::Status st = registry.Add(bad, "h", metrics::Type::kGauge, none);
    EXPECT_EQ(st, absl::InvalidArgumentError(absl::StrCat(
                      "metric name \"", bad, "\" is not [a-zA-Z_:][a-zA-Z0-9_:]*")));
  }
  ASSERT_EQ(registry.Add("wf_ok:name_1", "h", metrics::Type::kGauge, none), absl::OkStatus());
  EXPECT_EQ(registry.Add("wf_ok:name_1", "other", metrics::Type::kCounter, none),
            absl::AlreadyExistsError("metric family wf_ok:name_1 is already registered"));
  EXPECT_EQ(registry.Render(), "# HELP wf_ok:name_1 h\n# TYPE wf_ok:name_1 gauge\n");
}

// ------------------------------------------------------------ one node, HTTP

class OpsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_.config().mutable_http()->set_listen_address("127.0.0.1:0");
    ASSERT_EQ(node_.Start(), absl::OkStatus());
    port_ = node_.server()->http_port();
    ASSERT_NE(port_, 0);
  }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10, 0);
    return c;
  }

  TestNode node_;
  int port_ = 0;
};

TEST_F(OpsHttpTest, HealthzAndReadyzAnswer200WhileTheNodeServes) {
  httplib::Client c = Client();
  auto healthz = c.Get("/healthz");
  ASSERT_TRUE(healthz) << httplib::to_string(healthz.error());
  EXPECT_EQ(healthz->status, 200);
  EXPECT_EQ(healthz->body, "ok\n");
  auto readyz = c.Get("/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 200);
  EXPECT_EQ(readyz->body, "ready\n");
  const Samples s = Scrape(port_);
  EXPECT_EQ(Get(s, "watchfloor_ready"), 1);
  EXPECT_EQ(Get(s, "watchfloor_store_writable"), 1);
  // Outside a federation there is no roster and no gossip to report.
  EXPECT_EQ(s.count("watchfloor_roster_version"), 0u);
  EXPECT_GT(Get(s, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Get(s, "process_open_fds"), 3);
}

TEST_F(OpsHttpTest, PublishedCounterAndLatencyCountGrowByExactlyTheAlertsPublished) {
  const Samples before = Scrape(port_);
  constexpr int kAlerts = 7;
  for (int i = 0; i < kAlerts; ++i) {
    ASSERT_TRUE(node_.server()->ledger()->PublishSync(SampleDraft(i)).ok());
  }
  // An invalid draft is refused, and counted by its code.
  watchfloor::v1::Alert bad = SampleDraft(99);
  bad.clear_title();
  ASSERT_EQ(node_.server()->ledger()->PublishSync(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  const Samples after = Scrape(port_);
  EXPECT_EQ(Get(after, "watchfloor_alerts_published_total") -
                Get(before, "watchfloor_alerts_published_total"),
            kAlerts);
  EXPECT_EQ(Get(after, "watchfloor_publish_latency_seconds_count") -
                Get(before, "watchfloor_publish_latency_seconds_count"),
            kAlerts);
  EXPECT_GT(Get(after, "watchfloor_publish_latency_seconds_sum"), 0);
  EXPECT_EQ(Get(after, "watchfloor_alerts_refused_total{op=\"publish\",reason=\"invalid_argument\"}"),
            1);
  EXPECT_EQ(Get(after, "watchfloor_alerts_ingested_total"), 0);
  EXPECT_EQ(Get(after, "watchfloor_feed_head_sequence{origin=\"example.cz/prg1\"}"), kAlerts);
  EXPECT_GE(Get(after, "watchfloor_store_commit_batch_size_count"), 1);
  EXPECT_EQ(Get(after, "watchfloor_store_commit_batch_size_count"),
            Get(after, "watchfloor_store_commit_seconds_count"));
}

TEST_F(OpsHttpTest, UnknownPathsAre404AndOtherMethodsAre405WithNothingChanged) {
  httplib::Client c = Client();
  const Samples before = Scrape(port_);
  for (const char* path : {"/index.html", "/metrics/", "/metricsx", "/healthz/x", "/nope", "/api",
                           "/api/streams"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_EQ(r->body,
              "not found: this listener serves /, /api/stream, /api/filter, /api/federation, "
              "/api/feeds, /metrics, /healthz and /readyz\n");
  }
  auto check405 = [](const httplib::Result& r, const std::string& method, const std::string& path) {
    ASSERT_TRUE(r) << method << " " << path;
    EXPECT_EQ(r->status, 405) << method << " " << path;
    EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
    EXPECT_EQ(r->body, absl::StrCat("method ", method, " not allowed: ", path,
                                    " is read-only (GET, HEAD)\n"));
  };
  check405(c.Post("/metrics", "x", "text/plain"), "POST", "/metrics");
  check405(c.Put("/readyz", "", "text/plain"), "PUT", "/readyz");
  check405(c.Delete("/healthz"), "DELETE", "/healthz");
  check405(c.Patch("/metrics", "", "text/plain"), "PATCH", "/metrics");
  auto head = c.Head("/metrics");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
  // Nothing was written, and the node still serves.
  EXPECT_EQ(node_.StoredAlertCount(), 0);
  const Samples after = Scrape(port_);
  EXPECT_EQ(Get(after, "watchfloor_alerts_published_total"),
            Get(before, "watchfloor_alerts_published_total"));
  EXPECT_EQ(Get(after, "watchfloor_ready"), 1);
}

// A store failure that retries cannot clear stops every write: /readyz says
// why, /healthz still answers (the process serves), the metrics show it.
TEST_F(OpsHttpTest, AStoreThatFailsForGoodMakesReadyz503WithTheReason) {
  ASSERT_TRUE(node_.server()->ledger()->PublishSync(SampleDraft(1)).ok());
  sqlite3* db = nullptr;
  const std::string path = node_.config().data_dir() + "/" + node::SqliteAlertStore::kFileName;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE alerts", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  absl::StatusOr<node::PublishResult> r = node_.server()->ledger()->PublishSync(SampleDraft(2));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  const std::string store_error(node_.server()->ledger()->health().message());

  httplib::Client c = Client();
  auto readyz = c.Get("/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 503);
  EXPECT_EQ(readyz->body, absl::StrCat("not ready: the store is not writable (", store_error,
                                       "); restart the node once the cause is fixed\n"));
  auto healthz = c.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  const Samples s = Scrape(port_);
  EXPECT_EQ(Get(s, "watchfloor_ready"), 0);
  EXPECT_EQ(Get(s, "watchfloor_store_writable"), 0);
  EXPECT_EQ(Get(s, "watchfloor_alerts_published_total"), 1);
  EXPECT_EQ(Get(s, "watchfloor_alerts_refused_total{op=\"publish\",reason=\"unavailable\"}"), 1);
}

TEST(OpsHttpStartTest, ABusyPortIsUnavailableAndNothingKeepsRunning) {
  // Hold a port the way another process would.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string busy = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  TestNode node;
  node.config().mutable_http()->set_listen_address(busy);
  EXPECT_EQ(node.Start(),
            absl::UnavailableError(absl::StrCat(
                "cannot listen on http.listen_address ", busy,
                "; is another process using the port, or is the address not local?")));
  EXPECT_EQ(node.server(), nullptr);
  close(fd);
}

// The CLI refuses a non-loopback listener outside a federation before
// anything starts.
TEST(OpsHttpStartTest, ANonLoopbackAddressIsRefusedAtStartWithTheReason) {
  TempDir dir;
  ProcResult keygen = RunWatchfloor({"keygen", "--origin", "example.cz/n1", "--out", dir.Join("keys")});
  ASSERT_EQ(keygen.exit_code, 0) << keygen;
  const int grpc_port = PickFreePort();
  WriteFile(dir.Join("node.conf"),
            absl::StrCat("origin: \"example.cz/n1\"\nlisten_address: \"127.0.0.1:", grpc_port,
                         "\"\ndata_dir: \"data\"\nsigning_key_file: \"keys/signing.key\"\n"
                         "insecure_plaintext_loopback: true\n"
                         "http { listen_address: \"0.0.0.0:9400\" }\n"));
  ProcResult r = RunWatchfloor({"node", "--config", dir.Join("node.conf")});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, absl::StrCat(
                       "error: ", dir.Join("node.conf"),
                       ": config: http.listen_address 0.0.0.0:9400 is not a loopback address; "
                       "off loopback the HTTP listener serves HTTPS to members' client "
                       "certificates, checked against the roster, so it needs a federation node "
                       "(federation and tls set); otherwise use 127.0.0.1, [::1] or localhost "
                       "(or reach it through an SSH tunnel)\n"));
  EXPECT_EQ(r.out, "");
  // Nothing was created.
  EXPECT_NE(access(dir.Join("data").c_str(), F_OK), 0);
}

// ------------------------------------------------- federation, real processes

int HttpPort(TestFederation& fed, int i) {
  const std::string& a = fed.config(i).http().listen_address();
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(a.substr(a.rfind(':') + 1), &port)) << a;
  return port;
}

void EnableHttp(TestFederation& fed, int i) {
  fed.config(i).mutable_http()->set_listen_address(absl::StrCat("127.0.0.1:", PickFreePort()));
}

HealthCheckResponse::ServingStatus GrpcHealth(TestFederation& fed, int i,
                                              const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(fed.ChannelAs(&fed.member(i).client_tls, i));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  grpc::Status st = stub->Check(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return resp.status();
}

// Two `watchfloor node` processes: publish at one, gossip to the other, and
// every counter on the way moves by exactly what went through.
TEST(FederationMetricsTest, EveryLineParsesAndCountersMoveAsAlertsFlow) {
  FederationOptions options;
  options.members = 2;
  options.multi_process = true;
  TestFederation fed(options);
  ASSERT_TRUE(fed.ok());
  EnableHttp(fed, 0);
  EnableHttp(fed, 1);
  ASSERT_EQ(fed.StartAll(), absl::OkStatus());
  const int p0 = HttpPort(fed, 0), p1 = HttpPort(fed, 1);
  const std::string o0 = fed.origin(0), o1 = fed.origin(1);

  const Samples before0 = Scrape(p0), before1 = Scrape(p1);
  constexpr int kAlerts = 5;
  std::set<std::string> ids;
  for (int i = 0; i < kAlerts; ++i) {
    watchfloor::v1::PublishResponse resp;
    grpc::Status st = fed.Publish(0, SampleDraft(i), &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ids.insert(resp.id());
  }
  ASSERT_TRUE(fed.WaitForIds(ids, absl::Seconds(30), {1}));
  // The counter moves just after the commit that WaitForIds sees.
  Samples after1;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  // So do the per-peer pushed/pulled counters (the store's callbacks).
  auto arrived = [&](const Samples& s) {
    return Get(s, Peer("watchfloor_gossip_received_new_total", o0)) +
           Get(s, Peer("watchfloor_gossip_pulled_total", o0));
  };
  const double arrived_before = arrived(before1);
  do {
    after1 = Scrape(p1);
  } while ((Get(after1, "watchfloor_alerts_ingested_total") <
                Get(before1, "watchfloor_alerts_ingested_total") + kAlerts ||
            arrived(after1) < arrived_before + kAlerts) &&
           absl::Now() < deadline);
  const Samples after0 = Scrape(p0);

  EXPECT_EQ(Get(after0, "watchfloor_alerts_published_total") -
                Get(before0, "watchfloor_alerts_published_total"),
            kAlerts);
  EXPECT_EQ(Get(after1, "watchfloor_alerts_ingested_total") -
                Get(before1, "watchfloor_alerts_ingested_total"),
            kAlerts);
  EXPECT_EQ(Get(after1, "watchfloor_alerts_published_total"),
            Get(before1, "watchfloor_alerts_published_total"));
  EXPECT_EQ(Get(after1, "watchfloor_ingest_latency_seconds_count") -
                Get(before1, "watchfloor_ingest_latency_seconds_count"),
            kAlerts);
  const std::string head = absl::StrCat("watchfloor_feed_head_sequence{origin=\"", o0, "\"}");
  EXPECT_EQ(Get(after0, head), kAlerts);
  EXPECT_EQ(Get(after1, head), kAlerts);
  // Every alert reached node 1 from node 0, pushed, fetched or pulled.
  EXPECT_EQ(Get(after1, Peer("watchfloor_gossip_received_new_total", o0)) +
                Get(after1, Peer("watchfloor_gossip_pulled_total", o0)) -
                Get(before1, Peer("watchfloor_gossip_received_new_total", o0)) -
                Get(before1, Peer("watchfloor_gossip_pulled_total", o0)),
            kAlerts);
  EXPECT_GT(Get(after1, absl::StrCat("watchfloor_gossip_bytes_total{direction=\"received\",peer=\"",
                                     o0, "\"}")),
            Get(before1, absl::StrCat("watchfloor_gossip_bytes_total{direction=\"received\",peer=\"",
                                      o0, "\"}")));
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  EXPECT_GT(Get(after0, Peer("watchfloor_gossip_last_contact_seconds", o1)), now - 60);
  EXPECT_LE(Get(after0, Peer("watchfloor_gossip_last_contact_seconds", o1)), now + 1);
  EXPECT_EQ(Get(after0, Peer("watchfloor_gossip_peer_up", o1)), 1);
  EXPECT_EQ(Get(after1, Peer("watchfloor_gossip_peer_roster_version", o0)), 1);
  // Round trips over loopback mutual TLS, and the graft timeout they give:
  // 3 x the median, at least the configured 150 ms, at most 2 s.
  EXPECT_GT(Get(after0, Peer("watchfloor_gossip_peer_rtt_seconds", o1)), 0);
  EXPECT_LT(Get(after0, Peer("watchfloor_gossip_peer_rtt_seconds", o1)), 5);
  for (const Samples* s : {&after0, static_cast<const Samples*>(&after1)}) {
    EXPECT_GE(Get(*s, "watchfloor_gossip_graft_timeout_seconds"), 0.15);
    EXPECT_LE(Get(*s, "watchfloor_gossip_graft_timeout_seconds"), 2);
  }
  EXPECT_EQ(Get(after1, absl::StrCat("watchfloor_frontier_lag{origin=\"", o0, "\"}")), 0);
  for (const Samples* s : {&after0, static_cast<const Samples*>(&after1)}) {
    EXPECT_EQ(Get(*s, "watchfloor_roster_version"), 1);
    EXPECT_EQ(Get(*s, "watchfloor_roster_expired"), 0);
    EXPECT_EQ(Get(*s, "watchfloor_roster_expiry_seconds"), std::numeric_limits<double>::infinity());
    EXPECT_EQ(Get(*s, "watchfloor_ready"), 1);
    EXPECT_GT(Get(*s, "process_resident_memory_bytes"), 1 << 20);
  }
  EXPECT_GE(Get(after0, "watchfloor_checkpoints_signed_total"), 0);
  EXPECT_EQ(GrpcHealth(fed, 0, ""), HealthCheckResponse::SERVING);
}

// A node whose roster has expired keeps running on it (gossip, stores), but
// is not ready: /readyz 503 with the reason, gRPC health NOT_SERVING for the
// node and each service, watchfloor_roster_expired 1.
TEST(FederationMetricsTest, AnExpiredRosterMakesReadyz503AndHealthNotServing) {
  FederationOptions options;
  options.members = 2;
  options.multi_process = true;
  options.roster_expires_in = -absl::Minutes(10);
  TestFederation fed(options);
  ASSERT_TRUE(fed.ok());
  EnableHttp(fed, 0);
  ASSERT_EQ(fed.StartNode(0), absl::OkStatus()) << fed.LogTail(0);
  const int port = HttpPort(fed, 0);
  const int64_t expires = fed.roster_proto().expires().seconds();

  httplib::Client c("127.0.0.1", port);
  auto readyz = c.Get("/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 503);
  EXPECT_TRUE(absl::StartsWith(
      readyz->body, absl::StrCat("not ready: roster v1 expired at ",
                                 absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                                  absl::FromUnixSeconds(expires),
                                                  absl::UTCTimeZone()),
                                 " (now ")))
      << readyz->body;
  EXPECT_EQ(std::count(readyz->body.begin(), readyz->body.end(), '\n'), 1) << readyz->body;
  auto healthz = c.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  for (const std::string name : {"", "watchfloor.v1.Node", "watchfloor.v1.Federation"}) {
    EXPECT_EQ(GrpcHealth(fed, 0, name), HealthCheckResponse::NOT_SERVING) << name;
  }
  const Samples s = Scrape(port);
  EXPECT_EQ(Get(s, "watchfloor_roster_expired"), 1);
  EXPECT_EQ(Get(s, "watchfloor_roster_expiry_seconds"), expires);
  EXPECT_EQ(Get(s, "watchfloor_ready"), 0);
  EXPECT_EQ(Get(s, "watchfloor_store_writable"), 1);
  // It still takes its member's alerts: not ready is advice, not a refusal.
  EXPECT_TRUE(fed.Publish(0, SampleDraft(1)).ok());
}

}  // namespace
}  // namespace watchfloor::testing
