# FindTensorRT: NVIDIA TensorRT's runtime library (nvinfer) and headers, for the native runner.
#
# Where to look (all optional, all cache variables or -D options):
#   TensorRT_ROOT         an install prefix: a tarball's TensorRT-10.x.y.z/ (include/, lib/), /usr, ...
#                         (also read from the environment variable of the same name)
#   TensorRT_INCLUDE_DIR  the directory holding NvInfer.h (overrides the search)
#   TensorRT_LIBRARY      the nvinfer library (overrides the search)
# Debian packages and JetPack install into /usr/include/<arch> and /usr/lib/<arch>, which CMake searches by
# itself (CMAKE_LIBRARY_ARCHITECTURE), so a Jetson needs none of these.
#
# Results:
#   TensorRT_FOUND, TensorRT_VERSION (from NvInferVersion.h: "10.3.0.26"), TensorRT_VERSION_MAJOR,
#   TensorRT_INCLUDE_DIR, TensorRT_LIBRARY
#   TensorRT::headers     interface target with the include directory (exists whenever the headers were found,
#                         so code can be compiled against a header set without libraries)
#   TensorRT::nvinfer     the library, linking TensorRT::headers (when both were found)

# A changed TensorRT_ROOT starts the search afresh instead of keeping the previous root's cached results.
if(DEFINED _TensorRT_ROOT_SEARCHED AND NOT "${_TensorRT_ROOT_SEARCHED}" STREQUAL "${TensorRT_ROOT}")
  unset(TensorRT_INCLUDE_DIR CACHE)
  unset(TensorRT_LIBRARY CACHE)
endif()
set(_TensorRT_ROOT_SEARCHED "${TensorRT_ROOT}" CACHE INTERNAL "TensorRT_ROOT of the last search")

set(TensorRT_ROOT "${TensorRT_ROOT}" CACHE PATH "TensorRT install prefix (include/ and lib/ below it)")
set(_TensorRT_HINTS ${TensorRT_ROOT} $ENV{TensorRT_ROOT})

find_path(TensorRT_INCLUDE_DIR NvInfer.h
          HINTS ${_TensorRT_HINTS}
          PATH_SUFFIXES include
          DOC "directory holding NvInfer.h")
find_library(TensorRT_LIBRARY
             NAMES nvinfer nvinfer_11 nvinfer_10  # Windows names carry the major version
             HINTS ${_TensorRT_HINTS}
             PATH_SUFFIXES lib lib64 lib/x64
             DOC "TensorRT's nvinfer library")
mark_as_advanced(TensorRT_INCLUDE_DIR TensorRT_LIBRARY)

# NV_TENSORRT_MAJOR is a number up to 10.10 and a macro naming another (TRT_MAJOR_ENTERPRISE) since.
function(_tensorrt_version_part header part out)
  if(header MATCHES "#define[ \t]+NV_TENSORRT_${part}[ \t]+([A-Za-z0-9_]+)")
    set(value "${CMAKE_MATCH_1}")
    if(NOT value MATCHES "^[0-9]+$" AND header MATCHES "#define[ \t]+${value}[ \t]+([0-9]+)")
      set(value "${CMAKE_MATCH_1}")
    endif()
    if(value MATCHES "^[0-9]+$")
      set(${out} "${value}" PARENT_SCOPE)
      return()
    endif()
  endif()
  set(${out} "" PARENT_SCOPE)
endfunction()

unset(TensorRT_VERSION)
if(TensorRT_INCLUDE_DIR AND EXISTS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h")
  file(READ "${TensorRT_INCLUDE_DIR}/NvInferVersion.h" _TensorRT_version_header)
  _tensorrt_version_part("${_TensorRT_version_header}" MAJOR TensorRT_VERSION_MAJOR)
  _tensorrt_version_part("${_TensorRT_version_header}" MINOR TensorRT_VERSION_MINOR)
  _tensorrt_version_part("${_TensorRT_version_header}" PATCH TensorRT_VERSION_PATCH)
  _tensorrt_version_part("${_TensorRT_version_header}" BUILD TensorRT_VERSION_BUILD)
  if(NOT "${TensorRT_VERSION_MAJOR}" STREQUAL "")
    set(TensorRT_VERSION "${TensorRT_VERSION_MAJOR}.${TensorRT_VERSION_MINOR}.${TensorRT_VERSION_PATCH}")
    if(NOT "${TensorRT_VERSION_BUILD}" STREQUAL "")
      string(APPEND TensorRT_VERSION ".${TensorRT_VERSION_BUILD}")
    endif()
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TensorRT
                                  REQUIRED_VARS TensorRT_LIBRARY TensorRT_INCLUDE_DIR
                                  VERSION_VAR TensorRT_VERSION)

if(TensorRT_INCLUDE_DIR AND NOT TARGET TensorRT::headers)
  add_library(TensorRT::headers INTERFACE IMPORTED)
  set_target_properties(TensorRT::headers PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${TensorRT_INCLUDE_DIR}")
endif()
if(TensorRT_FOUND AND NOT TARGET TensorRT::nvinfer)
  add_library(TensorRT::nvinfer UNKNOWN IMPORTED)
  set_target_properties(TensorRT::nvinfer PROPERTIES
                        IMPORTED_LOCATION "${TensorRT_LIBRARY}"
                        INTERFACE_LINK_LIBRARIES TensorRT::headers)
endif()
