// HTTP basic authentication (RFC 7617) as plain functions, shared by the
// client (which sends it) and the server (which checks it): base64 and the
// "Authorization: Basic ..." header. No Beast, no IO.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace api {

struct BasicCredentials {
  std::string user;
  std::string password;
};

// "user:password" -> "Basic dXNlcjpwYXNzd29yZA==".
std::string basic_auth_header(std::string_view user_colon_password);

// The credentials of an Authorization header value, or nullopt when it is
// not "Basic <base64 of user:password>" (another scheme, bad base64, no
// colon, an empty user, or a control character in either part).
std::optional<BasicCredentials> parse_basic_auth(std::string_view header_value);

std::string base64_encode(std::string_view bytes);
// nullopt unless `text` is canonical padded base64 (RFC 4648 section 4).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace api
