// Error types shared by every subsystem.
//
// Policy: a failure the caller can recover from is returned as a Result carrying
// {message, errno}; it cannot be silently dropped ([[nodiscard]]). A failure that ends
// deathwatch is thrown as FatalError, caught once in main and turned into the documented
// exit status (125 own failure, 126 cannot execute, 127 not found).
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace deathwatch {

struct SysError {
  std::string message;  // what was being done, e.g. "PTRACE_SEIZE 4242"
  int err = 0;          // errno at the failure, 0 when not a syscall failure

  std::string describe() const {
    return err != 0 ? message + ": " + std::strerror(err) : message;
  }
  // Builds an error from the current errno.
  static SysError from_errno(std::string what) { return SysError{std::move(what), errno}; }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(SysError error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const SysError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, SysError> v_;
};

struct Ok {};
using Status = Result<Ok>;

// Thrown only for errors that end deathwatch before or instead of the target.
class FatalError : public std::runtime_error {
 public:
  FatalError(int exit_status, const std::string& message)
      : std::runtime_error(message), exit_status_(exit_status) {}
  int exit_status() const { return exit_status_; }

 private:
  int exit_status_;
};

inline constexpr int kExitOwnFailure = 125;
inline constexpr int kExitCannotExecute = 126;
inline constexpr int kExitNotFound = 127;

}  // namespace deathwatch
