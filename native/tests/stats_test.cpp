// Statistics on the samples tests/test_bench.py uses for bench/stats.py: the same numbers.
#include <cmath>
#include <limits>

#include "amf_edge/error.hpp"
#include "amf_edge/stats.hpp"
#include "amf_edge/text.hpp"
#include "test_util.hpp"

TEST(Stats, PercentilesInterpolateLinearlyBetweenRanks) {
    const auto s = amf_edge::summarize({4.0, 1.0, 3.0, 2.0}).value();  // order matters for jitter only
    EXPECT_EQ(s.n, 4);
    EXPECT_EQ(s.min, 1.0);
    EXPECT_EQ(s.max, 4.0);
    EXPECT_EQ(s.mean, 2.5);
    EXPECT_EQ(s.p50, 2.5);
    EXPECT_DOUBLE_EQ(s.p90, 3.7);
    EXPECT_DOUBLE_EQ(s.p99, 3.97);
    EXPECT_NEAR(s.std, std::sqrt(1.25), 1e-4);
    EXPECT_DOUBLE_EQ(s.jitter, 2.0);  // |1-4|, |3-1|, |2-3|
}

TEST(Stats, OneNoneAndBadSamples) {
    const auto one = amf_edge::summarize({7.25}).value();
    EXPECT_EQ(one.p50, 7.25);
    EXPECT_EQ(one.p99, 7.25);
    EXPECT_EQ(one.std, 0.0);
    EXPECT_EQ(one.jitter, 0.0);
    EXPECT_FALSE(amf_edge::summarize({}).has_value());
    EXPECT_TRUE(amf_edge::to_json(std::nullopt).is_null());
    EXPECT_EQ(AMF_EDGE_ERROR_MESSAGE(amf_edge::summarize({1.0, std::numeric_limits<double>::quiet_NaN(), 2.0})),
              "1 of 3 samples are not finite");
}

TEST(Stats, SteadyDriftHasSmallJitterButLargeSpread) {
    std::vector<double> drift;
    for (int i = 0; i <= 100; ++i) drift.push_back(10.0 + 0.1 * i);
    const auto s = amf_edge::summarize(drift).value();
    EXPECT_NEAR(s.jitter, 0.1, 1e-6);
    EXPECT_GT(s.std, 2.5);
}

TEST(Stats, ThroughputRatiosAndRounding) {
    EXPECT_EQ(amf_edge::throughput({10.0, 10.0, 20.0}).value(), 75.0);  // 3 frames in 40 ms, not the mean of rates
    EXPECT_FALSE(amf_edge::throughput({}).has_value());
    EXPECT_EQ(amf_edge::ratio(5.0, 10.0).value(), 0.5);
    EXPECT_FALSE(amf_edge::ratio(std::nullopt, 1.0).has_value());
    EXPECT_FALSE(amf_edge::ratio(1.0, 0.0).has_value());
    EXPECT_EQ(amf_edge::round_to(2.675, 2), 2.67);  // as Python: 2.675 is 2.67499999... in binary
    EXPECT_EQ(amf_edge::round_to(0.00005, 4), 0.0001);
    EXPECT_EQ(amf_edge::round_to(1.23456789, 4), 1.2346);
}

TEST(Stats, JsonHasTheSchemaKeysInOrder) {
    const auto j = amf_edge::to_json(amf_edge::summarize({1.0, 2.0}));
    std::vector<std::string> keys;
    for (const auto& item : j.items()) keys.push_back(item.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"n", "mean", "std", "jitter", "min", "p50", "p90", "p99", "max"}));
    EXPECT_EQ(j.dump(), R"({"n":2,"mean":1.5,"std":0.5,"jitter":1.0,"min":1.0,"p50":1.5,"p90":1.9,"p99":1.99,"max":2.0})");
}
