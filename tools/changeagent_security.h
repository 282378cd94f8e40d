// changeagent's flags for authentication and for the client API's limits
// (docs/SECURITY.md lists them all), kept out of changeagent.cc so that
// file stays a thin main.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/program_options.hpp>
#include <memory>

#include "api/http_auth.h"
#include "api/http_server.h"
#include "common/status.h"

namespace changeagent {

void add_security_flags(boost::program_options::options_description& desc);

// Fills the limits and, with --auth-file, the Authenticator of `opts`.
// A bad value or an unreadable/invalid auth file is an error naming it.
common::Status apply_security_flags(const boost::program_options::variables_map& vm,
                                    api::HttpOptions& opts);

// SIGHUP re-reads the auth files (a bad file keeps the old tables and is
// logged). Lives as long as the returned object; no-op without auth.
std::shared_ptr<void> reload_auth_on_sighup(boost::asio::io_context& io,
                                            std::shared_ptr<api::Authenticator> auth);

}  // namespace changeagent
