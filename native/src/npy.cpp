// The .npy reader and writer (format: numpy/lib/format.py). The header is a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (1, 48, 64), } padded with spaces to a 64-byte
// boundary; this parses exactly that grammar (strings, True/False, tuples of integers) rather than guessing.
#include "amf_edge/npy.hpp"

#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include "amf_edge/error.hpp"

namespace amf_edge {
namespace {

const char MAGIC[] = "\x93NUMPY";
constexpr std::size_t MAGIC_SIZE = 6;

// numpy type characters (kind + size) → numpy dtype names; one-byte types are written '|'.
const std::map<std::string, std::string>& dtype_names() {
    static const std::map<std::string, std::string> names = {
        {"b1", "bool"},   {"i1", "int8"},   {"u1", "uint8"},   {"i2", "int16"},   {"u2", "uint16"},
        {"i4", "int32"},  {"u4", "uint32"}, {"i8", "int64"},   {"u8", "uint64"},  {"f2", "float16"},
        {"f4", "float32"}, {"f8", "float64"}};
    return names;
}

bool little_endian_host() {
    const std::uint16_t one = 1;
    unsigned char first = 0;
    std::memcpy(&first, &one, 1);
    return first == 1;
}

// A value of the header dict: a string, a boolean or a tuple of integers.
struct Value {
    enum Kind { String, Bool, Tuple } kind = String;
    std::string text;
    bool flag = false;
    std::vector<std::int64_t> items;
};

class HeaderParser {
public:
    HeaderParser(const std::string& text, const std::string& source) : s_(text), source_(source) {}

    std::map<std::string, Value> dict() {
        std::map<std::string, Value> out;
        expect('{');
        while (true) {
            skip();
            if (peek() == '}') break;
            const std::string key = string();
            expect(':');
            out[key] = value();
            skip();
            if (peek() == ',') {
                ++i_;
                continue;
            }
            if (peek() != '}') fail("expected ',' or '}'");
        }
        ++i_;
        return out;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw Error(source_ + ": not a .npy file numpy wrote (header " + what + " at offset " + std::to_string(i_) +
                    " of \"" + s_ + "\")");
    }
    void skip() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    char peek() {
        skip();
        return i_ < s_.size() ? s_[i_] : '\0';
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++i_;
    }
    std::string string() {
        const char quote = peek();
        if (quote != '\'' && quote != '"') fail("expected a string");
        const std::size_t end = s_.find(quote, ++i_);
        if (end == std::string::npos) fail("has an unterminated string");
        std::string out = s_.substr(i_, end - i_);
        i_ = end + 1;
        return out;
    }
    std::int64_t integer() {
        skip();
        std::size_t start = i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
        if (start == i_) fail("expected a dimension");
        if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2's long suffix, in files from old numpy
        return std::stoll(s_.substr(start, i_ - start));
    }
    Value value() {
        Value v;
        const char c = peek();
        if (c == '\'' || c == '"') {
            v.text = string();
        } else if (s_.compare(i_, 4, "True") == 0 || s_.compare(i_, 5, "False") == 0) {
            v.kind = Value::Bool;
            v.flag = s_[i_] == 'T';
            i_ += v.flag ? 4 : 5;
        } else if (c == '(') {
            v.kind = Value::Tuple;
            ++i_;
            while (peek() != ')') {
                v.items.push_back(integer());
                if (peek() == ',') ++i_;
                else if (peek() != ')') fail("expected ',' or ')' in the shape");
            }
            ++i_;
        } else if (c == '[') {
            fail("describes a structured dtype (a list of fields), which amf-edge never writes");
        } else {
            fail("has an unexpected value");
        }
        return v;
    }

