#include "deathwatch/btf_stand_in.h"

#include <linux/btf.h>

#include <cstring>
#include <string_view>
#include <unordered_map>

namespace deathwatch {
namespace {

constexpr std::uint16_t kBtfMagic = 0xeB9F;
constexpr int kMaxShapeDepth = 16;  // pointers to prototypes of pointers...: enough for any kfunc

std::uint32_t kind_of(std::uint32_t info) { return (info >> 24) & 0x1f; }
std::uint32_t vlen_of(std::uint32_t info) { return info & 0xffff; }
std::uint32_t info_of(std::uint32_t kind, std::uint32_t vlen = 0) { return (kind << 24) | vlen; }

// Bytes a type's record takes after its struct btf_type, by kind; 0 for an unknown kind.
std::size_t extra_size(const btf_type& t) {
  const std::size_t vlen = vlen_of(t.info);
  switch (kind_of(t.info)) {
    case BTF_KIND_INT: case BTF_KIND_VAR: case BTF_KIND_DECL_TAG: return 4;
    case BTF_KIND_ARRAY: return sizeof(btf_array);
    case BTF_KIND_STRUCT: case BTF_KIND_UNION: return vlen * sizeof(btf_member);
    case BTF_KIND_ENUM: return vlen * sizeof(btf_enum);
    case BTF_KIND_FUNC_PROTO: return vlen * sizeof(btf_param);
    case BTF_KIND_DATASEC: return vlen * sizeof(btf_var_secinfo);
    case BTF_KIND_ENUM64: return vlen * 12;  // struct btf_enum64
    case BTF_KIND_PTR: case BTF_KIND_FWD: case BTF_KIND_TYPEDEF: case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST: case BTF_KIND_RESTRICT: case BTF_KIND_FUNC: case BTF_KIND_FLOAT:
    case BTF_KIND_TYPE_TAG:
      return 0;
    default:
      return SIZE_MAX;
  }
}

struct Wanted {
  std::string_view name;
  std::uint32_t kind;
  std::uint32_t kernel_id = 0;
  std::uint32_t name_off = 0;  // in the stand-in's strings
};

// The kernel's BTF, walked once: where each type's record is, and the first type of each
// wanted name and kind (as libbpf's own lookup finds it). Nothing is copied.
class KernelBtf {
 public:
  bool open(std::span<const std::uint8_t> data, std::vector<Wanted>& wanted) {
    btf_header header;
    if (data.size() < sizeof header) return false;
    std::memcpy(&header, data.data(), sizeof header);
    if (header.magic != kBtfMagic || header.version != 1 || header.hdr_len < sizeof header ||
        header.hdr_len > data.size())
      return false;
    const std::size_t body = data.size() - header.hdr_len;
    if (header.type_off > body || header.type_len > body - header.type_off || header.str_off > body ||
        header.str_len > body - header.str_off || header.str_len == 0)
      return false;
    types_ = data.subspan(header.hdr_len + header.type_off, header.type_len);
    strings_ = data.subspan(header.hdr_len + header.str_off, header.str_len);
    if (strings_.back() != 0) return false;
    offsets_.reserve(types_.size() / sizeof(btf_type));
    for (std::size_t at = 0; at < types_.size();) {
      if (types_.size() - at < sizeof(btf_type) || at % 4 != 0) return false;
      const btf_type t = type_at(at);
      const std::size_t extra = extra_size(t);
      if (extra == SIZE_MAX || extra > types_.size() - at - sizeof(btf_type)) return false;
      offsets_.push_back(static_cast<std::uint32_t>(at));
      const std::uint32_t kind = kind_of(t.info);
      if (kind == BTF_KIND_TYPEDEF || kind == BTF_KIND_FUNC) note_if_wanted(t, kind, wanted);
      at += sizeof(btf_type) + extra;
    }
    return true;
  }

