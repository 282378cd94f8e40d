// What changectl's pgha command files share (changectl_pgha.cc: the
// commands that write; changectl_pgha_show.cc: list and history).
#pragma once

#include <string>

#include "tools/changectl.h"

namespace changectl {

// A command's options with --name CLUSTER (env PGHA_CLUSTER, default "main").
boost::program_options::options_description pgha_options(const char* caption);
// The --name value, checked; UsageError if it is not a valid cluster name.
std::string pgha_cluster(const boost::program_options::variables_map& vm);

int pgha_list(api::Client& c, const Global& g);
int pgha_history(api::Client& c, const Global& g);

}  // namespace changectl
