// The frames directory reader: a directory as bench/native.py's dump_frames writes it, and each way it can be wrong.
#include <string>

#include "amf_edge/error.hpp"
#include "amf_edge/frames.hpp"
#include "amf_edge/json.hpp"
#include "test_util.hpp"

namespace {

using amf_edge::Json;

amf_edge::NpyArray array(const std::string& dtype, std::size_t itemsize, std::vector<std::int64_t> shape) {
    amf_edge::NpyArray a;
    a.dtype = dtype;
    a.itemsize = itemsize;
    a.shape = std::move(shape);
    a.data.assign(a.count() * itemsize, 7);
    return a;
}

// Two 4×6 frames, as dump_frames writes them; returns the manifest for the test to spoil.
Json write_frames(const std::filesystem::path& dir) {
    Json files = Json::array();
    for (int i = 0; i < 2; ++i) {
        const std::string stem = "00000" + std::to_string(i);
        amf_edge::write_npy(dir / (stem + "-rgb.npy"), array("uint8", 1, {1, 4, 6, 3}));
        amf_edge::write_npy(dir / (stem + "-depth.npy"), array("float32", 4, {1, 4, 6}));
        files.push_back({{"rgb", stem + "-rgb.npy"}, {"depth", stem + "-depth.npy"}});
    }
    Json manifest = {{"format", "amf-edge-frames"}, {"version", 1}, {"count", 2}, {"height", 4}, {"width", 6},
                     {"inputs", {{"rgb", {{"dtype", "uint8"}, {"shape", {1, 4, 6, 3}}}},
                                 {"depth", {{"dtype", "float32"}, {"shape", {1, 4, 6}}}}}},
                     {"frames", files}};
    amf_edge::test::write_file(dir / "frames.json", manifest.dump(1));
    return manifest;
}

}  // namespace

TEST(Frames, ReadsWhatDumpFramesWrites) {
    amf_edge::test::TempDir dir;
    write_frames(dir.path());
    const auto set = amf_edge::read_frames(dir.path());
    EXPECT_EQ(set.height, 4);
    EXPECT_EQ(set.width, 6);
    ASSERT_EQ(set.frames.size(), 2u);
    EXPECT_EQ(set.frames[1].at("rgb").describe(), "uint8 (1, 4, 6, 3)");
    EXPECT_EQ(set.frames[0].at("depth").describe(), "float32 (1, 4, 6)");
}

TEST(Frames, MismatchesAreErrorsNamingTheFile) {
    amf_edge::test::TempDir dir;
    auto manifest = write_frames(dir.path());
    auto message = [&](Json changed) {
        amf_edge::test::write_file(dir / "frames.json", changed.dump());
        return AMF_EDGE_ERROR_MESSAGE(amf_edge::read_frames(dir.path()));
    };
    auto m = manifest;
    m["format"] = "something-else";
    EXPECT_NE(message(m).find("expected format \"amf-edge-frames\" version 1, got \"something-else\" version 1"),
              std::string::npos);
    m = manifest;
    m["count"] = 3;
    EXPECT_NE(message(m).find("count is 3 but 2 frames are listed"), std::string::npos);
    m = manifest;
    m["inputs"]["depth"]["shape"] = {1, 4, 7};
    const auto shape = message(m);
    EXPECT_NE(shape.find("000000-depth.npy: float32 (1, 4, 6), but frames.json declares depth as float32 (1, 4, 7)"),
              std::string::npos)
        << shape;
    EXPECT_NE(shape.find("amf-edge bench MODEL --dump-frames DIR"), std::string::npos);
    m = manifest;
    m["frames"][1]["rgb"] = "missing.npy";
    EXPECT_NE(message(m).find("missing.npy: cannot open"), std::string::npos);
    m = manifest;
    m.erase("height");
    EXPECT_NE(message(m).find("not a frames manifest"), std::string::npos);
    amf_edge::test::write_file(dir / "frames.json", "{not json");
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::read_frames(dir.path())).find("not a frames manifest"), std::string::npos);
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::read_frames(dir / "nowhere")).find("no frames manifest"), std::string::npos);
}