  std::uint32_t count() const { return static_cast<std::uint32_t>(offsets_.size()); }  // ids 1..count
  btf_type type(std::uint32_t id) const { return type_at(offsets_[id - 1]); }
  // The i-th word after type `id`'s struct btf_type (members, parameters, ...).
  std::uint32_t extra_word(std::uint32_t id, std::size_t i) const {
    std::uint32_t word;
    std::memcpy(&word, types_.data() + offsets_[id - 1] + sizeof(btf_type) + i * 4, sizeof word);
    return word;
  }
 private:
  void note_if_wanted(const btf_type& t, std::uint32_t kind, std::vector<Wanted>& wanted) const {
    if (t.name_off >= strings_.size()) return;
    const char* name = reinterpret_cast<const char*>(strings_.data() + t.name_off);
    for (auto& w : wanted)
      if (w.kernel_id == 0 && w.kind == kind && name[0] == w.name[0] &&
          std::strncmp(name, w.name.data(), w.name.size()) == 0 && name[w.name.size()] == 0)
        w.kernel_id = count();
  }

  btf_type type_at(std::size_t at) const {
    btf_type t;
    std::memcpy(&t, types_.data() + at, sizeof t);
    return t;
  }
  std::span<const std::uint8_t> types_;
  std::span<const std::uint8_t> strings_;
  std::vector<std::uint32_t> offsets_;
};

// The stand-in's types beyond the kernel's ids: the shapes of the kfunc prototypes, as
// libbpf's compatibility check sees them (modifiers and typedefs skipped, structs and enums
// compared by kind alone, integers, pointers, arrays and prototypes followed).
class ShapeCopier {
 public:
  ShapeCopier(const KernelBtf& kernel, std::uint32_t first_id) : kernel_(kernel), next_id_(first_id) {}

  std::uint32_t copy(std::uint32_t kernel_id, int depth = 0) {
    if (kernel_id == 0 || kernel_id > kernel_.count() || depth > kMaxShapeDepth) return 0;
    if (auto found = copied_.find(kernel_id); found != copied_.end()) return found->second;
    const btf_type t = kernel_.type(kernel_id);
    const std::uint32_t kind = kind_of(t.info);
    std::vector<std::uint32_t> record;
    switch (kind) {
      case BTF_KIND_TYPEDEF: case BTF_KIND_CONST: case BTF_KIND_VOLATILE: case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        return copied_[kernel_id] = copy(t.type, depth + 1);
      case BTF_KIND_PTR:
        record = {0, info_of(BTF_KIND_PTR), copy(t.type, depth + 1)};
        break;
      case BTF_KIND_INT:
        record = {0, t.info, t.size, kernel_.extra_word(kernel_id, 0)};
        break;
      case BTF_KIND_ARRAY: {
        const std::uint32_t element = copy(kernel_.extra_word(kernel_id, 0), depth + 1);
        const std::uint32_t index = copy(kernel_.extra_word(kernel_id, 1), depth + 1);
        record = {0, info_of(BTF_KIND_ARRAY), 0, element, index, kernel_.extra_word(kernel_id, 2)};
        break;
      }
      case BTF_KIND_FUNC_PROTO: {
        const std::uint32_t params = vlen_of(t.info);
        const std::uint32_t returns = copy(t.type, depth + 1);
        record = {0, info_of(BTF_KIND_FUNC_PROTO, params), returns};
        for (std::uint32_t i = 0; i < params; ++i) {
          record.push_back(0);
          record.push_back(copy(kernel_.extra_word(kernel_id, i * 2 + 1), depth + 1));
        }
        break;
      }
      case BTF_KIND_STRUCT: case BTF_KIND_UNION: case BTF_KIND_ENUM: case BTF_KIND_ENUM64:
      case BTF_KIND_FLOAT:
        record = {0, info_of(kind), t.size};
        break;
      case BTF_KIND_FWD:
        record = {0, t.info & 0x9f000000u, 0};  // kind and kind_flag (struct or union)
        break;
      default:  // a function, variable or section is never a parameter's type
        return 0;
    }
    records_.insert(records_.end(), record.begin(), record.end());
    return copied_[kernel_id] = next_id_++;
  }

