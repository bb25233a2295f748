#include "certs/proto_check.h"

#include <cstdint>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/unknown_field_set.h"

namespace watchfloor::certs {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::UnknownField;

// protobuf's default recursion limit (io::CodedInputStream).
constexpr int kMaxDepth = 100;

std::string Join(absl::string_view path, absl::string_view name) {
  if (path.empty()) return std::string(name);
  return absl::StrCat(path, ".", name);
}

const char* WireTypeName(int wire_type) {
  switch (wire_type) {
    case 0: return "varint";
    case 1: return "fixed64";
    case 2: return "length-delimited";
    case 3: return "start-group";
    case 5: return "fixed32";
    default: return "invalid";
  }
}

// ---------------------------------------------------------- parse failures

// A failure at byte `at` of the message at `path`.
std::string At(absl::string_view path, size_t at, absl::string_view what) {
  return path.empty() ? absl::StrCat("byte ", at, ": ", what)
                      : absl::StrCat(path, ", byte ", at, ": ", what);
}

bool ReadVarint(absl::string_view data, size_t* pos, uint64_t* out) {
  uint64_t v = 0;
  for (int i = 0; i < 10; ++i) {
    if (*pos >= data.size()) return false;
    const uint8_t b = static_cast<uint8_t>(data[(*pos)++]);
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      *out = v;
      return true;
    }
  }
  return false;
}

// The wire type a field's values are written with (packed repeated scalars
// may also come length-delimited).
int DeclaredWireType(const FieldDescriptor& f) {
  switch (f.type()) {
    case FieldDescriptor::TYPE_DOUBLE:
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED64:
      return 1;
    case FieldDescriptor::TYPE_FLOAT:
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_SFIXED32:
      return 5;
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
    case FieldDescriptor::TYPE_MESSAGE:
      return 2;
    case FieldDescriptor::TYPE_GROUP:
      return 3;
    default:
      return 0;
  }
}

class Walker {
 public:
  // Walks one message of `type` (nullptr: the contents of an unknown group,
  // up to its end tag `group_end`). Returns the failure, or "".
  std::string Walk(const Descriptor* type, absl::string_view data, size_t* pos,
                   const std::string& path, int depth, int group_end) {
    std::map<int, int> seen;  // occurrences of repeated message fields
    while (*pos < data.size()) {
      const size_t at = *pos;
      uint64_t tag = 0;
      if (!ReadVarint(data, pos, &tag)) {
        return At(path, at, "the message ends inside a tag, or a tag is longer than 10 bytes");
      }
      if (tag > 0xffffffffu) return At(path, at, "a tag is larger than 32 bits");
      const int number = static_cast<int>(tag >> 3);
      const int wire_type = static_cast<int>(tag & 7);
      if (number == 0) return At(path, at, "field number 0 is invalid");
      if (wire_type == 6 || wire_type == 7) {
        return At(path, at, absl::StrCat("invalid wire type ", wire_type, " (field ", number, ")"));
      }
      if (wire_type == 4) {
        if (number == group_end) {
          ended_group_ = true;
          return "";
        }
        return At(path, at, absl::StrCat("an end-group tag of field ", number,
                                         " without its start-group"));
      }
      const FieldDescriptor* f = type == nullptr ? nullptr : type->FindFieldByNumber(number);
      const std::string name =
          f == nullptr ? absl::StrCat("field ", number)
                       : absl::StrCat("field ", number, " (", f->name(), ")");
      switch (wire_type) {
        case 0: {
          uint64_t ignored;
          if (!ReadVarint(data, pos, &ignored)) {
            return At(path, at, absl::StrCat(name, ": the varint is truncated or longer than 10 bytes"));
          }
          break;
        }
        case 1:
        case 5: {
          const size_t n = wire_type == 1 ? 8 : 4;
          if (data.size() - *pos < n) {
            return At(path, at, absl::StrCat(name, " needs ", n, " bytes but ",
                                             data.size() - *pos, " remain"));
          }
          *pos += n;
          break;
        }
        case 3: {
          if (depth + 1 > kMaxDepth) return At(path, at, "groups nest deeper than 100");
          std::string e = Walk(nullptr, data, pos, path, depth + 1, number);
          if (!e.empty()) return e;
          if (!ended_group_) {
            return At(path, at, absl::StrCat(name, ": the group has no end-group tag"));
          }
          ended_group_ = false;
          break;
        }
        case 2: {
          uint64_t len = 0;
          if (!ReadVarint(data, pos, &len)) {
            return At(path, at, absl::StrCat(name, ": its length is truncated"));
          }
          if (len > data.size() - *pos) {
            return At(path, at, absl::StrCat(name, " declares ", len, " bytes but ",
                                             data.size() - *pos, " remain"));
          }
          absl::string_view sub = data.substr(*pos, len);
          *pos += len;
          if (f == nullptr) break;  // unknown: kept as bytes
          std::string e = Nested(*f, sub, path, depth, &seen);
          if (!e.empty()) return e;
          break;
        }
      }
    }
    return "";  // for a group, the caller reports the missing end tag
  }

