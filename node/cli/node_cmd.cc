#include <csignal>
#include <cstdio>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"
#include "log/log.h"
#include "node/cli/commands.h"
#include "node/config.h"
#include "node/library_log.h"
#include "node/node_server.h"

namespace watchfloor::cli {
namespace {

// A usage error (exit code 2) naming the flag and what it takes.
absl::Status UsageError(absl::string_view flag, const absl::Status& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("usage: flag ", flag, ": ", why.message(), "; see 'watchfloor node --help'"));
}

}  // namespace

int NodeCommand(int argc, char** argv) {
  CommandSpec spec{
      "node", "", "Run a watchfloor node until SIGINT or SIGTERM.",
      "The config file is a text-format watchfloor.v1.NodeConfig; see\n"
      "docs/CONFIG.md. Example:\n\n"
      "  origin: \"nic.cz/prg1\"\n"
      "  listen_address: \"127.0.0.1:7400\"\n"
      "  data_dir: \"data\"\n"
      "  signing_key_file: \"keys/signing.key\"\n"
      "  insecure_plaintext_loopback: true\n\n"
      "While it runs, the node writes one structured log line per event to\n"
      "stderr (time, level, component, event, then the event's fields; see\n"
      "docs/OPERATIONS.md \"Logs\"), and prints its address to stdout.\n"
      "Errors before it starts are 'error: ...' lines, exit code 1.\n",
      {{"config", "FILE", "node config file", "", false, true},
       {"log-level", "LEVEL",
        "least level logged: debug, info, warn or error (overrides the config's "
        "logging.level; default info)",
        "", false, false},
       {"log-format", "FORMAT",
        "json (one object per line) or logfmt (overrides the config's logging.format; "
        "default json)",
        "", false, false}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    // Block the stop signals before any thread starts, then wait for them on
    // this thread: no async-signal-unsafe work in a handler.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    // Flags first: a bad one is a usage error before the config is read.
    std::optional<log::Level> flag_level;
    std::optional<log::Format> flag_format;
    if (args.Has("log-level")) {
      absl::StatusOr<log::Level> l = log::ParseLevel(args.Get("log-level"));
      if (!l.ok()) return UsageError("--log-level", l.status());
      flag_level = *l;
    }
    if (args.Has("log-format")) {
      absl::StatusOr<log::Format> f = log::ParseFormat(args.Get("log-format"));
      if (!f.ok()) return UsageError("--log-format", f.status());
      flag_format = *f;
    }
    WF_ASSIGN_OR_RETURN(watchfloor::v1::NodeConfig config,
                        node::LoadConfigFile(args.Get("config")));
    // CheckConfig accepted the config's names.
    log::Options options;
    if (!config.logging().level().empty()) {
      options.min_level = *log::ParseLevel(config.logging().level());
    }
    if (!config.logging().format().empty()) {
      options.format = *log::ParseFormat(config.logging().format());
    }
    if (flag_level.has_value()) options.min_level = *flag_level;
    if (flag_format.has_value()) options.format = *flag_format;
    log::Configure(options);
    node::RouteLibraryLogs();
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
    // After the banner: scripts read the banner from the first line of a
    // log that holds stdout and stderr both.
    log::Info("node", "node_started",
              {{"origin", config.origin()},
               {"address", server->address()},
               {"transport", config.insecure_plaintext_loopback() ? "plaintext" : "mutual_tls"},
               {"keyid", server->public_key().KeyId()},
               {"data_dir", config.data_dir()},
               {"http_port", server->http_port()},
               {"federation", config.has_federation()},
               {"log_level", log::LevelName(options.min_level)}});
    int sig = 0;
    sigwait(&stop, &sig);
    const char* signal_name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    std::printf("received %s, shutting down\n", signal_name);
    std::fflush(stdout);
    log::Info("node", "node_stopping", {{"signal", signal_name}});
    server->Shutdown();
    server.reset();
    log::Info("node", "node_stopped");
    return absl::OkStatus();
  });
}

}  // namespace watchfloor::cli