    const std::string& s_;
    const std::string& source_;
    std::size_t i_ = 0;
};

std::uint32_t little_u32(const unsigned char* p, int bytes) {
    std::uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

std::size_t NpyArray::count() const {
    std::size_t n = 1;
    for (std::int64_t d : shape) n *= static_cast<std::size_t>(d);
    return n;
}

std::string shape_str(const std::vector<std::int64_t>& shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

std::string NpyArray::describe() const { return dtype + " " + shape_str(shape); }

NpyArray parse_npy(const unsigned char* bytes, std::size_t size, const std::string& source) {
    if (size < MAGIC_SIZE + 4 || std::memcmp(bytes, MAGIC, MAGIC_SIZE) != 0) {
        throw Error(source + ": not a .npy file (no \\x93NUMPY magic); write frames with `amf-edge bench "
                             "--dump-frames DIR` or numpy.save");
    }
    const int major = bytes[6];
    const int minor = bytes[7];
    if (major < 1 || major > 3) {
        throw Error(source + ": .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                    ", this reader knows 1.0, 2.0 and 3.0");
    }
    const int length_bytes = major == 1 ? 2 : 4;
    const std::size_t start = MAGIC_SIZE + 2 + std::size_t(length_bytes);
    if (size < start) throw Error(source + ": truncated .npy header");
    const std::size_t header_len = little_u32(bytes + MAGIC_SIZE + 2, length_bytes);
    if (size < start + header_len) {
        throw Error(source + ": truncated .npy header (" + std::to_string(header_len) + " bytes announced, " +
                    std::to_string(size - start) + " present)");
    }
    const std::string header(reinterpret_cast<const char*>(bytes + start), header_len);
    const auto dict = HeaderParser(header, source).dict();

    auto field = [&](const char* key, Value::Kind kind) -> const Value& {
        const auto it = dict.find(key);
        if (it == dict.end() || it->second.kind != kind) {
            throw Error(source + ": .npy header lacks '" + key + "' (header \"" + header + "\")");
        }
        return it->second;
    };
    const std::string descr = field("descr", Value::String).text;
    if (field("fortran_order", Value::Bool).flag) {
        throw Error(source + ": the array is in Fortran order; save a C-ordered one (numpy.ascontiguousarray)");
    }
    NpyArray array;
    array.shape = field("shape", Value::Tuple).items;

    const char order = descr.empty() ? '?' : descr[0];
    const std::string code = descr.size() > 1 ? descr.substr(1) : "";
    const auto name = dtype_names().find(code);
    if (name == dtype_names().end() || !(order == '<' || order == '|' || (order == '=' && little_endian_host()))) {
        if (order == '>' && name != dtype_names().end()) {
            throw Error(source + ": big-endian " + name->second + " ('" + descr +
                        "'); save it little-endian (array.astype('<" + code + "'))");
        }
        throw Error(source + ": unsupported dtype '" + descr +
                    "'; amf-edge reads little-endian bool, integer and float arrays (model inputs are uint8 and "
                    "float32)");
    }
    array.dtype = name->second;
    array.itemsize = static_cast<std::size_t>(std::stoul(code.substr(1)));

    const std::size_t expected = array.count() * array.itemsize;
    const std::size_t present = size - start - header_len;
    if (present != expected) {
        throw Error(source + ": " + (present < expected ? "truncated" : "has trailing bytes") + ": a " +
                    array.describe() + " array needs " + std::to_string(expected) + " bytes of data, the file has " +
                    std::to_string(present));
    }
    const unsigned char* data = bytes + start + header_len;
    array.data.assign(data, data + expected);
    return array;
}

NpyArray read_npy(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path.string() + ": cannot open it (missing or unreadable)");
    const std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error(path.string() + ": read error");
    return parse_npy(bytes.data(), bytes.size(), path.string());
}

void write_npy(const std::filesystem::path& path, const NpyArray& array) {
    std::string code;
    for (const auto& [c, name] : dtype_names()) {
        if (name == array.dtype) code = c;
    }
    if (code.empty()) throw Error("write_npy: unsupported dtype " + array.dtype);
    if (array.data.size() != array.count() * array.itemsize) {
        throw Error("write_npy: " + array.describe() + " needs " + std::to_string(array.count() * array.itemsize) +
                    " bytes, got " + std::to_string(array.data.size()));
    }
    std::string header = std::string("{'descr': '") + (array.itemsize == 1 ? '|' : '<') + code +
                         "', 'fortran_order': False, 'shape': " + shape_str(array.shape) + ", }";
    const std::size_t unpadded = MAGIC_SIZE + 2 + 2 + header.size() + 1;  // + the newline
    header.append((64 - unpadded % 64) % 64, ' ');
    header += '\n';
    std::ofstream out(path, std::ios::binary);
    if (!out) throw Error(path.string() + ": cannot write it");
    out.write(MAGIC, MAGIC_SIZE);
    const unsigned char version_and_length[4] = {1, 0, static_cast<unsigned char>(header.size() & 0xff),
                                                  static_cast<unsigned char>(header.size() >> 8)};
    out.write(reinterpret_cast<const char*>(version_and_length), 4);
    out.write(header.data(), std::streamsize(header.size()));
    out.write(reinterpret_cast<const char*>(array.data.data()), std::streamsize(array.data.size()));
    if (!out) throw Error(path.string() + ": write error");
}

}  // namespace amf_edge
