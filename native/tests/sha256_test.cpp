// SHA-256 against the FIPS 180-4 example vectors, including block-boundary lengths and chunked updates.
#include <algorithm>
#include <string>

#include "amf_edge/error.hpp"
#include "amf_edge/sha256.hpp"
#include "test_util.hpp"

using amf_edge::sha256_hex;

TEST(Sha256, KnownVectors) {
    EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";  // 448 bits
    EXPECT_EQ(sha256_hex(two_blocks.data(), two_blocks.size()),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const std::string million(1000000, 'a');
    EXPECT_EQ(sha256_hex(million.data(), million.size()),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ChunkedUpdatesEqualOneShot) {
    std::string data;
    for (int i = 0; i < 1000; ++i) data += char(i * 7 + 3);
    for (std::size_t chunk : {1u, 3u, 55u, 56u, 63u, 64u, 65u, 200u}) {
        amf_edge::Sha256 h;
        for (std::size_t at = 0; at < data.size(); at += chunk) h.update(data.data() + at, std::min(chunk, data.size() - at));
        EXPECT_EQ(h.hexdigest(), sha256_hex(data.data(), data.size())) << "chunk " << chunk;
    }
}

TEST(Sha256, Files) {
    amf_edge::test::TempDir dir;
    amf_edge::test::write_file(dir / "abc", "abc");
    EXPECT_EQ(amf_edge::file_sha256(dir / "abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_NE(AMF_EDGE_ERROR_MESSAGE(amf_edge::file_sha256(dir / "missing")).find("cannot open"), std::string::npos);
}
