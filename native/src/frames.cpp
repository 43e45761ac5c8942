// Reading a frames directory (see frames.hpp), strictly: a frame that differs from what frames.json declares
// would be measured on the wrong input sizes, so every mismatch is an Error naming the file.
#include "amf_edge/frames.hpp"

#include <fstream>

#include "amf_edge/json.hpp"

#include "amf_edge/error.hpp"

namespace amf_edge {
namespace {

const char* REWRITE = "; write the frames with `amf-edge bench MODEL --dump-frames DIR`";

TensorDecl declared(const Json& j) {
    return {j.at("dtype").get<std::string>(), j.at("shape").get<std::vector<std::int64_t>>()};
}

}  // namespace

FrameSet read_frames(const std::filesystem::path& directory) {
    const auto manifest_path = directory / "frames.json";
    std::ifstream in(manifest_path);
    if (!in) throw Error(manifest_path.string() + ": no frames manifest" + REWRITE);
    FrameSet set;
    set.directory = directory;
    std::vector<std::map<std::string, std::string>> files;
    try {
        const auto m = Json::parse(in);
        const auto format = m.value("format", Json()).dump();
        const auto version = m.value("version", Json()).dump();
        if (m.value("format", Json()) != FRAMES_FORMAT || m.value("version", Json()) != FRAMES_VERSION) {
            throw Error(manifest_path.string() + ": expected format \"" + FRAMES_FORMAT + "\" version " +
                        std::to_string(FRAMES_VERSION) + ", got " + format + " version " + version + REWRITE);
        }
        set.height = m.at("height").get<std::int64_t>();
        set.width = m.at("width").get<std::int64_t>();
        for (const auto& [name, decl] : m.at("inputs").items()) set.inputs[name] = declared(decl);
        files = m.at("frames").get<std::vector<std::map<std::string, std::string>>>();
        if (files.empty()) throw Error(manifest_path.string() + ": lists no frames" + REWRITE);
        if (m.at("count").get<std::size_t>() != files.size()) {
            throw Error(manifest_path.string() + ": count is " + m.at("count").dump() + " but " +
                        std::to_string(files.size()) + " frames are listed" + REWRITE);
        }
    } catch (const Json::exception& e) {
        throw Error(manifest_path.string() + ": not a frames manifest (" + e.what() + ")" + REWRITE);
    }
    for (const char* name : {"rgb", "depth"}) {
        if (!set.inputs.count(name)) {
            throw Error(manifest_path.string() + ": declares no \"" + name + "\" input" + REWRITE);
        }
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
        std::map<std::string, NpyArray> frame;
        for (const auto& [name, decl] : set.inputs) {
            const auto file = files[i].find(name);
            if (file == files[i].end()) {
                throw Error(manifest_path.string() + ": frame " + std::to_string(i) + " has no \"" + name + "\" file" +
                            REWRITE);
            }
            const auto path = directory / file->second;
            NpyArray array = read_npy(path);
            if (array.dtype != decl.dtype || array.shape != decl.shape) {
                throw Error(path.string() + ": " + array.describe() + ", but frames.json declares " + name + " as " +
                            decl.dtype + " " + shape_str(decl.shape) + REWRITE);
            }
            frame.emplace(name, std::move(array));
        }
        set.frames.push_back(std::move(frame));
    }
    return set;
}

}  // namespace amf_edge
