// HTTP content codings fc can serve (RFC 9110 §8.4.1): the precompressed
// variants that sit beside a file (NAME.br, NAME.zst, NAME.gz) and the
// compressed siblings the loader makes (--compress), and the negotiation of
// one of them against a request's Accept-Encoding (§12.5.3). Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fc::http {

enum class Coding { kBrotli, kZstd, kGzip };

const char* CodingToken(Coding c);   // "br", "zstd", "gzip": the Content-Encoding value
const char* CodingSuffix(Coding c);  // ".br", ".zst", ".gz": the variant file's suffix
// "br", "zstd" or "gzip" (and "x-gzip"), case-insensitively; nullopt otherwise.
std::optional<Coding> CodingFromToken(std::string_view token);
// A comma-separated list of tokens, in order, each at most once ("" is the
// empty list); nullopt with *bad set to the offending member otherwise.
std::optional<std::vector<Coding>> ParseCodingList(std::string_view text, std::string* bad);
std::string CodingListText(const std::vector<Coding>& list);  // "br,zstd,gzip"; "" when empty

// The coding to send, among `offered` (the server's preference order), for a
// request whose Accept-Encoding is `accept_encoding` (`present`: the field was
// sent). The highest q-value wins and ties go to the earlier offered coding.
// A coding the field does not name takes the q of "*", else 0; q=0 refuses.
// nullopt: send the identity (also when the field is absent, empty, or refuses
// identity but accepts nothing offered: fc then disregards the field, as
// §12.5.3 allows, rather than answer 406).
std::optional<Coding> Negotiate(std::string_view accept_encoding, bool present,
                                const std::vector<Coding>& offered);
// Every acceptable coding among `offered`, best first by the same rule: the
// server tries them in turn and sends the first whose variant it has.
std::vector<Coding> AcceptableCodings(std::string_view accept_encoding, bool present,
                                      const std::vector<Coding>& offered);

// RFC 9110 §12.5.1: the quality, in thousandths, of media type `type`
// ("text/html") under an Accept field: the most specific range that matches
// (type/subtype, then type/*, then */*) gives it; none matching gives 0.
// A malformed member is skipped. Used to choose HTML or JSON (listings,
// /.fc/cache): "text/html;q=0, application/json" gets JSON.
int MediaQuality(std::string_view accept, std::string_view type);

}  // namespace fc::http
