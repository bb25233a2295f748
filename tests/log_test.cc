// log/log.h: the exact bytes of a line in both formats (escaping, invalid
// UTF-8, long values, reserved keys), level and format names, and Write's
// filtering and whole lines under concurrent writers.
#include "log/log.h"
#include "log/rate_limiter.h"

#include <stdio.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace watchfloor::log {
namespace {

using ::testing::HasSubstr;

const absl::Time kTime = absl::FromUnixMillis(1700000000123);  // 2023-11-14T22:13:20.123Z

TEST(LogFormatTest, JsonLineHasTheFixedKeysFirstThenTheFieldsTyped) {
  EXPECT_EQ(FormatLine(Format::kJson, kTime, Level::kWarn, "gossip", "roster_chain_refused",
                       {{"peer", "b.cz/n1"}, {"roster_version", uint64_t{2}}, {"n", -3},
                        {"federation", true}}),
            "{\"time\":\"2023-11-14T22:13:20.123Z\",\"level\":\"warn\",\"component\":\"gossip\","
            "\"event\":\"roster_chain_refused\",\"peer\":\"b.cz/n1\",\"roster_version\":2,"
            "\"n\":-3,\"federation\":true}\n");
}

TEST(LogFormatTest, LogfmtLineQuotesOnlyWhatMustBeQuoted) {
  EXPECT_EQ(FormatLine(Format::kLogfmt, kTime, Level::kInfo, "node", "node_started",
                       {{"address", "127.0.0.1:7400"}, {"empty", ""}, {"reason", "a b"},
                        {"eq", "k=v"}, {"port", 0}, {"ok", false}}),
            "time=2023-11-14T22:13:20.123Z level=info component=node event=node_started "
            "address=127.0.0.1:7400 empty=\"\" reason=\"a b\" eq=\"k=v\" port=0 ok=false\n");
}

TEST(LogFormatTest, ControlCharactersQuotesAndBackslashesAreEscaped) {
  const std::string nasty = "say \"hi\"\\\n\r\t\x01\x1b[31m\x7f end";
  EXPECT_EQ(FormatLine(Format::kJson, kTime, Level::kError, "node", "e", {{"reason", nasty}}),
            "{\"time\":\"2023-11-14T22:13:20.123Z\",\"level\":\"error\",\"component\":\"node\","
            "\"event\":\"e\",\"reason\":\"say \\\"hi\\\"\\\\\\n\\r\\t\\u0001\\u001b[31m\\u007f "
            "end\"}\n");
  EXPECT_EQ(FormatLine(Format::kLogfmt, kTime, Level::kError, "node", "e", {{"reason", nasty}}),
            "time=2023-11-14T22:13:20.123Z level=error component=node event=e "
            "reason=\"say \\\"hi\\\"\\\\\\n\\r\\t\\u0001\\u001b[31m\\u007f end\"\n");
}

TEST(LogFormatTest, InvalidUtf8BecomesTheReplacementCharacterAndValidUtf8Stays) {
  // "č" (valid), a lone 0xFF, an overlong '/', a UTF-16 surrogate, a
  // truncated 3-byte sequence at the end.
  const std::string bytes = "\xc4\x8d|\xff|\xc0\xaf|\xed\xa0\x80|\xe2\x82";
  const std::string want = "\xc4\x8d|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd";
  EXPECT_EQ(FormatLine(Format::kJson, kTime, Level::kInfo, "c", "e", {{"v", bytes}}),
            "{\"time\":\"2023-11-14T22:13:20.123Z\",\"level\":\"info\",\"component\":\"c\","
            "\"event\":\"e\",\"v\":\"" + want + "\"}\n");
  // logfmt quotes any non-ASCII value.
  EXPECT_EQ(FormatLine(Format::kLogfmt, kTime, Level::kInfo, "c", "e", {{"v", bytes}}),
            "time=2023-11-14T22:13:20.123Z level=info component=c event=e v=\"" + want + "\"\n");
}

TEST(LogFormatTest, LongValuesAreCutAtACharacterBoundary) {
  const std::string line = FormatLine(Format::kJson, kTime, Level::kInfo, "c", "e",
                                      {{"v", std::string(kMaxValueBytes + 500, 'a')}});
  EXPECT_THAT(line, HasSubstr("\"v\":\"" + std::string(kMaxValueBytes, 'a') + "...\"}"));
  // A two-byte character straddling the cut is dropped whole.
  const std::string straddle = std::string(kMaxValueBytes - 1, 'a') + "\xc4\x8d" + "tail";
  const std::string cut =
      FormatLine(Format::kLogfmt, kTime, Level::kInfo, "c", "e", {{"v", straddle}});
  EXPECT_THAT(cut, HasSubstr("v=\"" + std::string(kMaxValueBytes - 1, 'a') + "...\"\n"));
}

TEST(LogFormatTest, FieldsCannotShadowTheFixedKeysOrBreakTheLine) {
  EXPECT_EQ(FormatLine(Format::kLogfmt, kTime, Level::kInfo, "c", "e",
                       {{"level", "x"}, {"event", "y"}, {"bad key=\"", "z"}}),
            "time=2023-11-14T22:13:20.123Z level=info component=c event=e field_level=x "
            "field_event=y bad_key__=z\n");
}

TEST(LogNamesTest, LevelsAndFormatsRoundTripAndOthersAreRefusedWithTheChoices) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    EXPECT_EQ(*ParseLevel(LevelName(l)), l);
  }
  for (Format f : {Format::kJson, Format::kLogfmt}) EXPECT_EQ(*ParseFormat(FormatName(f)), f);
  absl::StatusOr<Level> loud = ParseLevel("WARN");
  EXPECT_EQ(loud.status(), absl::InvalidArgumentError(
                               "log level \"WARN\" is not one of debug, info, warn, error"));
  absl::StatusOr<Format> xml = ParseFormat("text");
  EXPECT_EQ(xml.status(),
            absl::InvalidArgumentError("log format \"text\" is not one of json, logfmt"));
}

