// Sidecars: parsing what amf_edge.bundle.write_bundle writes, and the load checks with the Python wording
// (tests/test_bundle.py holds the same cases; tests/test_native.py compares both on one sidecar).
#include <string>

#include "amf_edge/bundle.hpp"
#include "amf_edge/error.hpp"
#include "amf_edge/text.hpp"
#include "test_util.hpp"

namespace {

using amf_edge::Device;
using amf_edge::Json;

const Device ORIN{"NVIDIA Jetson AGX Orin", "8.7", true};
const Device RTX_4090{"NVIDIA GeForce RTX 4090", "8.9", false};
const Device RTX_3090{"NVIDIA GeForce RTX 3090", "8.6", false};
const Device T4{"Tesla T4", "7.5", false};

Json sidecar(const std::string& tensorrt, const Device& device, Json options = Json::object()) {
    Json opts = {{"workspace_mib", nullptr}, {"opt_level", nullptr},      {"dla_core", nullptr},
                 {"version_compatible", false}, {"hardware_compat", nullptr}, {"fp16", false},
                 {"int8", false}};
    for (auto it = options.begin(); it != options.end(); ++it) opts[it.key()] = it.value();
    const Json meta = {{"labels", {{"names", {"wall", "floor"}}}},
                       {"precision", "fp16"},
                       {"input_contract",
                        {{"rgb", {{"dtype", "uint8"}, {"shape", {"N", 48, 64, 3}}, {"channel_order", "RGB"}}},
                         {"depth", {{"dtype", "float32"}, {"shape", {"N", 48, 64}}}},
                         {"outputs", {"labels", "confidence"}}}}};
    return {{"format", "amf-edge-engine-bundle"},
            {"format_version", 1},
            {"key", std::string(64, 'k')},
            {"engine", {{"file", "m.engine"}, {"sha256", std::string(64, 'e')}, {"layers", "m.engine.layers.json"}}},
            {"onnx", {{"path", "m.onnx"}, {"sha256", std::string(64, 'a')}, {"precision", "fp16"}}},
            {"tensorrt", tensorrt},
            {"gpu", {{"name", device.name}, {"compute_capability", device.compute_capability}, {"integrated", device.integrated}}},
            {"precision", "fp16"},
            {"options", opts},
            {"tools", {{"amf_edge", "0.1.0"}}},
            {"metadata", meta}};
}

class BundleTest : public ::testing::Test {
protected:
    amf_edge::test::TempDir dir;
    std::filesystem::path engine = dir / "m.engine";

    void write(const Json& side) { write(side.dump(1)); }
    void write(const std::string& text) {
        amf_edge::test::write_file(engine, "plan");
        amf_edge::test::write_file(dir / "m.engine.json", text);
    }
    std::string load_error(const std::string& tensorrt, const Device& device) {
        return AMF_EDGE_ERROR_MESSAGE(amf_edge::load_bundle(engine, tensorrt, device));
    }
};

}  // namespace

TEST_F(BundleTest, ParsesTheSidecarAndItsContract) {
    write(sidecar("10.3.0", ORIN));
    const auto b = amf_edge::read_bundle(engine);
    EXPECT_EQ(b.tensorrt, "10.3.0");
    EXPECT_EQ(b.device.describe(), "NVIDIA Jetson AGX Orin (compute capability 8.7)");
    EXPECT_TRUE(b.device.integrated);
    EXPECT_EQ(b.engine_sha256, std::string(64, 'e'));
    EXPECT_EQ(b.layers.value_or(""), "m.engine.layers.json");
    EXPECT_EQ(b.sidecar_path(), dir / "m.engine.json");
    const auto c = b.contract();
    EXPECT_EQ(c.height.value_or(0), 48);
    EXPECT_EQ(c.width.value_or(0), 64);
    EXPECT_EQ(c.outputs, (std::vector<std::string>{"labels", "confidence"}));
    EXPECT_EQ(c.precision, "fp16");
    EXPECT_EQ(c.channel_order, "RGB");
    EXPECT_EQ(b.rebuild_command(), "amf-edge build m.onnx -o " + engine.string());
}

TEST_F(BundleTest, RebuildCommandCarriesTheOptionsShellQuoted) {
    auto side = sidecar("10.3.0", ORIN,
                        {{"workspace_mib", 512}, {"opt_level", 4}, {"dla_core", 0}, {"version_compatible", true},
                         {"int8", true}, {"calibration", {{"path", "calib data/x"}}}});
    side["onnx"]["path"] = "it's.onnx";
    write(side);
    EXPECT_EQ(amf_edge::read_bundle(engine).rebuild_command(),
              "amf-edge build 'it'\"'\"'s.onnx' -o " + engine.string() +
                  " --workspace 512 --opt-level 4 --dla 0 --version-compatible --int8 --calib 'calib data/x'");
}

