// Sidecar parsing and the load checks of amf_edge/bundle.py, with its wording, so a user sees the same
// message (and the same rebuild command) from `amf-edge run` and from the native runner.
#include "amf_edge/bundle.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>

#include "amf_edge/error.hpp"
#include "amf_edge/text.hpp"

namespace amf_edge {
namespace {

// Hardware-compatible engines run on any discrete GPU of this compute capability or newer
// (TensorRT's HardwareCompatibilityLevel.AMPERE_PLUS): HARDWARE_COMPAT_MIN_CC in bundle.py.
const std::map<std::string, std::pair<int, int>> HARDWARE_COMPAT_MIN_CC = {{"ampere+", {8, 0}}};

bool truthy(const Json& options, const char* key) {
    const auto it = options.find(key);
    if (it == options.end() || it->is_null()) return false;
    if (it->is_boolean()) return it->get<bool>();
    if (it->is_number()) return it->get<double>() != 0;
    if (it->is_string()) return !it->get<std::string>().empty();
    return !it->empty();
}

// str(value) in Python for the option values the rebuild command prints (ints, strings).
std::string str(const Json& value) {
    return value.is_string() ? value.get<std::string>() : value.dump();
}

std::string malformed(const std::filesystem::path& engine_path, const std::string& why) {
    return sidecar_path(engine_path).string() + " is not an amf-edge engine sidecar (" + why +
           "); rebuild with `amf-edge build MODEL.onnx -o " + engine_path.string() + " --force`";
}

}  // namespace

std::string Device::describe() const { return name + " (compute capability " + compute_capability + ")"; }

std::pair<int, int> Device::cc() const {
    const auto dot = compute_capability.find('.');
    try {
        if (dot == std::string::npos) throw std::invalid_argument("no dot");
        return {std::stoi(compute_capability.substr(0, dot)), std::stoi(compute_capability.substr(dot + 1))};
    } catch (const std::exception&) {
        throw Error("compute capability '" + compute_capability + "' is not MAJOR.MINOR");
    }
}

std::filesystem::path sidecar_path(const std::filesystem::path& engine_path) {
    auto side = engine_path;
    side += ".json";
    return side;
}

std::filesystem::path Bundle::sidecar_path() const { return amf_edge::sidecar_path(engine_path); }

Contract Bundle::contract() const {
    try {
        const auto& io = metadata.at("input_contract");
        const auto& shape = io.at("rgb").at("shape");
        if (shape.size() != 4) throw Error("input_contract.rgb.shape is " + shape.dump() + ", expected [N, H, W, 3]");
        Contract c;
        if (shape[1].is_number_integer()) c.height = shape[1].get<std::int64_t>();
        if (shape[2].is_number_integer()) c.width = shape[2].get<std::int64_t>();
        c.channel_order = io.at("rgb").at("channel_order").get<std::string>();
        c.outputs = io.at("outputs").get<std::vector<std::string>>();
        c.precision = metadata.value("precision", std::string("fp32"));
        return c;
    } catch (const Json::exception& e) {
        throw Error(malformed(engine_path, std::string("its metadata has no usable input_contract: ") + e.what()));
    } catch (const Error& e) {
        throw Error(malformed(engine_path, e.what()));
    }
}

std::string Bundle::rebuild_command() const {
    std::vector<std::string> args = {"amf-edge", "build", onnx.value("path", std::string("MODEL.onnx")), "-o",
                                     engine_path.string()};
    const auto& o = options;
    auto given = [&](const char* key) { return o.contains(key) && !o.at(key).is_null(); };
    if (given("workspace_mib")) args.insert(args.end(), {"--workspace", str(o.at("workspace_mib"))});
    if (given("opt_level")) args.insert(args.end(), {"--opt-level", str(o.at("opt_level"))});
    if (given("dla_core")) args.insert(args.end(), {"--dla", str(o.at("dla_core"))});
    if (truthy(o, "version_compatible")) args.emplace_back("--version-compatible");
    if (truthy(o, "hardware_compat")) args.insert(args.end(), {"--hardware-compat", str(o.at("hardware_compat"))});
    if (truthy(o, "fp16")) args.emplace_back("--fp16");
    if (truthy(o, "int8")) {
        std::string calib = "calib_data/NAME";
        const auto it = o.find("calibration");
        if (it != o.end() && it->is_object() && it->contains("path")) calib = str(it->at("path"));
        args.insert(args.end(), {"--int8", "--calib", calib});
    }
    return shell_join(args);
}

Bundle parse_bundle(const Json& d, const std::filesystem::path& engine_path) {
    try {
        if (!d.is_object()) throw Error("the top level is " + std::string(d.type_name()) + ", not an object");
        const auto format = d.value("format", Json());
        if (format != BUNDLE_FORMAT) {
            throw Error("format is " + py_repr(format) + ", expected '" + BUNDLE_FORMAT + "'");
        }
        const auto format_version = d.value("format_version", Json());
        if (format_version != BUNDLE_FORMAT_VERSION) {
            throw Error("format_version " + py_repr(format_version) + ", this amf-edge reads " +
                        std::to_string(BUNDLE_FORMAT_VERSION));
        }
        Bundle b;
        b.engine_path = engine_path;
        b.metadata = d.at("metadata");
        b.onnx = d.at("onnx");
        b.tensorrt = d.at("tensorrt").get<std::string>();
        const auto& gpu = d.at("gpu");
        b.device = {gpu.at("name").get<std::string>(), gpu.at("compute_capability").get<std::string>(),
                    gpu.value("integrated", false)};
        b.precision = d.at("precision").get<std::string>();
        b.options = d.at("options");
        b.key = d.at("key").get<std::string>();
        const auto& engine = d.at("engine");
        b.engine_sha256 = engine.at("sha256").get<std::string>();
        if (engine.contains("layers") && engine.at("layers").is_string()) {
            b.layers = engine.at("layers").get<std::string>();
        }
        b.tools = d.value("tools", Json::object());
        if (!b.metadata.is_object() || !b.onnx.is_object() || !b.options.is_object()) {
            throw Error("metadata, onnx and options must be objects");
        }
        b.device.cc();  // a malformed compute capability is the sidecar's fault: say so here
        return b;
    } catch (const Json::exception& e) {
        throw Error(malformed(engine_path, e.what()));
    } catch (const Error& e) {
        throw Error(malformed(engine_path, e.what()));
    }
}

Bundle read_bundle(const std::filesystem::path& engine_path) {
    const auto side = sidecar_path(engine_path);
    if (!std::filesystem::is_regular_file(engine_path)) {
        throw Error(engine_path.string() + ": no such engine file; build one with `amf-edge build MODEL.onnx -o " +
                    engine_path.string() + "`");
    }
    if (!std::filesystem::is_regular_file(side)) {
        throw Error(engine_path.string() + " has no sidecar " + side.filename().string() +
                    ", so nothing says which model, GPU and TensorRT version it is for; build it with "
                    "`amf-edge build MODEL.onnx -o " + engine_path.string() + "`");
    }
    std::ifstream in(side);
    Json d;
    try {
        d = Json::parse(in);
    } catch (const Json::exception& e) {
        throw Error(malformed(engine_path, e.what()));
    }
    return parse_bundle(d, engine_path);
}

std::vector<int> version_tuple(const std::string& version) {
    std::vector<int> parts;
    std::size_t start = 0;
    while (start <= version.size()) {
        const std::size_t end = std::min(version.find('.', start), version.size());
        const std::string part = version.substr(start, end - start);
        if (part.empty() || part.size() > 9) break;
        bool digits = true;
        for (const char c : part) digits = digits && std::isdigit(static_cast<unsigned char>(c));
        if (!digits) break;
        parts.push_back(std::stoi(part));
        start = end + 1;
    }
    if (parts.empty()) {
        throw Error("cannot read the TensorRT version '" + version + "': expected numbers like 10.3.0");
    }
    return parts;
}

bool same_release(const std::string& a, const std::string& b) {
    if (a == b) return true;
    const auto x = version_tuple(a), y = version_tuple(b);
    const std::size_t n = std::min(x.size(), y.size());
    return n >= 3 && std::equal(x.begin(), x.begin() + std::ptrdiff_t(n), y.begin());
}

bool version_ok(const Bundle& bundle, const std::string& runtime_version) {
    if (same_release(bundle.tensorrt, runtime_version)) return true;
    if (!truthy(bundle.options, "version_compatible")) return false;
    // Version-compatible engines run on later runtimes of the same major version, and TensorRT 10 engines also
    // on TensorRT 11 (CROSS_MAJOR_COMPATIBLE in bundle.py).
    const auto built = version_tuple(bundle.tensorrt), running = version_tuple(runtime_version);
    const bool major_ok = built[0] == running[0] || (built[0] == 10 && running[0] == 11);
    return running > built && major_ok;
}

bool device_ok(const Bundle& bundle, const Device& device) {
    if (bundle.device.name == device.name && bundle.device.compute_capability == device.compute_capability) return true;
    const auto level = bundle.options.find("hardware_compat");
    if (level == bundle.options.end() || !level->is_string()) return false;
    const auto min_cc = HARDWARE_COMPAT_MIN_CC.find(level->get<std::string>());
    return min_cc != HARDWARE_COMPAT_MIN_CC.end() && device.cc() >= min_cc->second && !device.integrated;
}

void check_runtime(const Bundle& bundle, const std::string& tensorrt_version, const Device& device) {
    const bool version_good = version_ok(bundle, tensorrt_version), device_good = device_ok(bundle, device);
    if (version_good && device_good) return;
    const std::string vc = truthy(bundle.options, "version_compatible")
                               ? " (version-compatible: later 10.x/11.x runtimes, never earlier)"
                               : "";
    const std::string hc =
        truthy(bundle.options, "hardware_compat") ? " (hardware-compatible: Ampere or newer discrete GPUs)" : "";
    std::string what = !version_good && !device_good ? "TensorRT version and GPU differ"
                       : !version_good               ? "TensorRT version differs"
                                                     : "GPU differs";
    throw Error(bundle.engine_path.string() + " was built for TensorRT " + bundle.tensorrt + vc + " on " +
                bundle.device.describe() + hc + ", but this is TensorRT " + tensorrt_version + " on " +
                device.describe() + "; an engine runs only with the TensorRT version and on the GPU it was built for, "
                "and the " + what + ": rebuild it here with `" + bundle.rebuild_command() + " --force`");
}

Bundle load_bundle(const std::filesystem::path& engine_path, const std::string& tensorrt_version,
                   const Device& device) {
    Bundle bundle = read_bundle(engine_path);
    check_runtime(bundle, tensorrt_version, device);
    return bundle;
}

}  // namespace amf_edge
