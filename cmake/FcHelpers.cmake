# Shared build settings: one INTERFACE target carries the warning flags, and
# fc_add_test() builds one GoogleTest binary and registers its cases with CTest.
add_library(fc_warnings INTERFACE)
target_compile_options(fc_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wno-missing-field-initializers)
add_library(fc::warnings ALIAS fc_warnings)

# fc_add_test(<name> SOURCES <src...> LIBS <lib...> [TIMEOUT <seconds>])
function(fc_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest_main fc::warnings)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30
                       PROPERTIES TIMEOUT ${ARG_TIMEOUT})
endfunction()
