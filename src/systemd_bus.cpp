#include "deathwatch/systemd_bus.h"

#include <systemd/sd-bus.h>

#include <cstdlib>
#include <memory>

namespace deathwatch {

namespace {

constexpr const char* kDestination = "org.freedesktop.systemd1";

struct BusUnref {
  void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
struct MessageUnref {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
using Bus = std::unique_ptr<sd_bus, BusUnref>;
using Message = std::unique_ptr<sd_bus_message, MessageUnref>;

// sd_bus_error owns its strings; freed on every path.
struct BusError {
  sd_bus_error e = SD_BUS_ERROR_NULL;
  ~BusError() { sd_bus_error_free(&e); }
  SysError describe(const std::string& what, int r) const {
    return SysError{what + (e.message != nullptr ? std::string(": ") + e.message : ""), e.message != nullptr ? 0 : -r};
  }
};

std::vector<std::string> take_strv(char** strv) {
  std::vector<std::string> out;
  if (strv == nullptr) return out;
  for (char** s = strv; *s != nullptr; ++s) {
    out.emplace_back(*s);
    std::free(*s);
  }
  std::free(strv);
  return out;
}

Result<std::string> string_property(sd_bus* bus, const std::string& path, const char* interface, const char* name) {
  BusError error;
  char* value = nullptr;
  const int r = sd_bus_get_property_string(bus, kDestination, path.c_str(), interface, name, &error.e, &value);
  if (r < 0) return error.describe(std::string("D-Bus property ") + name, r);
  std::string out(value);
  std::free(value);
  return out;
}

Result<bool> bool_property(sd_bus* bus, const std::string& path, const char* interface, const char* name) {
  BusError error;
  int value = 0;
  const int r = sd_bus_get_property_trivial(bus, kDestination, path.c_str(), interface, name, &error.e, 'b', &value);
  if (r < 0) return error.describe(std::string("D-Bus property ") + name, r);
  return value != 0;
}

// ExecStartEx: a(sasasttttuii) = (path, argv, flags, 4 timestamps, pid, code, status).
Result<std::vector<ExecCommand>> exec_start(sd_bus* bus, const std::string& path) {
  BusError error;
  sd_bus_message* raw = nullptr;
  int r = sd_bus_get_property(bus, kDestination, path.c_str(), "org.freedesktop.systemd1.Service", "ExecStartEx",
                              &error.e, &raw, "a(sasasttttuii)");
  if (r < 0) return error.describe("D-Bus property ExecStartEx", r);
  Message reply(raw);
  std::vector<ExecCommand> out;
  const SysError malformed{"D-Bus property ExecStartEx: unexpected contents", 0};
  if (sd_bus_message_enter_container(reply.get(), 'a', "(sasasttttuii)") < 0) return malformed;
  while ((r = sd_bus_message_enter_container(reply.get(), 'r', "sasasttttuii")) > 0) {
    ExecCommand cmd;
    const char* exe = nullptr;
    char** argv = nullptr;
    char** flags = nullptr;
    if (sd_bus_message_read(reply.get(), "s", &exe) < 0 || sd_bus_message_read_strv(reply.get(), &argv) < 0) return malformed;
    cmd.path = exe;
    cmd.argv = take_strv(argv);
    if (sd_bus_message_read_strv(reply.get(), &flags) < 0) return malformed;
    cmd.flags = take_strv(flags);
    if (sd_bus_message_skip(reply.get(), "ttttuii") < 0 || sd_bus_message_exit_container(reply.get()) < 0) return malformed;
    out.push_back(std::move(cmd));
  }
  if (r < 0 || sd_bus_message_exit_container(reply.get()) < 0) return malformed;
  return out;
}

}  // namespace

Result<ServiceDescription> describe_service_over_bus(const std::string& unit) {
  sd_bus* raw_bus = nullptr;
  int r = sd_bus_open_system(&raw_bus);
  if (r < 0) return SysError{"cannot connect to the system bus", -r};
  Bus bus(raw_bus);
  // LoadUnit gives the object path, loading the unit if it is not loaded yet.
  BusError error;
  sd_bus_message* raw_reply = nullptr;
  r = sd_bus_call_method(bus.get(), kDestination, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                         "LoadUnit", &error.e, &raw_reply, "s", unit.c_str());
  if (r < 0) return error.describe("systemd LoadUnit " + unit, r);
  Message reply(raw_reply);
  const char* object = nullptr;
  if (sd_bus_message_read(reply.get(), "o", &object) < 0) return SysError{"systemd LoadUnit: no object path", 0};
  const std::string path = object;
  ServiceDescription d;
  auto load = string_property(bus.get(), path, "org.freedesktop.systemd1.Unit", "LoadState");
  if (!load) return load.error();
  d.load_state = *load;
  if (d.load_state != "loaded") return d;
  auto type = string_property(bus.get(), path, "org.freedesktop.systemd1.Service", "Type");
  if (!type) return type.error();
  d.type = *type;
  auto user = string_property(bus.get(), path, "org.freedesktop.systemd1.Service", "User");
  if (!user) return user.error();
  d.user = *user;
  auto dynamic = bool_property(bus.get(), path, "org.freedesktop.systemd1.Service", "DynamicUser");
  if (!dynamic) return dynamic.error();
  d.dynamic_user = *dynamic;
  auto commands = exec_start(bus.get(), path);
  if (!commands) return commands.error();
  d.exec_start = std::move(*commands);
  return d;
}

}  // namespace deathwatch
