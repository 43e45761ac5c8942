// Implementations of text.hpp; each mirrors the Python function named in the header, since the runner's
// messages and reports are compared with Python's.
#include "amf_edge/text.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "amf_edge/error.hpp"

namespace amf_edge {

const char* version() noexcept { return AMF_EDGE_VERSION; }

std::string shell_quote(const std::string& arg) {
    if (arg.empty()) return "''";
    bool safe = true;
    for (const char c : arg) {
        const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && std::string("@%+=:,./-_").find(c) == std::string::npos) safe = false;
    }
    if (safe) return arg;
    std::string out = "'";
    for (const char c : arg) out += c == '\'' ? std::string("'\"'\"'") : std::string(1, c);
    return out + "'";
}

std::string shell_join(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& arg : argv) out += (out.empty() ? "" : " ") + shell_quote(arg);
    return out;
}

std::string py_repr(const Json& value) {
    if (value.is_null()) return "None";
    if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
    if (value.is_string()) return "'" + value.get<std::string>() + "'";
    return value.dump();
}

std::string utc_now_iso() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
    return buffer;
}

double round_to(double value, int digits) {
    if (!std::isfinite(value)) return value;
    // printf rounds the exact binary value correctly (glibc), as CPython's round() does through dtoa
    char buffer[512];
    std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
    return std::strtod(buffer, nullptr);
}

}  // namespace amf_edge
