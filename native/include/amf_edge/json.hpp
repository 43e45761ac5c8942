// The JSON type of the native part: nlohmann::ordered_json, which keeps keys in the order they were added,
// so reports read in the same order as the Python runner's (json.dumps keeps dict order).
#pragma once

#include <nlohmann/json.hpp>

namespace amf_edge {

using Json = nlohmann::ordered_json;

}  // namespace amf_edge
