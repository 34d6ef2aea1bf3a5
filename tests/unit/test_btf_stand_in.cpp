// The stand-in for the kernel's BTF (src/btf_stand_in.cpp): the names libbpf looks up at their
// kernel type ids, each kfunc with its prototype's shape, and nothing made of bad input.
// A fake "kernel" BTF is written with libbpf's own BTF writer, and the stand-in read back
// with libbpf's parser, as the loader's libbpf will read it.
#include <doctest/doctest.h>

#ifdef DEATHWATCH_HAVE_BPF
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <memory>
#include <vector>

#include "deathwatch/btf_stand_in.h"

using namespace deathwatch;

namespace {

struct BtfDeleter {
  void operator()(struct btf* b) const { btf__free(b); }
};
using Btf = std::unique_ptr<struct btf, BtfDeleter>;

// A small kernel-like BTF: filler, a typedef for a tracepoint, a kfunc taking a task pointer
// (through a typedef and a const) and a u64, returning a pointer; a second kfunc returning
// void. Ids are remembered for the checks.
struct FakeKernel {
  Btf types{btf__new_empty()};
  int trace_typedef = 0, new_func = 0, destroy_func = 0;

  FakeKernel() {
    struct btf* b = types.get();
    const int u64 = btf__add_int(b, "unsigned long long", 8, 0);
    const int task = btf__add_struct(b, "task_struct", 64);
    for (int i = 0; i < 500; ++i) btf__add_struct(b, ("filler_" + std::to_string(i)).c_str(), 8);
    const int task_ptr = btf__add_ptr(b, task);
    const int task_t = btf__add_typedef(b, "task_t", task_ptr);
    const int const_task = btf__add_const(b, task_t);
    const int proto = btf__add_func_proto(b, task_ptr);
    btf__add_func_param(b, "task", const_task);
    btf__add_func_param(b, "addr", u64);
    const int hook_proto = btf__add_func_proto(b, 0);
    btf__add_func_param(b, "__data", btf__add_ptr(b, 0));
    trace_typedef = btf__add_typedef(b, "btf_trace_sched_process_exit", btf__add_ptr(b, hook_proto));
    for (int i = 0; i < 300; ++i) btf__add_int(b, ("filler_int_" + std::to_string(i)).c_str(), 4, 0);
    new_func = btf__add_func(b, "bpf_iter_task_vma_new", BTF_FUNC_GLOBAL, proto);
    const int void_proto = btf__add_func_proto(b, 0);
    btf__add_func_param(b, "task", task_ptr);
    destroy_func = btf__add_func(b, "bpf_iter_task_vma_destroy", BTF_FUNC_GLOBAL, void_proto);
    btf__add_int(b, "last", 4, 0);
  }

  std::vector<std::uint8_t> bytes() const {
    __u32 size = 0;
    const auto* data = static_cast<const std::uint8_t*>(btf__raw_data(types.get(), &size));
    return {data, data + size};
  }
};

Btf parse(const std::vector<std::uint8_t>& bytes) {
  return Btf(btf__new(bytes.data(), static_cast<__u32>(bytes.size())));
}

}  // namespace

TEST_CASE("btf stand-in: each name at its kernel id, filler elsewhere") {
  FakeKernel kernel;
  const auto stand_in = make_btf_stand_in(
      kernel.bytes(), {{"btf_trace_sched_process_exit"}, {"bpf_iter_task_vma_new", "bpf_iter_task_vma_destroy"}});
  REQUIRE(stand_in);
  const Btf b = parse(*stand_in);
  REQUIRE(b);
  CHECK(btf__find_by_name_kind(b.get(), "btf_trace_sched_process_exit", BTF_KIND_TYPEDEF) == kernel.trace_typedef);
  CHECK(btf__find_by_name_kind(b.get(), "bpf_iter_task_vma_new", BTF_KIND_FUNC) == kernel.new_func);
  CHECK(btf__find_by_name_kind(b.get(), "bpf_iter_task_vma_destroy", BTF_KIND_FUNC) == kernel.destroy_func);
  CHECK(btf__find_by_name_kind(b.get(), "task_struct", BTF_KIND_STRUCT) < 0);  // no other name is kept
  // Filler below the highest id kept.
  CHECK(btf_is_ptr(btf__type_by_id(b.get(), 1)));
}

