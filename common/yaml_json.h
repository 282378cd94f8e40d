// YAML in, JSON out (and back), for the places that take either: PUT /config
// and `changectl config set --file`, `changectl pgha edit-desired`.
//
// The YAML accepted is the JSON data model written as YAML: maps with scalar
// keys, sequences, and scalars. A plain scalar is typed the way YAML 1.2's
// core schema does it for the values JSON has: null/~/empty, true/false, an
// integer, a decimal number, else a string; a quoted scalar or one tagged
// !!str is always a string. YAML-only values (.inf, .nan, 0x1F, dates) stay
// strings, so the JSON validators downstream refuse them with their own
// precise message rather than this file guessing.
//
// The parser runs on request bodies on the server, so it is bounded:
// aliases (`*a`) are expanded, and an "alias bomb" (a few hundred bytes that
// expand to gigabytes) is refused by counting every node produced; nesting
// is bounded so the recursion cannot exhaust the stack. Duplicate map keys
// are refused (yaml-cpp keeps both silently; which one "wins" would be a
// guess). Pure: no IO, no logging; yaml-cpp's exceptions never escape.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace common {

struct YamlLimits {
  size_t max_nodes = 100000;  // scalars + maps + sequences produced
  size_t max_depth = 64;
};

// One YAML document as compact JSON text. kInvalidArgument naming the line
// and column (from yaml-cpp) or the limit that was hit.
Result<std::string> yaml_to_json(std::string_view yaml, const YamlLimits& limits = {});

// JSON text as block-style YAML (strings always quoted, so they read back
// as strings). kInvalidArgument when `json` does not parse.
Result<std::string> json_to_yaml(std::string_view json);

// Whether a text given as "JSON or YAML" is YAML: by the file name's
// extension (.yaml/.yml vs .json) when there is one, else by its first
// non-blank character not being '{' or '['.
bool looks_like_yaml(std::string_view text, std::string_view file_name = {});

}  // namespace common