TEST_F(BundleTest, LoadChecksTensorRTVersionAndGpu) {
    write(sidecar("10.3.0", ORIN, {{"dla_core", 0}}));
    EXPECT_EQ(amf_edge::load_bundle(engine, "10.3.0", ORIN).device.name, ORIN.name);
    EXPECT_NO_THROW(amf_edge::load_bundle(engine, "10.3.0.30", ORIN));  // the library's version has a build number
    const auto both = load_error("10.16.1.11", RTX_4090);
    EXPECT_NE(both.find("built for TensorRT 10.3.0 on NVIDIA Jetson AGX Orin (compute capability 8.7), but this is "
                        "TensorRT 10.16.1.11 on NVIDIA GeForce RTX 4090 (compute capability 8.9)"),
              std::string::npos)
        << both;
    EXPECT_NE(both.find("the TensorRT version and GPU differ"), std::string::npos);
    EXPECT_NE(both.find("rebuild it here with `amf-edge build m.onnx -o "), std::string::npos);
    EXPECT_NE(both.find("--dla 0 --force`"), std::string::npos);
    const auto patch = load_error("10.3.1", ORIN);
    EXPECT_NE(patch.find("but this is TensorRT 10.3.1 on"), std::string::npos);
    EXPECT_NE(patch.find("the TensorRT version differs"), std::string::npos);
    EXPECT_NE(load_error("10.3.0", RTX_4090).find("the GPU differs"), std::string::npos);
}

TEST_F(BundleTest, VersionCompatibleEnginesLoadOnLaterRuntimesOnly) {
    const struct {
        const char *built, *running;
        bool ok;
    } cases[] = {{"10.3.0", "10.16.1.11", true},    {"10.3.0", "11.4.0.106", true}, {"10.16.1.11", "10.3.0", false},
                 {"11.4.0.106", "11.5.0", true},    {"11.4.0.106", "12.0.0", false},
                 {"11.4.0.106", "10.16.1.11", false}};
    for (const auto& c : cases) {
        write(sidecar(c.built, ORIN, {{"version_compatible", true}}));
        if (c.ok) {
            EXPECT_NO_THROW(amf_edge::load_bundle(engine, c.running, ORIN)) << c.built << " on " << c.running;
        } else {
            EXPECT_NE(load_error(c.running, ORIN).find("version-compatible: later 10.x/11.x runtimes"), std::string::npos)
                << c.built << " on " << c.running;
        }
    }
}

TEST_F(BundleTest, HardwareCompatibleEnginesLoadOnAmpereOrNewerDiscreteGpus) {
    write(sidecar("10.16.1.11", RTX_4090, {{"hardware_compat", "ampere+"}}));
    EXPECT_NO_THROW(amf_edge::load_bundle(engine, "10.16.1.11", RTX_4090));
    EXPECT_NO_THROW(amf_edge::load_bundle(engine, "10.16.1.11", RTX_3090));
    for (const auto& device : {T4, ORIN}) {
        const auto message = load_error("10.16.1.11", device);
        EXPECT_NE(message.find("(hardware-compatible: Ampere or newer discrete GPUs)"), std::string::npos);
        EXPECT_NE(message.find("the GPU differs"), std::string::npos) << message;
    }
}

TEST_F(BundleTest, MissingOrForeignFilesSayHowToRebuild) {
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::read_bundle(dir / "none.engine"))
                  .find("no such engine file; build one with `amf-edge build"),
              std::string::npos);
    amf_edge::test::write_file(engine, "plan");
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::read_bundle(engine)).find("has no sidecar m.engine.json"),
              std::string::npos);
    auto read_error = [&](const Json& side) {
        write(side);
        return AMF_EDGE_ERROR_MESSAGE(amf_edge::read_bundle(engine));
    };
    const auto foreign = read_error(Json{{"format", "something-else"}});
    EXPECT_NE(foreign.find("is not an amf-edge engine sidecar (format is 'something-else', expected "
                           "'amf-edge-engine-bundle'); rebuild with `amf-edge build MODEL.onnx -o "),
              std::string::npos)
        << foreign;
    EXPECT_NE(foreign.find(" --force`"), std::string::npos);
    auto side = sidecar("10.3.0", ORIN);
    side["format_version"] = 99;
    EXPECT_NE(read_error(side).find("format_version 99, this amf-edge reads 1"), std::string::npos);
    side = sidecar("10.3.0", ORIN);
    side.erase("metadata");
    EXPECT_NE(read_error(side).find("not an amf-edge engine sidecar"), std::string::npos);
    EXPECT_NE(read_error(side).find("metadata"), std::string::npos);
    side = sidecar("10.3.0", ORIN);
    side["gpu"]["compute_capability"] = 8.7;  // a number, not "8.7"
    EXPECT_NE(read_error(side).find("not an amf-edge engine sidecar"), std::string::npos);
    side = sidecar("10.3.0", ORIN);
    side["metadata"].erase("input_contract");
    write(side);
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::read_bundle(engine).contract()).find("input_contract"), std::string::npos);
    write(std::string("{\"format\": "));
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::read_bundle(engine)).find("not an amf-edge engine sidecar"),
              std::string::npos);
}

TEST(Versions, Tuples) {
    EXPECT_EQ(amf_edge::version_tuple("10.16.1.11"), (std::vector<int>{10, 16, 1, 11}));
    EXPECT_EQ(amf_edge::version_tuple("10.3.0rc1"), (std::vector<int>{10, 3}));
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::version_tuple("beta")).find("cannot read the TensorRT version 'beta'"),
              std::string::npos);
    EXPECT_TRUE(amf_edge::same_release("10.3.0", "10.3.0.30"));
    EXPECT_FALSE(amf_edge::same_release("10.3.0.26", "10.3.0.30"));
    EXPECT_FALSE(amf_edge::same_release("10.3", "10.3.1"));
}
