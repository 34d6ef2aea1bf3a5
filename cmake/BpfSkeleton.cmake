# Builds the eBPF objects and their libbpf skeleton headers:
#   vmlinux.h (from the running kernel's BTF) -> clang -target bpf -> llvm-strip -> bpftool gen skeleton
#   (and bpftool gen min_core_btf -> deathwatch_min_btf.h)
# and exposes them as the INTERFACE target `deathwatch_bpf_skeleton`.
# Sets DEATHWATCH_HAVE_BPF to ON when every tool (and BTF) is there, else OFF with a message.

find_program(BPF_CLANG NAMES clang clang-14)
find_program(BPF_STRIP NAMES llvm-strip llvm-strip-14)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBBPF IMPORTED_TARGET libbpf)
set(VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "kernel BTF used to generate vmlinux.h")

set(DEATHWATCH_HAVE_BPF OFF)
if(NOT DEATHWATCH_BPF)
  message(STATUS "deathwatch: eBPF backend disabled (DEATHWATCH_BPF=OFF)")
elseif(NOT BPF_CLANG OR NOT BPF_STRIP OR NOT BPFTOOL OR NOT LIBBPF_FOUND)
  message(WARNING "deathwatch: eBPF backend not built: need clang, llvm-strip, bpftool and libbpf-dev")
elseif(NOT EXISTS ${VMLINUX_BTF})
  message(WARNING "deathwatch: eBPF backend not built: no kernel BTF at ${VMLINUX_BTF}")
else()
  set(DEATHWATCH_HAVE_BPF ON)
  set(bpf_dir ${CMAKE_BINARY_DIR}/bpf)
  set(bpf_headers ${CMAKE_SOURCE_DIR}/src/bpf/deathwatch_events.h ${CMAKE_SOURCE_DIR}/src/bpf/deathwatch_common.bpf.h
                  ${CMAKE_SOURCE_DIR}/src/bpf/last_words.bpf.h)
  file(MAKE_DIRECTORY ${bpf_dir})
  add_custom_command(OUTPUT ${bpf_dir}/vmlinux.h
    COMMAND ${BPFTOOL} btf dump file ${VMLINUX_BTF} format c > ${bpf_dir}/vmlinux.h
    COMMENT "vmlinux.h from ${VMLINUX_BTF}")
  # Two objects, loaded side by side: deathwatch (the core programs) and last_words (the
  # capture of a dying process); see the comments at the top of each.
  set(bpf_objects)
  set(bpf_skeletons)
  foreach(part deathwatch last_words)
    add_custom_command(OUTPUT ${bpf_dir}/${part}.bpf.o
      COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86
              -I${bpf_dir} -I${CMAKE_SOURCE_DIR}/src/bpf -c ${CMAKE_SOURCE_DIR}/src/bpf/${part}.bpf.c -o ${bpf_dir}/${part}.bpf.o
      COMMAND ${BPF_STRIP} -g ${bpf_dir}/${part}.bpf.o
      DEPENDS ${CMAKE_SOURCE_DIR}/src/bpf/${part}.bpf.c ${bpf_headers} ${bpf_dir}/vmlinux.h
      COMMENT "eBPF object ${part}.bpf.o")
    add_custom_command(OUTPUT ${bpf_dir}/${part}.skel.h
      COMMAND ${BPFTOOL} gen skeleton ${bpf_dir}/${part}.bpf.o > ${bpf_dir}/${part}.skel.h
      DEPENDS ${bpf_dir}/${part}.bpf.o
      COMMENT "libbpf skeleton ${part}.skel.h")
    list(APPEND bpf_objects ${bpf_dir}/${part}.bpf.o)
    list(APPEND bpf_skeletons ${bpf_dir}/${part}.skel.h)
  endforeach()
  # The kernel's BTF cut down to the types and fields both objects relocate against (a few
  # KiB instead of megabytes): on the kernel it was made from, libbpf's CO-RE relocation no
  # longer scans the whole BTF once per type (18 ms of every start), and the core object
  # (raw tracepoints, no kfuncs) loads without reading the kernel's BTF at all.
  add_custom_command(OUTPUT ${bpf_dir}/deathwatch_min_btf.h
    COMMAND ${BPFTOOL} gen min_core_btf ${VMLINUX_BTF} ${bpf_dir}/deathwatch.min.btf ${bpf_objects}
    COMMAND ${CMAKE_COMMAND} -DBTF=${bpf_dir}/deathwatch.min.btf -DVMLINUX=${VMLINUX_BTF}
            -DOUT=${bpf_dir}/deathwatch_min_btf.h -P ${CMAKE_SOURCE_DIR}/cmake/EmbedMinBtf.cmake
    DEPENDS ${bpf_objects} ${CMAKE_SOURCE_DIR}/cmake/EmbedMinBtf.cmake
    COMMENT "minimal BTF for CO-RE, from ${VMLINUX_BTF}")
  add_custom_target(deathwatch_bpf_object DEPENDS ${bpf_skeletons} ${bpf_dir}/deathwatch_min_btf.h)
  add_library(deathwatch_bpf_skeleton INTERFACE)
  add_dependencies(deathwatch_bpf_skeleton deathwatch_bpf_object)
  target_include_directories(deathwatch_bpf_skeleton INTERFACE ${bpf_dir} ${CMAKE_SOURCE_DIR}/src/bpf)
  # Headers only: libbpf itself is linked through deathwatch_deps (statically by default).
  target_include_directories(deathwatch_bpf_skeleton INTERFACE ${LIBBPF_INCLUDE_DIRS})
endif()
