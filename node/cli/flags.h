// A small command-line parser for `watchfloor <command> [flags] [args]`.
// Flags are --name=value or --name value; a flag declared repeated may be
// given many times. --help prints the command's usage.
#ifndef WATCHFLOOR_NODE_CLI_FLAGS_H_
#define WATCHFLOOR_NODE_CLI_FLAGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace watchfloor::cli {

// Exit codes, the same for every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct FlagSpec {
  std::string name;        // without the leading --
  std::string value_name;  // empty for a boolean flag
  std::string help;
  std::string default_value = {};
  bool repeated = false;
  bool required = false;
};

struct CommandSpec {
  std::string name;
  std::string args;     // positional usage, e.g. "ID"
  std::string summary;  // one line
  std::string details;  // paragraphs after the flags
  std::vector<FlagSpec> flags;
  int min_args = 0;
  int max_args = 0;
};

class ParsedArgs {
 public:
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  // The last value given, or the default.
  std::string Get(const std::string& name) const;
  const std::vector<std::string>& GetAll(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  bool help() const { return help_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec&, int, char**);
  const CommandSpec* spec_ = nullptr;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

// Parses argv[0..argc) (the words after the command name). INVALID_ARGUMENT
// with a message naming the bad word on unknown flags, missing values,
// missing required flags or a wrong number of arguments.
absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec, int argc,
                                     char** argv);

// The --help text of a command.
std::string Usage(const CommandSpec& spec);

}  // namespace watchfloor::cli

#endif  // WATCHFLOOR_NODE_CLI_FLAGS_H_
