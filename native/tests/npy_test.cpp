// The .npy reader on files written here byte by byte (versions 1.0 and 2.0, every error case) and through
// write_npy; tests/test_native.py reads files numpy itself wrote.
#include <cstring>
#include <string>

#include "amf_edge/error.hpp"
#include "amf_edge/npy.hpp"
#include "test_util.hpp"

namespace {

// A .npy file: magic, version, header length (2 bytes for 1.0, 4 for 2.0), the padded header, the data.
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
    const std::size_t prefix = 6 + 2 + (major == 1 ? 2 : 4);
    std::string header = dict;
    header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
    header += '\n';
    std::string out = "\x93NUMPY";
    out += char(major);
    out += char(0);
    const std::size_t n = header.size();
    out += char(n & 0xff);
    out += char((n >> 8) & 0xff);
    if (major != 1) {
        out += char((n >> 16) & 0xff);
        out += char((n >> 24) & 0xff);
    }
    return out + header + data;
}

amf_edge::NpyArray parse(const std::string& bytes) {
    return amf_edge::parse_npy(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), "x.npy");
}

std::string message(const std::string& bytes) { return AMF_EDGE_ERROR_MESSAGE(parse(bytes)); }

}  // namespace

TEST(Npy, ReadsUint8AsNumpyWritesIt) {
    const auto a = parse(npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3), }", "abcdef"));
    EXPECT_EQ(a.dtype, "uint8");
    EXPECT_EQ(a.itemsize, 1u);
    EXPECT_EQ(a.shape, (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(std::string(a.data.begin(), a.data.end()), "abcdef");
    EXPECT_EQ(a.describe(), "uint8 (1, 2, 3)");
}

TEST(Npy, ReadsFloat32Version2AndOddShapes) {
    const float values[2] = {1.5f, -2.25f};
    const std::string data(reinterpret_cast<const char*>(values), sizeof values);
    const auto a = parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data, 2));
    EXPECT_EQ(a.dtype, "float32");
    EXPECT_EQ(amf_edge::shape_str(a.shape), "(2,)");
    float back[2];
    std::memcpy(back, a.data.data(), sizeof back);
    EXPECT_EQ(back[0], 1.5f);
    EXPECT_EQ(back[1], -2.25f);
    const auto scalar = parse(npy_bytes("{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": ()}", std::string(8, '\1')));
    EXPECT_EQ(scalar.count(), 1u);
    const auto empty = parse(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", ""));
    EXPECT_EQ(empty.count(), 0u);
}

TEST(Npy, WriteThenReadRoundTrips) {
    amf_edge::test::TempDir dir;
    amf_edge::NpyArray a;
    a.dtype = "float32";
    a.itemsize = 4;
    a.shape = {1, 3, 5};
    a.data.resize(60);
    for (std::size_t i = 0; i < a.data.size(); ++i) a.data[i] = static_cast<unsigned char>(i * 13);
    amf_edge::write_npy(dir / "a.npy", a);
    const auto b = amf_edge::read_npy(dir / "a.npy");
    EXPECT_EQ(b.dtype, a.dtype);
    EXPECT_EQ(b.shape, a.shape);
    EXPECT_EQ(b.data, a.data);
    EXPECT_EQ((std::filesystem::file_size(dir / "a.npy") - 60) % 64, 0u);  // the header is padded to 64 bytes
}

TEST(Npy, ErrorsSayWhatTheFileIs) {
    const std::string f4 = "'fortran_order': False, 'shape': (2,), }";
    EXPECT_NE(message("not numpy at all").find("not a .npy file"), std::string::npos);
    EXPECT_NE(message(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", std::string(8, '\0')))
                  .find("Fortran order"),
              std::string::npos);
    EXPECT_NE(message(npy_bytes("{'descr': '>f4', " + f4, std::string(8, '\0'))).find("big-endian float32"),
              std::string::npos);
    EXPECT_NE(message(npy_bytes("{'descr': '<c8', " + f4, std::string(16, '\0'))).find("unsupported dtype '<c8'"),
              std::string::npos);
    EXPECT_NE(message(npy_bytes("{'descr': [('a', '<f4')], " + f4, "")).find("structured dtype"), std::string::npos);
    const std::string truncated = message(npy_bytes("{'descr': '<f4', " + f4, std::string(7, '\0')));
    EXPECT_NE(truncated.find("x.npy: truncated: a float32 (2,) array needs 8 bytes of data, the file has 7"),
              std::string::npos)
        << truncated;
    EXPECT_NE(message(npy_bytes("{'descr': '<f4', " + f4, std::string(9, '\0'))).find("trailing bytes"),
              std::string::npos);
    EXPECT_NE(message(npy_bytes("{'descr': '<f4', 'shape': (2,), }", std::string(8, '\0'))).find("lacks 'fortran_order'"),
              std::string::npos);
    std::string cut = npy_bytes("{'descr': '<f4', " + f4, "");
    EXPECT_NE(message(cut.substr(0, 20)).find("truncated .npy header"), std::string::npos);
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::read_npy("/nonexistent/x.npy")).find("cannot open"), std::string::npos);
}
