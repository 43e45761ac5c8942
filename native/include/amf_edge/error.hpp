// amf_edge::Error: the one exception type the native library throws for problems people must act on.
// As AmfEdgeError in the Python package, its message is the whole story: what went wrong, with which file,
// and how to fix it (usually the command that rebuilds or rewrites the file), so a tool prints it as is.
#pragma once

#include <stdexcept>
#include <string>

namespace amf_edge {

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The project's version (pyproject.toml's, passed in by CMake), as the report's tool.version.
const char* version() noexcept;

}  // namespace amf_edge
