// The certificate's `last_words` object (schema in README.md): absent facts are null.
#include "deathwatch/certificate.h"

#include <cstdio>

namespace deathwatch {

namespace {

using nlohmann::json;

template <typename T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Addresses as the certificate writes them elsewhere (signals[].fault_address): hex text.
json hex_or_null(const std::optional<std::uint64_t>& v) {
  if (!v) return nullptr;
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(*v));
  return buf;
}

json frame_json(const StackFrame& f) {
  return json{{"function", or_null(f.function)}, {"module", or_null(f.module)}, {"offset", hex_or_null(f.offset)},
              {"file", or_null(f.file)},         {"line", or_null(f.line)},     {"address", hex_or_null(f.address)}};
}

}  // namespace

json to_json(const LastWords& lw) {
  json backtrace = json::array();
  for (const auto& f : lw.backtrace) backtrace.push_back(frame_json(f));
  json thread = nullptr;
  if (lw.tid || lw.thread_name) thread = json{{"tid", or_null(lw.tid)}, {"name", or_null(lw.thread_name)}};
  json syscall = nullptr;
  if (lw.syscall)
    syscall = json{{"name", lw.syscall->name}, {"number", lw.syscall->number}, {"detail", or_null(lw.syscall->detail)}};
  json core = nullptr;
  if (lw.core) core = json{{"dumped", lw.core->dumped}, {"where", or_null(lw.core->where)}};
  json java = nullptr;
  if (lw.java) java = json{{"thread", lw.java->thread}, {"stack", lw.java->stack}, {"reason", lw.java->reason}};
  return json{{"thread", thread},
              {"backtrace", backtrace},
              {"fault_address", hex_or_null(lw.fault_address)},
              {"fault_meaning", or_null(lw.fault_meaning)},
              {"fault_mapping", or_null(lw.fault_mapping)},
              {"instruction_pointer", hex_or_null(lw.instruction_pointer)},
              {"syscall", syscall},
              {"vm_rss_kib", or_null(lw.vm_rss_kib)},
              {"vm_hwm_kib", or_null(lw.vm_hwm_kib)},
              {"threads", or_null(lw.threads)},
              {"open_fds", or_null(lw.open_fds)},
              {"core", core},
              {"java", java},
              {"captured_by", lw.captured_by.empty() ? json(nullptr) : json(lw.captured_by)},
              {"note", or_null(lw.note)}};
}

}  // namespace deathwatch
