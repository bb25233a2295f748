// The node's operations HTTP listener (config `http`, docs/OPERATIONS.md):
// GET /metrics, /healthz and /readyz over plain HTTP/1.1 on loopback, served
// by cpp-httplib (Debian's libcpp-httplib) on two threads of its own, apart
// from gRPC's, so that a scraper never competes with alert traffic for a
// thread.
//
//   GET /metrics  200, text/plain; version=0.0.4: Handlers::metrics()
//   GET /healthz  200 "ok": the process serves HTTP
//   GET /readyz   200 "ready", or 503 "not ready: <reason>" (Handlers::ready)
//   GET /         the watch-floor page, and its API (node/watch_page.h):
//   GET /api/stream?filter=F   Server-Sent Events, alerts matching F
//   GET /api/filter?q=F        200 F's canonical form, 400 the parser's error
//   GET /api/federation        JSON: peers, up/down, lag, refusals, contact
//   GET /api/feeds             JSON: per origin head, lag, checkpoint
//   other paths   404; other methods on these paths 405 (Allow: GET, HEAD)
//
// HEAD is answered like GET, without the body.
#ifndef WATCHFLOOR_NODE_OPS_HTTP_SERVER_H_
#define WATCHFLOOR_NODE_OPS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace watchfloor::node {

class WatchPage;

class OpsHttpServer {
 public:
  struct Handlers {
    // The exposition text. Called on a listener thread, one scrape at a time.
    std::function<std::string()> metrics;
    // OK when the node is ready; otherwise a status whose message is the
    // one-line reason /readyz shows.
    std::function<absl::Status()> ready;
    // The page and its API; null leaves them out (404). Must outlive the
    // server: streams in progress use it until the destructor returns.
    WatchPage* page = nullptr;
    // With TLS (Start's `tls`): who the client certificate `leaf_pem`
    // belongs to, or why it may not use the listener (answered 403 with the
    // status message, before any handler runs). Required with TLS.
    std::function<absl::StatusOr<std::string>(const std::string& leaf_pem)> viewer;
  };
  // HTTPS for a non-loopback address: the node's TLS identity, and a client
  // certificate required in every handshake (certs/https_server.h); each
  // request is then let in only if Handlers::viewer accepts that certificate.
  struct Tls {
    std::string cert_file;
    std::string key_file;
  };

  // Binds `listen_address` ("host:port" or "[v6]:port"; port 0 picks a free
  // port, see port()) and starts serving. The caller checks the address is
  // loopback unless `tls` is set (CheckConfig). UNAVAILABLE naming the
  // address if it cannot be bound (no SO_REUSEPORT: a port in use is an
  // error, as for gRPC); INVALID_ARGUMENT if it is not host:port, or naming
  // the file if the TLS certificate or key cannot be used. The handlers must
  // stay callable until the server is destroyed.
  static absl::StatusOr<std::unique_ptr<OpsHttpServer>> Start(const std::string& listen_address,
                                                              Handlers handlers,
                                                              const Tls* tls = nullptr);

  // Stops listening, waits for requests in progress, joins the threads.
  ~OpsHttpServer();

  int port() const { return port_; }

 private:
  OpsHttpServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_OPS_HTTP_SERVER_H_
