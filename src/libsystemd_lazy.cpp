// libsystemd, opened the first time deathwatch needs it (a journal entry, a process's unit,
// install-unit's D-Bus calls) rather than at every start: linked in, it and the six libraries
// it pulls in were mapped and relocated by every run, 1.1 MiB of the watcher's RSS and about
// a millisecond of its start-up, on machines (containers) that have no systemd at all.
//
// Each function below has the name and type libsystemd's header gives it, so the callers are
// unchanged; it forwards to the library's own. Without libsystemd.so.0 each returns -ENOSYS
// (or nothing), which callers already treat as "no journal", "no unit".
// The header makes sd_journal_sendv a macro that adds the caller's location; both are defined here.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <dlfcn.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-login.h>

#include <cerrno>
#include <cstdarg>

namespace {

void* libsystemd() {
  static void* const handle = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
  return handle;
}

template <typename Function>
Function find(const char* name) {
  void* handle = libsystemd();
  return handle != nullptr ? reinterpret_cast<Function>(::dlsym(handle, name)) : nullptr;
}

}  // namespace

// One forwarder per function: `static` so each looks its symbol up once.
#define DEATHWATCH_FORWARD(ret, name, params, args, missing) \
  ret name params {                                          \
    static const auto real = find<ret(*) params>(#name);     \
    if (real == nullptr) return missing;                     \
    return real args;                                        \
  }

extern "C" {

DEATHWATCH_FORWARD(int, sd_journal_sendv, (const struct iovec* iov, int n), (iov, n), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_journal_sendv_with_location,
                   (const char* file, const char* line, const char* func, const struct iovec* iov, int n),
                   (file, line, func, iov, n), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_pid_get_cgroup, (pid_t pid, char** cgroup), (pid, cgroup), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_pid_get_unit, (pid_t pid, char** unit), (pid, unit), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_pid_get_user_unit, (pid_t pid, char** unit), (pid, unit), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_bus_open_system, (sd_bus** bus), (bus), -ENOSYS)
DEATHWATCH_FORWARD(sd_bus*, sd_bus_flush_close_unref, (sd_bus* bus), (bus), nullptr)
DEATHWATCH_FORWARD(sd_bus_message*, sd_bus_message_unref, (sd_bus_message* m), (m), nullptr)
DEATHWATCH_FORWARD(int, sd_bus_get_property,
                   (sd_bus* bus, const char* destination, const char* path, const char* interface,
                    const char* member, sd_bus_error* ret_error, sd_bus_message** reply, const char* type),
                   (bus, destination, path, interface, member, ret_error, reply, type), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_bus_get_property_string,
                   (sd_bus* bus, const char* destination, const char* path, const char* interface,
                    const char* member, sd_bus_error* ret_error, char** ret),
                   (bus, destination, path, interface, member, ret_error, ret), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_bus_get_property_trivial,
                   (sd_bus* bus, const char* destination, const char* path, const char* interface,
                    const char* member, sd_bus_error* ret_error, char type, void* ret_ptr),
                   (bus, destination, path, interface, member, ret_error, type, ret_ptr), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_bus_message_enter_container, (sd_bus_message* m, char type, const char* contents),
                   (m, type, contents), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_bus_message_exit_container, (sd_bus_message* m), (m), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_bus_message_read_strv, (sd_bus_message* m, char*** l), (m, l), -ENOSYS)
DEATHWATCH_FORWARD(int, sd_bus_message_skip, (sd_bus_message* m, const char* types), (m, types), -ENOSYS)

void sd_bus_error_free(sd_bus_error* e) {
  static const auto real = find<void (*)(sd_bus_error*)>("sd_bus_error_free");
  if (real != nullptr) real(e);
}

// The variadic two, through their va_list forms.
int sd_bus_message_read(sd_bus_message* m, const char* types, ...) {
  static const auto real = find<int (*)(sd_bus_message*, const char*, va_list)>("sd_bus_message_readv");
  if (real == nullptr) return -ENOSYS;
  va_list ap;
  va_start(ap, types);
  const int r = real(m, types, ap);
  va_end(ap);
  return r;
}

int sd_bus_call_method(sd_bus* bus, const char* destination, const char* path, const char* interface,
                       const char* member, sd_bus_error* ret_error, sd_bus_message** reply, const char* types,
                       ...) {
  static const auto real =
      find<int (*)(sd_bus*, const char*, const char*, const char*, const char*, sd_bus_error*, sd_bus_message**,
                   const char*, va_list)>("sd_bus_call_methodv");
  if (real == nullptr) return -ENOSYS;
  va_list ap;
  va_start(ap, types);
  const int r = real(bus, destination, path, interface, member, ret_error, reply, types, ap);
  va_end(ap);
  return r;
}

}  // extern "C"
