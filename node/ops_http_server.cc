#include "node/ops_http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <atomic>
#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "certs/https_server.h"
#include "httplib.h"
#include "node/watch_page.h"

namespace watchfloor::node {
namespace {

// Requests carry no body; anything larger than this is refused (413).
constexpr size_t kMaxPayloadBytes = 4096;
// Two workers for a scrape and a probe at once, and one per page stream
// (kMaxStreams). More requests wait in the queue.
constexpr int kWorkerThreads = 8;

// Open /api/stream responses at most; the other workers stay free for
// scrapes, probes and the page's polls.
constexpr int kMaxStreams = kWorkerThreads - 2;
// How long a stream waits for alerts before the server looks at whether it is
// stopping; and how often an idle stream writes a comment, which is how a
// viewer that went away is noticed (the write after the peer closed fails,
// so within two intervals).
constexpr absl::Duration kStreamPoll = absl::Milliseconds(250);
constexpr absl::Duration kStreamKeepalive = absl::Seconds(2);

// GET /api/stream?filter=...: Server-Sent Events (node/watch_page.h).
void ServeStream(WatchPage& page, const httplib::Request& req, httplib::Response& res,
                 const std::shared_ptr<std::atomic<int>>& streams) {
  uint64_t after = 0;
  if (req.has_header("Last-Event-ID") &&
      !absl::SimpleAtoi(req.get_header_value("Last-Event-ID"), &after)) {
    after = 0;
  }
  if (streams->fetch_add(1) >= kMaxStreams) {
    streams->fetch_sub(1);
    res.status = 503;
    res.set_content(absl::StrCat("this listener serves at most ", kMaxStreams,
                                 " page streams at once; close a page and retry\n"),
                    "text/plain; charset=utf-8");
    return;
  }
  absl::StatusOr<std::shared_ptr<PageStream>> stream =
      page.OpenStream(req.get_param_value("filter"), after);
  if (!stream.ok()) {
    streams->fetch_sub(1);
    res.status = stream.status().code() == absl::StatusCode::kInvalidArgument ? 400 : 503;
    res.set_content(absl::StrCat(stream.status().message(), "\n"), "text/plain; charset=utf-8");
    return;
  }
  res.status = 200;
  if (req.method == "HEAD") {
    streams->fetch_sub(1);
    res.set_header("Content-Type", "text/event-stream");
    return;
  }
  auto last_write = std::make_shared<absl::Time>(absl::Now());
  res.set_chunked_content_provider(
      "text/event-stream",
      [stream = *std::move(stream), last_write](size_t, httplib::DataSink& sink) {
        PageStream::Chunk chunk = stream->Next(kStreamPoll);
        if (chunk.text.empty() && absl::Now() - *last_write >= kStreamKeepalive) {
          chunk.text = ": keepalive\n\n";
        }
        if (!chunk.text.empty()) {
          if (!sink.write(chunk.text.data(), chunk.text.size())) return false;
          *last_write = absl::Now();
        }
        if (chunk.end) sink.done();
        return true;
      },
      [streams](bool) { streams->fetch_sub(1); });
}

// Splits "host:port" / "[v6]:port"; false if it is neither.
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  std::string h = address.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = 0;
  if (h.empty() || !absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return false;
  }
  *host = h;
  *port = p;
  return true;
}

// The page and its API (node/watch_page.h). `streams` counts the open
// /api/stream responses, each of which holds a worker thread.
void ServePage(WatchPage& page, const httplib::Request& req, httplib::Response& res,
               const std::shared_ptr<std::atomic<int>>& streams) {
  const std::string& path = req.path;
  if (path == "/") {
    // The page loads nothing from elsewhere, and nothing may frame it.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                   "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                   "frame-ancestors 'none'");
    res.set_header("Referrer-Policy", "no-referrer");
    res.status = 200;
    res.set_content(kWatchPageHtml, "text/html; charset=utf-8");
  } else if (path == "/api/federation") {
    res.status = 200;
    res.set_content(page.FederationJson(), "application/json");
  } else if (path == "/api/feeds") {
    res.status = 200;
    res.set_content(page.FeedsJson(), "application/json");
  } else if (path == "/api/filter") {
    absl::StatusOr<std::string> canonical = WatchPage::CheckFilter(req.get_param_value("q"));
    res.status = canonical.ok() ? 200 : 400;
    res.set_content(canonical.ok() ? *canonical : std::string(canonical.status().message()),
                    "text/plain; charset=utf-8");
  } else {
    ServeStream(page, req, res, streams);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<OpsHttpServer>> OpsHttpServer::Start(
    const std::string& listen_address, Handlers handlers, const Tls* tls) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(listen_address, &host, &port)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "http.listen_address \"", listen_address, "\" must be host:port, e.g. 127.0.0.1:9400"));
  }
  std::unique_ptr<OpsHttpServer> s(new OpsHttpServer());
  if (tls == nullptr) {
    s->server_ = std::make_unique<httplib::Server>();
  } else {
    if (handlers.viewer == nullptr) {
      return absl::InvalidArgumentError("an HTTPS listener needs Handlers::viewer");
    }
    absl::Status configured;
    auto https = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
      configured = certs::ConfigureHttpsServer(&ctx, tls->cert_file, tls->key_file);
      return configured.ok();
    });
    if (!configured.ok()) return configured;
    if (!https->is_valid()) return absl::InternalError("cannot set up TLS for the HTTP listener");
    s->server_ = std::move(https);
  }
  httplib::Server& server = *s->server_;
  // cpp-httplib sets SO_REUSEPORT by default, which would let a second node
  // bind the same port and take half the scrapes.
  server.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Each alert on a page stream is one small write; Nagle's algorithm would
  // hold it back while an earlier one waits for a (delayed) ACK.
  server.set_tcp_nodelay(true);
  server.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  server.set_payload_max_length(kMaxPayloadBytes);
  server.set_read_timeout(5, 0);
  server.set_write_timeout(5, 0);
  server.set_keep_alive_timeout(5);
  // Every request is decided here, before cpp-httplib's router: it would
  // answer 404 for a known path with another method, where 405 is right.
  auto streams = std::make_shared<std::atomic<int>>(0);
  server.set_pre_routing_handler([handlers = std::move(handlers), streams](
                                     const httplib::Request& req, httplib::Response& res) {
    if (handlers.viewer != nullptr) {
      absl::StatusOr<std::string> pem = certs::PeerLeafPem(req.ssl);
      absl::StatusOr<std::string> viewer =
          pem.ok() ? handlers.viewer(*pem) : absl::StatusOr<std::string>(pem.status());
      if (!viewer.ok()) {
        res.status = 403;
        res.set_content(absl::StrCat("forbidden: ", viewer.status().message(), "\n"),
                        "text/plain; charset=utf-8");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    const std::string& path = req.path;
    const bool page = handlers.page != nullptr;
    const bool known = path == "/metrics" || path == "/healthz" || path == "/readyz" ||
                       (page && (path == "/" || path == "/api/stream" || path == "/api/filter" ||
                                 path == "/api/federation" || path == "/api/feeds"));
    if (!known) {
      res.status = 404;
      res.set_content(page ? "not found: this listener serves /, /api/stream, /api/filter, "
                             "/api/federation, /api/feeds, /metrics, /healthz and /readyz\n"
                           : "not found: this listener serves /metrics, /healthz and /readyz\n",
                      "text/plain; charset=utf-8");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content(absl::StrCat("method ", req.method, " not allowed: ", path,
                                   " is read-only (GET, HEAD)\n"),
                      "text/plain; charset=utf-8");
      return httplib::Server::HandlerResponse::Handled;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Content-Type-Options", "nosniff");
    if (path == "/metrics") {
      res.status = 200;
      res.set_content(handlers.metrics(), "text/plain; version=0.0.4; charset=utf-8");
    } else if (path == "/healthz") {
      res.status = 200;
      res.set_content("ok\n", "text/plain; charset=utf-8");
    } else if (path == "/readyz") {
      absl::Status ready = handlers.ready();
      res.status = ready.ok() ? 200 : 503;
      res.set_content(ready.ok() ? std::string("ready\n")
                                 : absl::StrCat("not ready: ", ready.message(), "\n"),
                      "text/plain; charset=utf-8");
    } else {
      ServePage(*handlers.page, req, res, streams);
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  if (port == 0) {
    s->port_ = server.bind_to_any_port(host.c_str());
  } else if (server.bind_to_port(host.c_str(), port)) {
    s->port_ = port;
  }
  if (s->port_ <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on http.listen_address ", listen_address,
        "; is another process using the port, or is the address not local?"));
  }
  s->thread_ = std::thread([&server] { server.listen_after_bind(); });
  // stop() does nothing until the loop runs, so the destructor could not end
  // a server still starting: wait for it. The socket is bound, so the loop
  // starts at once.
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (!server.is_running() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  if (!server.is_running()) {
    return absl::UnavailableError(
        absl::StrCat("the HTTP listener on ", listen_address, " did not start"));
  }
  return s;
}

OpsHttpServer::~OpsHttpServer() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace watchfloor::node
