// The harnesses' shared checking: a failure counter, a relative closeness test and CHECK,
// which prints the first 40 failures with their file and line.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>

static int failures = 0;
static long long checks = 0;

// |a - b| within `rel` of the larger magnitude (at least 1); NaN matches NaN, infinities
// must be equal.
[[maybe_unused]] static bool close(double a, double b, double rel) {
    if (std::isnan(a) && std::isnan(b)) return true;
    if (std::isinf(a) || std::isinf(b)) return a == b;
    return std::fabs(a - b) <= rel * std::max({std::fabs(a), std::fabs(b), 1.0});
}

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        ++checks;                                                                                 \
        if (!(cond)) {                                                                            \
            if (++failures <= 40) {                                                               \
                std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                                  \
                std::printf(__VA_ARGS__);                                                         \
                std::printf("\n");                                                                \
            }                                                                                     \
        }                                                                                         \
    } while (0)
