// Small text helpers shared by the sidecar checks, the report and the tool: shell quoting as Python's
// shlex.quote (commands printed for people to paste), Python-style reprs in messages, UTC timestamps.
#pragma once

#include <string>
#include <vector>

#include "amf_edge/json.hpp"

namespace amf_edge {

std::string shell_quote(const std::string& arg);              // shlex.quote
std::string shell_join(const std::vector<std::string>& argv);  // shlex.join
std::string py_repr(const Json& value);              // 'text', 3, None, True: as Python prints them
std::string utc_now_iso();                                     // "2026-05-09T07:35:25+00:00"
// Python's round(value, digits): correctly rounded to the nearest decimal (halfway cases of the exact binary
// value to even), so C++ and Python reports agree digit for digit.
double round_to(double value, int digits);

}  // namespace amf_edge
