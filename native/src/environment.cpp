// environment.hpp's probes, the subset of bench/environment.py that needs no subprocess: /proc, /sys and /etc
// files only (nvidia-smi and nvpmodel are not run; the Jetson power mode comes from nvpmodel's status file).
#include "amf_edge/environment.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "amf_edge/text.hpp"

namespace amf_edge {
namespace {

std::optional<std::string> read_text(const std::filesystem::path& root, const std::string& path) {
    std::ifstream in(root / path.substr(1));
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) return std::nullopt;
    return s.str();
}

std::string strip(std::string s) {
    s.erase(0, s.find_first_not_of(" \t\r\n"));
    s.erase(s.find_last_not_of(" \t\r\n") + 1);
    return s;
}

std::optional<double> number(const std::string& text) {
    try {
        std::size_t used = 0;
        const double v = std::stod(text, &used);
        return used ? std::optional<double>(v) : std::nullopt;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The first value of each "key : value" line of /proc/cpuinfo (the first core's block).
std::map<std::string, std::string> cpuinfo_fields(const std::string& text) {
    std::map<std::string, std::string> fields;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        fields.emplace(strip(line.substr(0, colon)), strip(line.substr(colon + 1)));
    }
    return fields;
}

std::optional<std::string> device_tree_model(const std::filesystem::path& root) {
    for (const char* path : {"/proc/device-tree/model", "/sys/firmware/devicetree/base/model"}) {
        if (auto text = read_text(root, path)) {
            text->erase(std::remove(text->begin(), text->end(), '\0'), text->end());
            const auto model = strip(*text);
            if (!model.empty()) return model;
        }
    }
    return std::nullopt;
}

std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string cpu_model(const std::filesystem::path& root, const std::string& machine) {
    // (implementer, part) of ARM cores, whose kernels print no "model name" (ARM_CORES in environment.py)
    static const std::map<std::pair<std::string, std::string>, std::string> arm_cores = {
        {{"0x41", "0xd07"}, "ARM Cortex-A57"},    {{"0x41", "0xd08"}, "ARM Cortex-A72"},
        {{"0x41", "0xd42"}, "ARM Cortex-A78AE"},  {{"0x4e", "0x004"}, "NVIDIA Carmel"},
        {{"0x41", "0xd0c"}, "ARM Neoverse-N1"},   {{"0x41", "0xd40"}, "ARM Neoverse-V1"},
        {{"0x41", "0xd4f"}, "ARM Neoverse-V2"},   {{"0x41", "0xd81"}, "ARM Cortex-A720"}};
    auto fields = cpuinfo_fields(read_text(root, "/proc/cpuinfo").value_or(""));
    if (!fields["model name"].empty()) return fields["model name"];
    const auto core = arm_cores.find({lower(fields["CPU implementer"]), lower(fields["CPU part"])});
    std::string board = fields["Hardware"];
    if (board.empty()) board = device_tree_model(root).value_or("");
    std::string out = core != arm_cores.end() ? core->second : "";
    if (!board.empty()) out += (out.empty() ? "" : " on ") + board;
    return out.empty() ? (machine.empty() ? "unknown" : machine) : out;
}

std::optional<double> cgroup_cpu_quota(const std::filesystem::path& root) {
    std::string quota, period;
    std::istringstream v2(read_text(root, "/sys/fs/cgroup/cpu.max").value_or(""));
    if (!(v2 >> quota >> period)) {
        quota = strip(read_text(root, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us").value_or(""));
        period = strip(read_text(root, "/sys/fs/cgroup/cpu/cpu.cfs_period_us").value_or(""));
    }
    const auto q = number(quota), p = number(period);
    if (!q || !p || *p == 0 || *q <= 0) return std::nullopt;  // "max", -1 or no cgroup files: no limit
    return *q / *p;
}

std::optional<double> memory_gib(const std::filesystem::path& root) {
    std::smatch m;
    const auto text = read_text(root, "/proc/meminfo").value_or("");
    if (!std::regex_search(text, m, std::regex(R"(MemTotal:\s+(\d+)\s*kB)"))) return std::nullopt;
    return round_to(std::stod(m[1]) / double(1 << 20), 2);
}

std::string os_name(const std::filesystem::path& root, const std::string& sysname) {
    for (const char* path : {"/etc/os-release", "/usr/lib/os-release"}) {
        std::smatch m;
        const auto text = read_text(root, path).value_or("");
        if (std::regex_search(text, m, std::regex(R"((^|\n)PRETTY_NAME=("?)(.*)\2[ \t]*(\n|$))")) && m[3].length()) {
            return m[3];
        }
    }
    return sysname.empty() ? "unknown" : sysname;
}

// (id, name) of the fastest mode in /etc/nvpmodel.conf: the MAXN one (MAXN_SUPER first), else the most watts.
std::optional<std::pair<int, std::string>> max_power_mode(const std::string& conf) {
    std::vector<std::pair<int, std::string>> modes;
    const std::regex mode(R"(<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=(\S+?)\s*>)");
    for (auto it = std::sregex_iterator(conf.begin(), conf.end(), mode); it != std::sregex_iterator(); ++it) {
        modes.emplace_back(std::stoi((*it)[1]), (*it)[2]);
    }
    if (modes.empty()) return std::nullopt;
    auto upper = [](std::string s) {
        for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
        return s;
    };
    std::vector<std::pair<int, std::string>> maxn;
    for (const auto& m : modes) {
        if (upper(m.second).find("MAXN") != std::string::npos) maxn.push_back(m);
    }
    for (const auto& m : maxn) {
        if (upper(m.second).find("SUPER") != std::string::npos) return m;
    }
    if (!maxn.empty()) return maxn.front();
    auto watts = [&](const std::string& name) {
        std::smatch w;
        const auto u = upper(name);
        return std::regex_search(u, w, std::regex(R"((\d+(?:\.\d+)?)W)")) ? std::stod(w[1]) : -1.0;
    };
    return *std::max_element(modes.begin(), modes.end(),
                             [&](const auto& a, const auto& b) { return watts(a.second) < watts(b.second); });
}

}  // namespace

std::optional<std::string> l4t_version(const std::string& release) {
    std::smatch m;
    if (!std::regex_search(release, m, std::regex(R"(#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+))"))) {
        return std::nullopt;
    }
    std::string revision = m[2];
    while (!revision.empty() && revision.back() == '.') revision.pop_back();
    return std::string(m[1]) + "." + revision;
}

std::optional<std::string> proc_driver_version(const std::filesystem::path& root) {
    std::smatch m;
    const auto text = read_text(root, "/proc/driver/nvidia/version").value_or("");
    if (!std::regex_search(text, m, std::regex(R"(Kernel Module(?:\s+for\s+\S+)?\s+(\d+\.\d+(?:\.\d+)?))"))) {
        return std::nullopt;
    }
    return std::string(m[1]);
}

std::optional<std::string> cuda_version_string(int version) {
    if (version <= 0) return std::nullopt;
    return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

Json host_info(const std::filesystem::path& root) {
    utsname names{};
    const bool have_names = uname(&names) == 0;
    const std::string machine = have_names ? names.machine : "";
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    const int logical = online > 0 ? int(online) : 1;
    int usable = logical;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) usable = CPU_COUNT(&set);
    if (const auto quota = cgroup_cpu_quota(root)) usable = std::max(1, std::min(usable, int(std::ceil(*quota))));
    const auto governor = read_text(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
    const auto memory = memory_gib(root);
    return {{"cpu", cpu_model(root, machine)},
            {"cores_logical", logical},
            {"cores_usable", usable},
            {"memory_gib", memory ? Json(*memory) : Json()},
            {"os", os_name(root, have_names ? names.sysname : "")},
            {"kernel", have_names ? names.release : "unknown"},
            {"machine", machine.empty() ? "unknown" : machine},
            {"cpu_governor", governor ? Json(strip(*governor)) : Json()}};
}

std::vector<std::string> governor_warnings(const std::optional<std::string>& governor) {
    if (!governor || *governor == "performance") return {};
    return {"CPU frequency governor is '" + *governor +
            "', not 'performance': clock changes add noise to the latencies; `sudo cpupower frequency-set -g "
            "performance` for steadier numbers"};
}

Json jetson_info(const std::filesystem::path& root, std::vector<std::string>& warnings) {
    const auto release = read_text(root, "/etc/nv_tegra_release");
    const auto model = device_tree_model(root);
    const auto compatible = lower(read_text(root, "/proc/device-tree/compatible").value_or(""));
    const bool jetson_model =
        model && (lower(*model).find("jetson") != std::string::npos ||
                  (lower(*model).find("nvidia") != std::string::npos && compatible.find("tegra") != std::string::npos));
    if (!release && !jetson_model) return nullptr;

    // nvpmodel records the active mode id ("pmode:0002 fmode:...") and names the modes in its configuration
    std::optional<int> mode_id;
    std::optional<std::string> mode;
    std::smatch m;
    const auto status = read_text(root, "/var/lib/nvpmodel/status").value_or("");
    if (std::regex_search(status, m, std::regex(R"(pmode:(\d+))"))) mode_id = std::stoi(m[1]);
    const auto conf = read_text(root, "/etc/nvpmodel.conf").value_or("");
    if (mode_id) {
        const std::regex named("<\\s*POWER_MODEL\\s+ID=" + std::to_string(*mode_id) + "\\s+NAME=(\\S+?)\\s*>");
        if (std::regex_search(conf, m, named)) mode = m[1];
    }
    const auto best = max_power_mode(conf);
    if (!mode_id) {
        warnings.push_back("nvpmodel's status was not readable: the power mode is unknown; `sudo nvpmodel -m 0` (the "
                           "maximum on most boards) then `sudo jetson_clocks` for comparable numbers");
    } else if (best ? best->first != *mode_id && best->second != mode.value_or("")
                    : !(mode && mode->rfind("MAXN", 0) == 0)) {
        warnings.push_back("power mode '" + mode.value_or("?") + "' (id " + std::to_string(*mode_id) +
                           ") is not the maximum; `sudo nvpmodel -m " + std::to_string(best ? best->first : 0) +
                           "` then `sudo jetson_clocks` for comparable numbers — ESANet users measured half the FPS "
                           "without it");
    }
    const auto l4t = release ? l4t_version(*release) : std::nullopt;
    return {{"model", model.value_or("NVIDIA Jetson (model unknown)")},
            {"l4t", l4t ? Json(*l4t) : Json()},
            {"power_mode", mode ? Json(*mode) : Json()},
            {"power_mode_id", mode_id ? Json(*mode_id) : Json()}};
}

Json gpu_json(const std::optional<GpuInfo>& gpu) {
    if (!gpu) return nullptr;
    auto opt = [](const auto& v) { return v ? Json(*v) : Json(); };
    return {{"name", gpu->name},
            {"driver", opt(gpu->driver)},
            {"cuda_driver", opt(gpu->cuda_driver)},
            {"cuda_runtime", opt(gpu->cuda_runtime)},
            {"compute_capability", opt(gpu->compute_capability)},
            {"memory_mib", opt(gpu->memory_mib)},
            {"integrated", opt(gpu->integrated)},
            {"clocks", nullptr},
            {"count", opt(gpu->count)}};
}

Json environment(const std::optional<GpuInfo>& gpu, const Json& software, const std::filesystem::path& root) {
    std::vector<std::string> warnings;
    Json jetson = jetson_info(root, warnings);
    Json host = host_info(root);
    if (jetson.is_null()) {
        const auto governor = host["cpu_governor"];
        for (auto& w : governor_warnings(governor.is_string() ? std::optional<std::string>(governor.get<std::string>())
                                                               : std::nullopt)) {
            warnings.push_back(w);
        }
    }
    return {{"host", host}, {"software", software}, {"gpu", gpu_json(gpu)}, {"jetson", jetson}, {"warnings", warnings}};
}

std::optional<double> rss_mib() {
    std::ifstream in("/proc/self/statm");
    long pages = 0, resident = 0;
    if (!(in >> pages >> resident)) return std::nullopt;
    return round_to(double(resident) * double(sysconf(_SC_PAGESIZE)) / double(1 << 20), 1);
}

double peak_rss_mib() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return round_to(double(usage.ru_maxrss) / 1024.0, 1);  // KiB on Linux
}

}  // namespace amf_edge