  // Set when a group walk stopped at its end tag.
  bool ended_group_ = false;

 private:
  std::string Nested(const FieldDescriptor& f, absl::string_view sub,
                     const std::string& path, int depth, std::map<int, int>* seen) {
    std::string where = Join(path, f.name());
    if (f.is_repeated()) absl::StrAppend(&where, "[", (*seen)[f.number()]++, "]");
    if (f.type() == FieldDescriptor::TYPE_MESSAGE) {
      if (depth + 1 > kMaxDepth) return absl::StrCat(where, ": messages nest deeper than 100");
      size_t pos = 0;
      return Walk(f.message_type(), sub, &pos, where, depth + 1, 0);
    }
    if (f.type() == FieldDescriptor::TYPE_STRING &&
        f.file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3 &&
        !google::protobuf::internal::IsStructurallyValidUTF8(sub.data(),
                                                             static_cast<int>(sub.size()))) {
      return absl::StrCat(where, ": invalid UTF-8 in a string field");
    }
    if (f.is_repeated() && f.is_packable()) {
      const int wt = DeclaredWireType(f);
      size_t pos = 0;
      while (pos < sub.size()) {
        if (wt == 0) {
          uint64_t ignored;
          if (!ReadVarint(sub, &pos, &ignored)) {
            return absl::StrCat(where, ": a packed varint is truncated");
          }
        } else {
          const size_t n = wt == 1 ? 8 : 4;
          if (sub.size() - pos < n) return absl::StrCat(where, ": a packed value is truncated");
          pos += n;
        }
      }
    }
    return "";
  }
};

// ---------------------------------------------------------- unknown fields

std::string UnknownFieldText(const Descriptor& type, const UnknownField& u) {
  int wire_type = 0;
  switch (u.type()) {
    case UnknownField::TYPE_VARINT: wire_type = 0; break;
    case UnknownField::TYPE_FIXED64: wire_type = 1; break;
    case UnknownField::TYPE_LENGTH_DELIMITED: wire_type = 2; break;
    case UnknownField::TYPE_GROUP: wire_type = 3; break;
    case UnknownField::TYPE_FIXED32: wire_type = 5; break;
  }
  if (const FieldDescriptor* f = type.FindFieldByNumber(u.number())) {
    return absl::StrCat("field ", u.number(), " (", f->name(), ") has wire type ",
                        WireTypeName(wire_type), "; it is declared ", f->type_name());
  }
  return absl::StrCat("unknown field ", u.number(), " (", WireTypeName(wire_type), ")");
}

absl::Status CheckUnknown(const Message& m, const std::string& path) {
  const Reflection* r = m.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown = r->GetUnknownFields(m);
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", UnknownFieldText(*m.GetDescriptor(), unknown.field(0))));
  }
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (!f->is_repeated()) {
      absl::Status st = CheckUnknown(r->GetMessage(m, f), Join(path, f->name()));
      if (!st.ok()) return st;
      continue;
    }
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      absl::Status st = CheckUnknown(r->GetRepeatedMessage(m, f, i),
                                     absl::StrCat(Join(path, f->name()), "[", i, "]"));
      if (!st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

google::protobuf::LogHandler* previous_log_handler = nullptr;

void FilteringLogHandler(google::protobuf::LogLevel level, const char* filename, int line,
                         const std::string& message) {
  if (message.find("contains invalid UTF-8 data when parsing a protocol buffer") !=
      std::string::npos) {
    return;
  }
  if (previous_log_handler != nullptr) previous_log_handler(level, filename, line, message);
}

}  // namespace

absl::Status CheckNoUnknownFields(const Message& message, absl::string_view path) {
  return CheckUnknown(message, std::string(path));
}

std::string DescribeParseFailure(const Descriptor& type, absl::string_view bytes) {
  Walker walker;
  size_t pos = 0;
  return walker.Walk(&type, bytes, &pos, "", 0, 0);
}

absl::Status ParseFailure(const Descriptor& type, absl::string_view bytes,
                          absl::string_view what) {
  std::string why = DescribeParseFailure(type, bytes);
  if (why.empty()) why = "not a valid encoding of it";
  return absl::InvalidArgumentError(
      absl::StrCat(what, " could not be parsed as ", type.full_name(), ": ", why));
}

absl::Status ParseStrictly(absl::string_view bytes, absl::string_view what, Message* message) {
  if (message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::OkStatus();
  }
  return ParseFailure(*message->GetDescriptor(), bytes, what);
}

void InstallProtobufLogFilter() {
  static std::once_flag once;
  std::call_once(once, [] {
    previous_log_handler = google::protobuf::SetLogHandler(&FilteringLogHandler);
  });
}

}  // namespace watchfloor::certs
