// The environment probes on fake file trees: a desktop and a Jetson, as tests/test_bench_environment.py fakes them.
#include "amf_edge/environment.hpp"
#include "test_util.hpp"

namespace {

void put(const amf_edge::test::TempDir& root, const std::string& path, const std::string& text) {
    const auto full = root.path() / path.substr(1);
    std::filesystem::create_directories(full.parent_path());
    amf_edge::test::write_file(full, text);
}

}  // namespace

TEST(Environment, DesktopHost) {
    amf_edge::test::TempDir root;
    put(root, "/proc/cpuinfo", "processor\t: 0\nmodel name\t: AMD EPYC 9654\n\nprocessor\t: 1\nmodel name\t: other\n");
    put(root, "/proc/meminfo", "MemTotal:       131811852 kB\nMemFree: 1 kB\n");
    put(root, "/etc/os-release", "NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n");
    put(root, "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "powersave\n");
    put(root, "/sys/fs/cgroup/cpu.max", "100000 100000\n");
    const auto env = amf_edge::environment(std::nullopt, {{"tensorrt", nullptr}}, root.path());
    const auto& host = env["host"];
    EXPECT_EQ(host["cpu"], "AMD EPYC 9654");
    EXPECT_EQ(host["memory_gib"], 125.71);  // 131811852 kB
    EXPECT_EQ(host["os"], "Ubuntu 22.04.4 LTS");
    EXPECT_EQ(host["cores_usable"], 1);  // the cgroup allows one CPU's worth of time
    EXPECT_EQ(host["cpu_governor"], "powersave");
    EXPECT_TRUE(env["gpu"].is_null());
    EXPECT_TRUE(env["jetson"].is_null());
    ASSERT_EQ(env["warnings"].size(), 1u);
    EXPECT_NE(env["warnings"][0].get<std::string>().find("governor is 'powersave', not 'performance'"), std::string::npos);
}

TEST(Environment, JetsonOrinInItsMaximumPowerMode) {
    amf_edge::test::TempDir root;
    put(root, "/proc/cpuinfo", "processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd42\n");
    put(root, "/proc/device-tree/model", std::string("NVIDIA Jetson AGX Orin Developer Kit") + '\0');
    put(root, "/etc/nv_tegra_release", "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic\n");
    put(root, "/etc/nvpmodel.conf", "< POWER_MODEL ID=0 NAME=MAXN >\n< POWER_MODEL ID=1 NAME=MODE_15W >\n");
    put(root, "/var/lib/nvpmodel/status", "pmode:0000 fmode:quiet\n");
    amf_edge::GpuInfo gpu;
    gpu.name = "Orin";
    gpu.compute_capability = "8.7";
    gpu.integrated = true;
    const auto env = amf_edge::environment(gpu, amf_edge::Json::object(), root.path());
    EXPECT_EQ(env["host"]["cpu"], "ARM Cortex-A78AE on NVIDIA Jetson AGX Orin Developer Kit");
    EXPECT_EQ(env["jetson"]["model"], "NVIDIA Jetson AGX Orin Developer Kit");
    EXPECT_EQ(env["jetson"]["l4t"], "36.4.0");
    EXPECT_EQ(env["jetson"]["power_mode"], "MAXN");
    EXPECT_EQ(env["jetson"]["power_mode_id"], 0);
    EXPECT_EQ(env["gpu"]["compute_capability"], "8.7");
    EXPECT_EQ(env["gpu"]["integrated"], true);
    EXPECT_TRUE(env["gpu"]["driver"].is_null());
    EXPECT_TRUE(env["warnings"].empty()) << env["warnings"].dump();
}

TEST(Environment, JetsonBelowItsMaximumPowerModeIsAWarning) {
    amf_edge::test::TempDir root;
    put(root, "/etc/nv_tegra_release", "# R36 (release), REVISION: 3.0\n");
    put(root, "/etc/nvpmodel.conf", "< POWER_MODEL ID=0 NAME=15W >\n< POWER_MODEL ID=1 NAME=7W >\n");
    put(root, "/var/lib/nvpmodel/status", "pmode:0001\n");
    const auto env = amf_edge::environment(std::nullopt, amf_edge::Json::object(), root.path());
    EXPECT_EQ(env["jetson"]["model"], "NVIDIA Jetson (model unknown)");
    ASSERT_EQ(env["warnings"].size(), 1u);
    EXPECT_NE(env["warnings"][0].get<std::string>().find("power mode '7W' (id 1) is not the maximum; `sudo nvpmodel -m 0`"),
              std::string::npos)
        << env["warnings"][0];
}

TEST(Environment, VersionStrings) {
    EXPECT_EQ(amf_edge::cuda_version_string(12060).value(), "12.6");
    EXPECT_EQ(amf_edge::cuda_version_string(13000).value(), "13.0");
    EXPECT_FALSE(amf_edge::cuda_version_string(0).has_value());
    EXPECT_EQ(amf_edge::l4t_version("# R35 (release), REVISION: 5.0.").value(), "35.5.0");
    amf_edge::test::TempDir root;
    put(root, "/proc/driver/nvidia/version", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22\n");
    EXPECT_EQ(amf_edge::proc_driver_version(root.path()).value(), "550.54.14");
    EXPECT_GT(amf_edge::rss_mib().value(), 0.0);
    EXPECT_GT(amf_edge::peak_rss_mib(), 0.0);
}
