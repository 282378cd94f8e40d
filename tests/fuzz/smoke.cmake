# The short fuzz run of `make test` (docs/SECURITY.md "Fuzzing"), as the
# ctest `fuzz_smoke` (label fuzz): tools/fuzz.sh builds four of the libFuzzer
# targets with clang-14 into <build>/fuzz (a project of its own,
# tests/fuzz/CMakeLists.txt) and runs each for CA_FUZZ_SMOKE_SECONDS over
# its seed corpus. Registered only when clang-14 and its libFuzzer runtime
# (libclang-rt-14-dev) are installed, and not in the sanitizer build (the
# fuzz build has its own ASan/UBSan). `make fuzz` runs longer.
set(CA_FUZZ_SMOKE_SECONDS 3 CACHE STRING "seconds per fuzz target in the fuzz_smoke test")
find_program(CA_FUZZ_CXX clang++-14)
set(_ca_fuzz_runtime "")
if(CA_FUZZ_CXX)
  execute_process(COMMAND ${CA_FUZZ_CXX} --print-runtime-dir OUTPUT_VARIABLE _ca_fuzz_rt_dir
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(EXISTS "${_ca_fuzz_rt_dir}/libclang_rt.fuzzer-${CMAKE_SYSTEM_PROCESSOR}.a")
    set(_ca_fuzz_runtime "${_ca_fuzz_rt_dir}")
  endif()
endif()
if(CA_SANITIZE)
  # The fuzz targets carry their own sanitizers; nothing to add here.
elseif(NOT _ca_fuzz_runtime)
  message(STATUS "fuzz_smoke test off: clang++-14 or libclang-rt-14-dev missing (make deps)")
else()
  add_test(NAME fuzz_smoke
           COMMAND ${CMAKE_SOURCE_DIR}/tools/fuzz.sh ${CMAKE_BINARY_DIR}/fuzz
                   ${CA_FUZZ_SMOKE_SECONDS}
                   # Not fuzz_http_request: the router's coroutines under
                   # ASan take minutes to compile (make fuzz runs it).
                   fuzz_change_json fuzz_peer_frame fuzz_entry_decode fuzz_auth_files
                   fuzz_yaml_config)
  # JOBS=1: ctest runs other tests beside it on the same cores.
  set_tests_properties(fuzz_smoke PROPERTIES LABELS fuzz TIMEOUT 900
                       ENVIRONMENT "JOBS=1;CXX_FUZZ=${CA_FUZZ_CXX}")
endif()
