#pragma once
// A stand-in for the kernel's BTF, for libbpf's load of the capture object.
//
// libbpf parses the kernel's whole BTF (5.5 MB, 127,000 types: 8 ms) when an object has
// tp_btf programs or kfunc calls, but only to look up a handful of names in it: each attach
// point's `btf_trace_<name>` typedef and each kfunc, whose type ids it hands to the kernel,
// and each kfunc's prototype, which it checks against the object's declaration. (CO-RE
// relocations go to the built-in minimal BTF.) The stand-in has exactly those: every name
// looked up at its kernel type id, each kfunc with the shape of its kernel prototype, and
// filler in between. Building it is one pass over the kernel's BTF without parsing it (about
// 1 ms); libbpf parses the stand-in in about 2. The kernel checks the program against its
// own BTF, as ever; where the stand-in cannot be made, libbpf reads the real BTF.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace deathwatch {

struct BtfLookups {
  std::vector<std::string> typedefs;   // each must be there, e.g. btf_trace_signal_deliver
  std::vector<std::string> functions;  // candidates: those the kernel has are kept (kfuncs)
};

// The stand-in's bytes (a BTF blob), or nothing when `kernel_btf` is malformed or lacks one
// of the typedefs.
std::optional<std::vector<std::uint8_t>> make_btf_stand_in(std::span<const std::uint8_t> kernel_btf,
                                                           const BtfLookups& lookups);

}  // namespace deathwatch