TEST(RateLimiterTest, AtMostNPerWindowThenTheDroppedAreReportedOnceInTheNext) {
  RateLimiter limiter(3);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  std::vector<bool> written;
  for (int i = 0; i < 5; ++i) {
    RateLimiter::Decision d = limiter.Admit(t0 + absl::Milliseconds(100 * i));
    EXPECT_EQ(d.unreported, 0u) << i;
    written.push_back(d.write);
  }
  EXPECT_EQ(written, (std::vector<bool>{true, true, true, false, false}));
  // 999 ms after the window opened: still the same window.
  EXPECT_FALSE(limiter.Admit(t0 + absl::Milliseconds(999)).write);
  // A new window: the three dropped are reported with the first event.
  RateLimiter::Decision next = limiter.Admit(t0 + absl::Seconds(1));
  EXPECT_TRUE(next.write);
  EXPECT_EQ(next.unreported, 3u);
  RateLimiter::Decision after = limiter.Admit(t0 + absl::Milliseconds(1001));
  EXPECT_TRUE(after.write);
  EXPECT_EQ(after.unreported, 0u) << "reported once";
  // A quiet spell reports nothing, for nothing was dropped.
  EXPECT_EQ(limiter.Admit(t0 + absl::Hours(1)).unreported, 0u);
}

// Write to a temporary file instead of stderr; restores the options after.
class LogWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = CurrentOptions();
    file_ = tmpfile();
    ASSERT_NE(file_, nullptr);
  }
  void TearDown() override {
    Configure(saved_);
    fclose(file_);
  }
  std::string Contents() {
    std::string out;
    char buf[65536];
    ssize_t n;
    off_t at = 0;
    while ((n = pread(fileno(file_), buf, sizeof buf, at)) > 0) {
      out.append(buf, static_cast<size_t>(n));
      at += n;
    }
    return out;
  }

  Options saved_;
  FILE* file_ = nullptr;
};

TEST_F(LogWriteTest, LinesBelowTheLevelAreNotWritten) {
  Configure({Level::kWarn, Format::kLogfmt, fileno(file_)});
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kWarn));
  Debug("c", "d");
  Info("c", "i");
  Warn("c", "w", {{"k", 1}});
  Error("c", "e");
  std::vector<std::string> lines = absl::StrSplit(Contents(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << Contents();
  EXPECT_THAT(lines[0], ::testing::MatchesRegex(
                            "time=[0-9T:.-]+Z level=warn component=c event=w k=1"));
  EXPECT_THAT(lines[1], ::testing::MatchesRegex(
                            "time=[0-9T:.-]+Z level=error component=c event=e"));
}

TEST_F(LogWriteTest, ConcurrentWritersNeverInterleaveWithinALine) {
  Configure({Level::kInfo, Format::kJson, fileno(file_)});
  constexpr int kThreads = 8;
  constexpr int kLines = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      // Long enough that a split write would show.
      const std::string pad(1500, static_cast<char>('a' + t));
      for (int i = 0; i < kLines; ++i) Info("c", "e", {{"t", t}, {"i", i}, {"pad", pad}});
    });
  }
  for (std::thread& th : threads) th.join();
  std::vector<std::string> lines = absl::StrSplit(Contents(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  std::vector<int> next(kThreads, 0);
  for (const std::string& line : lines) {
    int t = -1, i = -1;
    ASSERT_EQ(sscanf(line.c_str(),
                     "{\"time\":\"%*[^\"]\",\"level\":\"info\",\"component\":\"c\","
                     "\"event\":\"e\",\"t\":%d,\"i\":%d,",
                     &t, &i),
              2)
        << line.substr(0, 200);
    ASSERT_GE(t, 0);
    ASSERT_LT(t, kThreads);
    EXPECT_EQ(i, next[t]++) << "lines of one thread keep their order";
    EXPECT_TRUE(absl::EndsWith(
        line, absl::StrCat(",\"pad\":\"", std::string(1500, static_cast<char>('a' + t)), "\"}")))
        << "a line of thread " << t << " is not whole: " << line.substr(0, 200);
  }
}

}  // namespace
}  // namespace watchfloor::log