  const std::vector<std::uint32_t>& records() const { return records_; }

 private:
  const KernelBtf& kernel_;
  std::uint32_t next_id_;
  std::unordered_map<std::uint32_t, std::uint32_t> copied_;
  std::vector<std::uint32_t> records_;
};

}  // namespace

std::optional<std::vector<std::uint8_t>> make_btf_stand_in(std::span<const std::uint8_t> kernel_btf,
                                                           const BtfLookups& lookups) {
  std::vector<Wanted> wanted;
  for (const auto& name : lookups.typedefs) wanted.push_back({name, BTF_KIND_TYPEDEF});
  for (const auto& name : lookups.functions) wanted.push_back({name, BTF_KIND_FUNC});
  KernelBtf kernel;
  if (!kernel.open(kernel_btf, wanted)) return std::nullopt;

  std::string strings(1, '\0');
  // A typedef looked up must be there. Functions are candidates: those the kernel lacks are
  // left out, and libbpf finds them missing as it would in the real BTF.
  std::erase_if(wanted, [](const Wanted& w) { return w.kernel_id == 0 && w.kind == BTF_KIND_FUNC; });
  std::uint32_t last_id = 0;
  for (auto& w : wanted) {
    if (w.kernel_id == 0) return std::nullopt;
    last_id = std::max(last_id, w.kernel_id);
    w.name_off = static_cast<std::uint32_t>(strings.size());
    strings.append(w.name);
    strings.push_back('\0');
  }

  // Ids 1..last_id: filler (void pointers) but where a name is looked up; then the shapes.
  ShapeCopier shapes(kernel, last_id + 1);
  std::vector<std::uint32_t> at_id(last_id + 1, 0);  // wanted index + 1
  std::vector<std::uint32_t> type_of(wanted.size(), 0);
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    at_id[wanted[i].kernel_id] = static_cast<std::uint32_t>(i + 1);
    const btf_type t = kernel.type(wanted[i].kernel_id);
    // A typedef's target is never looked at: any type will do (the first shape, or void).
    type_of[i] = wanted[i].kind == BTF_KIND_FUNC ? shapes.copy(t.type) : 0;
  }
  std::vector<std::uint32_t> words;
  words.reserve(static_cast<std::size_t>(last_id) * 3 + shapes.records().size());
  for (std::uint32_t id = 1; id <= last_id; ++id) {
    if (at_id[id] == 0) {
      words.push_back(0);
      words.push_back(info_of(BTF_KIND_PTR));
      words.push_back(0);
      continue;
    }
    const std::size_t i = at_id[id] - 1;
    const btf_type t = kernel.type(id);
    const std::uint32_t info = wanted[i].kind == BTF_KIND_FUNC ? info_of(BTF_KIND_FUNC, vlen_of(t.info))  // linkage
                                                               : info_of(BTF_KIND_TYPEDEF);
    words.push_back(wanted[i].name_off);
    words.push_back(info);
    words.push_back(type_of[i]);
  }
  words.insert(words.end(), shapes.records().begin(), shapes.records().end());

  btf_header header{};
  header.magic = kBtfMagic;
  header.version = 1;
  header.hdr_len = sizeof header;
  header.type_off = 0;
  header.type_len = static_cast<std::uint32_t>(words.size() * 4);
  header.str_off = header.type_len;
  header.str_len = static_cast<std::uint32_t>(strings.size());
  std::vector<std::uint8_t> out(sizeof header + header.type_len + header.str_len);
  std::memcpy(out.data(), &header, sizeof header);
  std::memcpy(out.data() + sizeof header, words.data(), header.type_len);
  std::memcpy(out.data() + sizeof header + header.type_len, strings.data(), strings.size());
  return out;
}

}  // namespace deathwatch
