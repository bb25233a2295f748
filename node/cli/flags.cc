#include "node/cli/flags.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace watchfloor::cli {
namespace {

const FlagSpec* Find(const CommandSpec& spec, const std::string& name) {
  for (const FlagSpec& f : spec.flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace

std::string ParsedArgs::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end() && !it->second.empty()) return it->second.back();
  const FlagSpec* f = Find(*spec_, name);
  return f == nullptr ? std::string() : f->default_value;
}

const std::vector<std::string>& ParsedArgs::GetAll(const std::string& name) const {
  static const std::vector<std::string>* empty = new std::vector<std::string>;
  auto it = values_.find(name);
  return it == values_.end() ? *empty : it->second;
}

absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec, int argc,
                                     char** argv) {
  ParsedArgs out;
  out.spec_ = &spec;
  bool only_positional = false;
  for (int i = 0; i < argc; ++i) {
    std::string word = argv[i];
    // Before the positional check: "-h" does not start with "--".
    if (!only_positional && (word == "--help" || word == "-h")) {
      out.help_ = true;
      return out;
    }
    if (only_positional || !absl::StartsWith(word, "--") || word == "-") {
      out.positional_.push_back(word);
      continue;
    }
    if (word == "--") {
      only_positional = true;
      continue;
    }
    std::string name = word.substr(2);
    std::string value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const FlagSpec* f = Find(spec, name);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown flag --", name, " for 'watchfloor ", spec.name,
          "'; see 'watchfloor ", spec.name, " --help'"));
    }
    if (f->value_name.empty()) {
      if (has_value) {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " takes no value"));
      }
      value = "true";
    } else if (!has_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat(
            "flag --", name, " needs a value (", f->value_name, ")"));
      }
      value = argv[++i];
    }
    auto& slot = out.values_[name];
    if (!f->repeated && !slot.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " was given more than once"));
    }
    slot.push_back(value);
  }
  for (const FlagSpec& f : spec.flags) {
    if (f.required && !out.Has(f.name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flag --", f.name, " is required; see 'watchfloor ", spec.name,
          " --help'"));
    }
  }
  int n = static_cast<int>(out.positional_.size());
  if (n < spec.min_args || n > spec.max_args) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'watchfloor ", spec.name, "' takes ",
        spec.args.empty() ? "no arguments" : spec.args, ", got ", n,
        " argument(s); see 'watchfloor ", spec.name, " --help'"));
  }
  return out;
}

std::string Usage(const CommandSpec& spec) {
  std::string s = absl::StrCat("usage: watchfloor ", spec.name, " [flags]",
                               spec.args.empty() ? "" : " ", spec.args, "\n\n",
                               spec.summary, "\n\nflags:\n");
  for (const FlagSpec& f : spec.flags) {
    std::string left = absl::StrCat("  --", f.name);
    if (!f.value_name.empty()) absl::StrAppend(&left, " ", f.value_name);
    if (left.size() < 28) left.resize(28, ' ');
    else absl::StrAppend(&left, "\n                            ");
    absl::StrAppend(&s, left, f.help);
    if (!f.default_value.empty()) absl::StrAppend(&s, " (default ", f.default_value, ")");
    if (f.required) absl::StrAppend(&s, " (required)");
    if (f.repeated) absl::StrAppend(&s, " (repeatable)");
    absl::StrAppend(&s, "\n");
  }
  absl::StrAppend(&s, "  --help                    show this help\n");
  if (!spec.details.empty()) absl::StrAppend(&s, "\n", spec.details, "\n");
  return s;
}

}  // namespace watchfloor::cli