TEST_CASE("btf stand-in: a kfunc keeps its prototype's shape") {
  FakeKernel kernel;
  const auto stand_in = make_btf_stand_in(kernel.bytes(), {{}, {"bpf_iter_task_vma_new", "bpf_iter_task_vma_destroy"}});
  REQUIRE(stand_in);
  const Btf b = parse(*stand_in);
  REQUIRE(b);
  const btf_type* func = btf__type_by_id(b.get(), kernel.new_func);
  REQUIRE(btf_is_func(func));
  CHECK(btf_vlen(func) == BTF_FUNC_GLOBAL);  // linkage kept
  const btf_type* proto = btf__type_by_id(b.get(), func->type);
  REQUIRE(btf_is_func_proto(proto));
  REQUIRE(btf_vlen(proto) == 2);
  // Returns a pointer to a struct; the typedef and const before the task pointer are skipped.
  const btf_type* returns = btf__type_by_id(b.get(), proto->type);
  REQUIRE(btf_is_ptr(returns));
  CHECK(btf_is_struct(btf__type_by_id(b.get(), returns->type)));
  const btf_param* params = btf_params(proto);
  const btf_type* first = btf__type_by_id(b.get(), params[0].type);
  REQUIRE(btf_is_ptr(first));
  CHECK(btf_is_struct(btf__type_by_id(b.get(), first->type)));
  const btf_type* second = btf__type_by_id(b.get(), params[1].type);
  REQUIRE(btf_is_int(second));
  CHECK(second->size == 8);
  // A void return stays void.
  const btf_type* destroy = btf__type_by_id(b.get(), kernel.destroy_func);
  CHECK(btf__type_by_id(b.get(), destroy->type)->type == 0);
}

TEST_CASE("btf stand-in: a missing typedef is refused, a missing function left out") {
  FakeKernel kernel;
  CHECK_FALSE(make_btf_stand_in(kernel.bytes(), {{"btf_trace_no_such_point"}, {}}));
  const auto stand_in =
      make_btf_stand_in(kernel.bytes(), {{"btf_trace_sched_process_exit"}, {"on_process_exit", "bpf_iter_task_vma_new"}});
  REQUIRE(stand_in);
  const Btf b = parse(*stand_in);
  REQUIRE(b);
  CHECK(btf__find_by_name_kind(b.get(), "on_process_exit", BTF_KIND_FUNC) < 0);
  CHECK(btf__find_by_name_kind(b.get(), "bpf_iter_task_vma_new", BTF_KIND_FUNC) == kernel.new_func);
}

TEST_CASE("btf stand-in: malformed input makes nothing") {
  FakeKernel kernel;
  const BtfLookups lookups{{"btf_trace_sched_process_exit"}, {}};
  auto bytes = kernel.bytes();
  CHECK(make_btf_stand_in({}, lookups) == std::nullopt);
  CHECK(make_btf_stand_in(std::span(bytes).first(10), lookups) == std::nullopt);
  auto bad_magic = bytes;
  bad_magic[0] ^= 0xff;
  CHECK(make_btf_stand_in(bad_magic, lookups) == std::nullopt);
  // Cut inside the type section: the header's lengths now run past the end.
  CHECK(make_btf_stand_in(std::span(bytes).first(bytes.size() / 2), lookups) == std::nullopt);
  // An unknown kind in the first type.
  auto bad_kind = bytes;
  bad_kind[24 + 7] = 0x1f;  // info's top byte of type 1: kind 31
  CHECK(make_btf_stand_in(bad_kind, lookups) == std::nullopt);
}
#endif
