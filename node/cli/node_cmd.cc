#include <csignal>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"
#include "node/cli/commands.h"
#include "node/config.h"
#include "node/node_server.h"

namespace watchfloor::cli {

int NodeCommand(int argc, char** argv) {
  CommandSpec spec{
      "node", "", "Run a watchfloor node until SIGINT or SIGTERM.",
      "The config file is a text-format watchfloor.v1.NodeConfig; see\n"
      "docs/CONFIG.md. Example:\n\n"
      "  origin: \"nic.cz/prg1\"\n"
      "  listen_address: \"127.0.0.1:7400\"\n"
      "  data_dir: \"data\"\n"
      "  signing_key_file: \"keys/signing.key\"\n"
      "  insecure_plaintext_loopback: true\n",
      {{"config", "FILE", "node config file", "", false, true}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    // Block the stop signals before any thread starts, then wait for them on
    // this thread: no async-signal-unsafe work in a handler.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    WF_ASSIGN_OR_RETURN(watchfloor::v1::NodeConfig config,
                        node::LoadConfigFile(args.Get("config")));
    WF_ASSIGN_OR_RETURN(std::unique_ptr<node::NodeServer> server,
                        node::NodeServer::Start(config));
    std::printf("watchfloor node %s listening on %s (%s)\nkeyid %s\ndata %s\n",
                config.origin().c_str(), server->address().c_str(),
                config.insecure_plaintext_loopback() ? "plaintext, loopback only"
                                                      : "mutual TLS",
                server->public_key().KeyId().c_str(), config.data_dir().c_str());
    if (server->http_port() != 0) {
      const std::string& http = config.http().listen_address();
      std::printf("http %s:%d (/metrics, /healthz, /readyz)\n",
                  http.substr(0, http.rfind(':')).c_str(), server->http_port());
    }
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    std::printf("received %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
    server->Shutdown();
    server.reset();
    return absl::OkStatus();
  });
}

}  // namespace watchfloor::cli
