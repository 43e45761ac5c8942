// The machine a benchmark ran on, as the report's `environment` (bench/environment.py is the Python twin):
// host (CPU, cores, memory, OS), software versions, the GPU, and on a Jetson its model, L4T release and power
// mode, plus warnings for settings that make numbers incomparable. Files are read under `root`, so tests fake
// a Jetson on a desktop; every probe is guarded: what cannot be read is null, never an error.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "amf_edge/json.hpp"

namespace amf_edge {

// What CUDA says about the GPU (the CUDA library fills it; the core library only writes it out).
struct GpuInfo {
    std::string name;
    std::optional<std::string> driver;              // the kernel module's version (/proc/driver/nvidia/version)
    std::optional<std::string> cuda_driver;         // "12.6": the CUDA version the driver supports
    std::optional<std::string> cuda_runtime;        // "12.6": the CUDA runtime this program uses
    std::optional<std::string> compute_capability;  // "8.7"
    std::optional<double> memory_mib;
    std::optional<bool> integrated;
    std::optional<int> count;                       // CUDA devices visible
};

Json host_info(const std::filesystem::path& root = "/");
// null except on a Jetson; appends what to fix (power mode) to `warnings`.
Json jetson_info(const std::filesystem::path& root, std::vector<std::string>& warnings);
std::vector<std::string> governor_warnings(const std::optional<std::string>& governor);
Json gpu_json(const std::optional<GpuInfo>& gpu);
// {"host", "software", "gpu", "jetson", "warnings"}.
Json environment(const std::optional<GpuInfo>& gpu, const Json& software, const std::filesystem::path& root = "/");

// "36.4.0" from "# R36 (release), REVISION: 4.0, GCID: ..."
std::optional<std::string> l4t_version(const std::string& release);
// The NVIDIA kernel module's version from /proc/driver/nvidia/version.
std::optional<std::string> proc_driver_version(const std::filesystem::path& root = "/");
// "12.6" from CUDA's 12060; nullopt for 0 (no driver).
std::optional<std::string> cuda_version_string(int version);

std::optional<double> rss_mib();  // resident memory now, MiB (Linux /proc)
double peak_rss_mib();            // peak resident memory of the process so far, MiB

}  // namespace amf_edge
